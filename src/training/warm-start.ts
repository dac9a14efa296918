// Warm start (`init_from`): a training job that begins from an earlier version's weights and reuses
// its fitted preprocessing, so that every input keeps the meaning (and the width) the weights were
// trained for. Typical use: retrain monthly on the next version of a dataset. Whether the version
// fits is decided at submission (a 400 INIT_FROM_MISMATCH naming the field); the job then fetches
// the version's manifest.json (preprocessing, target encoding) and state_dict.pt.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from 'typebox';
import type { Platform } from '../platform.ts';
import { TrainyardError } from '../errors.ts';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import { artifactKey } from '../store/blobs/keys.ts';
import { resolveVersion } from '../models/registry.ts';
import { inferShapes, type LayerShape } from '../models/shapes.ts';
import type { ModelSpec } from '../models/spec.ts';
import { parseManifest, type ServingManifest } from '../models/manifest.ts';
import type { Preprocessing, TargetEncoding } from '../models/preprocessing.ts';
import type { ColumnProfile } from '../datasets/csv/profiler.ts';
import { featureKinds } from './prepare.ts';

const ModelName = Type.String({ minLength: 1, description: 'The model whose version to start from (any model with the same layers).' });
export const InitFromSchema = Type.Union(
  [
    Type.Object({ model: ModelName, version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
    Type.Object({ model: ModelName, alias: Type.String({ minLength: 1, description: 'e.g. production' }) }, { additionalProperties: false }),
  ],
  { description: 'Warm start: train from this version’s weights, reusing its fitted preprocessing. Its task, target, features and layers must match (else 400 INIT_FROM_MISMATCH).' },
);
export type InitFromInput = Static<typeof InitFromSchema>;

/** What a job stores of its warm start, and a version records in its lineage (without the prefix). */
export interface InitFrom {
  model: string;
  version: number;
  /** Where the version's artifacts are (its blob prefix). */
  blob_prefix: string;
}

function mismatch(detail: string, field: string, message: string): TrainyardError {
  return new TrainyardError('INIT_FROM_MISMATCH', detail, { errors: [{ field, message }] });
}

async function readManifest(blobs: BlobStore, prefix: string): Promise<ServingManifest> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.get(artifactKey(prefix, 'manifest.json'))) chunks.push(chunk as Buffer);
  return parseManifest(Buffer.concat(chunks).toString('utf8'));
}

const describeShape = (s: LayerShape) => `${s.type} [${s.input.join(', ')}] → [${s.output.join(', ')}], ${s.parameters} parameters`;

/**
 * The version `init_from` names, checked against the model and the dataset the job trains: same
 * task and target, the same features of the same kinds (its preprocessing is reused), and layers
 * whose parameters have the same shapes on its input width.
 */
export async function resolveInitFrom(platform: Platform, input: InitFromInput, target: { spec: ModelSpec; features: string[]; columns: ColumnProfile[] }): Promise<InitFrom> {
  const version = await resolveVersion(platform.metadata.db, input.model, 'version' in input ? input.version : input.alias);
  const manifest = await readManifest(platform.blobs, version.blob_prefix);
  const named = `${version.model} version ${version.version}`;
  const { spec } = target;
  if (manifest.task !== spec.task) {
    throw mismatch(`${named} was trained for ${manifest.task}, but model "${spec.name}" is ${spec.task}`, 'init_from', `is a ${manifest.task} model`);
  }
  if (manifest.target.name !== spec.target) {
    throw mismatch(`${named} predicts "${manifest.target.name}", but model "${spec.name}" predicts "${spec.target}"`, 'init_from', `predicts "${manifest.target.name}"`);
  }
  const theirs = manifest.features.map((f) => f.name);
  if (theirs.join('\u0000') !== target.features.join('\u0000')) {
    throw mismatch(
      `${named} was trained on features [${theirs.join(', ')}], this job's are [${target.features.join(', ')}]; its preprocessing gives the inputs their meaning, so they must be the same, in the same order`,
      'model.features',
      `must be [${theirs.join(', ')}] to start from ${named}`,
    );
  }
  const kinds = featureKinds(target.columns, target.features);
  manifest.features.forEach((f, i) => {
    if (f.kind !== kinds[i].kind) {
      throw mismatch(`feature "${f.name}" was ${f.kind} in ${named} but is ${kinds[i].kind} in this dataset`, `model.features[${i}]`, `was ${f.kind} in ${named}`);
    }
  });
  const width = manifest.input.shape[1];
  const outputs = manifest.target.kind === 'label' && manifest.task === 'multiclass_classification' ? manifest.target.classes.length : 1;
  const before = inferShapes(manifest.layers, [width]).shapes;
  let now: LayerShape[];
  try {
    now = inferShapes(spec.layers, [width], { expectedOutput: outputs, task: spec.task }).shapes;
  } catch (error) {
    if (!(error instanceof TrainyardError)) throw error;
    throw new TrainyardError('INIT_FROM_MISMATCH', `the layers of model "${spec.name}" do not fit the ${width} inputs and ${outputs} outputs of ${named}: ${error.message}`, {
      errors: error.errors.map((e) => ({ ...e, field: `model.${e.field}` })),
    });
  }
  if (now.length !== before.length) {
    throw mismatch(`model "${spec.name}" has ${now.length} layers, ${named} has ${before.length}`, 'model.layers', `must have ${before.length} layers to start from ${named}`);
  }
  now.forEach((shape, i) => {
    const old = before[i];
    if (shape.type !== old.type || shape.parameters !== old.parameters || shape.input.join() !== old.input.join() || shape.output.join() !== old.output.join()) {
      throw mismatch(`layer ${i} is ${describeShape(shape)} here but ${describeShape(old)} in ${named}`, `model.layers[${i}]`, `must be ${describeShape(old)} to start from ${named}`);
    }
  });
  return { model: version.model, version: version.version, blob_prefix: version.blob_prefix };
}

/** The version's weights (into `jobDir/init/`) and its fitted preprocessing and target encoding. */
export async function fetchInitFrom(blobs: BlobStore, init: InitFrom, jobDir: string): Promise<{ weights: string; preprocessing: Preprocessing; target: TargetEncoding }> {
  await mkdir(join(jobDir, 'init'), { recursive: true });
  const weights = 'init/state_dict.pt';
  await blobs.download(artifactKey(init.blob_prefix, 'state_dict.pt'), join(jobDir, weights));
  const manifest = await readManifest(blobs, init.blob_prefix);
  return { weights, preprocessing: { features: manifest.features, width: manifest.input.shape[1] }, target: manifest.target };
}
