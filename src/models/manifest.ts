// manifest.json: what a model version's artifacts take and give, written by the training publisher
// next to model.onnx and read back by serving (real-time predict and batch inference). The schema is
// the contract between the two (and for anyone who downloads the artifacts): generated into
// contracts/serving-manifest.schema.json, and checked when serving loads a version.
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { ResolvedHyperparametersSchema } from '../training/hyperparameters.ts';
import { ResolvedLayersSchema } from './layers.ts';
import type { FeatureEncoding, TargetEncoding } from './preprocessing.ts';
import { TaskSchema } from './spec.ts';

const NumericEncodingSchema = Type.Object(
  {
    name: Type.String(),
    kind: Type.Literal('numeric'),
    impute: Type.Number({ description: 'Value used for a missing cell: the training-split mean.' }),
    mean: Type.Number(),
    std: Type.Number({ exclusiveMinimum: 0 }),
  },
  { additionalProperties: false },
);
const CategoricalEncodingSchema = Type.Object(
  {
    name: Type.String(),
    kind: Type.Literal('categorical'),
    categories: Type.Array(Type.String(), { description: 'One input each, in this order.' }),
    unknown: Type.Literal('zeros', { description: 'Other values, and missing ones, encode as all zeros.' }),
  },
  { additionalProperties: false },
);
const DatetimeEncodingSchema = Type.Object(
  {
    name: Type.String(),
    kind: Type.Literal('datetime'),
    impute: Type.Number({ description: 'Days since 1970-01-01T00:00Z used for a missing cell: the training-split mean.' }),
    mean: Type.Number(),
    std: Type.Number({ exclusiveMinimum: 0 }),
    cycles: Type.Array(Type.Union([Type.Literal('month'), Type.Literal('day_of_week'), Type.Literal('hour')]), {
      description: 'The cyclic parts that vary in the training split, in input order: a sin and a cos input each.',
    }),
  },
  { additionalProperties: false },
);
export const FeatureEncodingSchema = Type.Union([NumericEncodingSchema, CategoricalEncodingSchema, DatetimeEncodingSchema]);

export const TargetEncodingSchema = Type.Union([
  Type.Object({ name: Type.String(), kind: Type.Literal('label'), classes: Type.Array(Type.String(), { minItems: 2 }) }, { additionalProperties: false }),
  Type.Object({ name: Type.String(), kind: Type.Literal('numeric'), mean: Type.Number(), std: Type.Number() }, { additionalProperties: false }),
]);

const Float32 = Type.Literal('float32');
const Metrics = Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()]));

export const ServingManifestSchema = Type.Object(
  {
    format_version: Type.Literal(1),
    model: Type.String(),
    training_job_id: Type.String(),
    dataset_id: Type.String(),
    task: TaskSchema,
    input: Type.Object(
      { name: Type.String(), dtype: Float32, shape: Type.Tuple([Type.Null(), Type.Integer({ minimum: 1 })]), encoding: Type.String() },
      { additionalProperties: false, description: 'The ONNX/TorchScript input: [batch, width] raw encoded features.' },
    ),
    output: Type.Object({ name: Type.String(), dtype: Float32, description: Type.String() }, { additionalProperties: false }),
    features: Type.Array(FeatureEncodingSchema, { description: 'How each input column encodes, in input order.' }),
    feature_kinds: Type.Array(
      Type.Object({ name: Type.String(), kind: Type.Union([Type.Literal('numeric'), Type.Literal('categorical'), Type.Literal('datetime')]) }, { additionalProperties: false }),
    ),
    target: TargetEncodingSchema,
    normalization: Type.Object(
      { mean: Type.Array(Type.Number()), std: Type.Array(Type.Number()), note: Type.String() },
      { additionalProperties: false, description: 'Training-split statistics, already folded into the exported network.' },
    ),
    layers: ResolvedLayersSchema,
    parameters: Type.Integer({ minimum: 0 }),
    hyperparameters: ResolvedHyperparametersSchema,
    training: Type.Object(
      {
        rows_train: Type.Integer({ minimum: 0 }),
        rows_validation: Type.Integer({ minimum: 0 }),
        dropped_missing_target: Type.Integer({ minimum: 0 }),
        best_epoch: Type.Integer({ minimum: 1 }),
        epochs_run: Type.Integer({ minimum: 1 }),
        stopped_early: Type.Boolean(),
        truncated: Type.Boolean(),
      },
      { additionalProperties: false },
    ),
    metrics: Metrics,
    trainer: Type.Record(Type.String(), Type.Unknown(), { description: 'The trainer’s own summary (trainer.json).' }),
    artifacts: Type.Array(Type.Object({ name: Type.String(), size_bytes: Type.Integer({ minimum: 0 }), sha256: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false, title: 'ServingManifest', description: 'manifest.json of a model version.' },
);
export type ServingManifest = Static<typeof ServingManifestSchema>;

// The encodings preprocessing.ts computes are the ones the manifest describes (checked by tsc).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const sameFeatures: Same<Static<typeof FeatureEncodingSchema>, FeatureEncoding> = true;
const sameTarget: Same<Static<typeof TargetEncodingSchema>, TargetEncoding> = true;
void sameFeatures;
void sameTarget;

/** What serving reads: the rest of the manifest is documentation, and older versions may lack parts of it. */
const ServedPartSchema = Type.Pick(ServingManifestSchema, ['task', 'input', 'output', 'features', 'target']);
export type ServedManifest = Static<typeof ServedPartSchema>;
const checkServed = Compile(ServedPartSchema);

const checkWhole = Compile(ServingManifestSchema);

function decode<T>(check: { Check(value: unknown): value is T; Errors(value: unknown): Iterable<{ instancePath: string; message: string }> }, text: string): T {
  const value: unknown = JSON.parse(text);
  if (!check.Check(value)) {
    const [first] = check.Errors(value);
    throw new Error(`manifest.json does not match the contract: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`);
  }
  return value;
}

/** Parses manifest.json for serving; throws naming the first problem when it breaks the contract. */
export const parseServingManifest = (text: string): ServedManifest => decode(checkServed, text);

/** Parses the whole manifest.json (a warm start reuses its layers and preprocessing); throws like parseServingManifest. */
export const parseManifest = (text: string): ServingManifest => decode(checkWhole, text);
