// The model definition accepted by POST /v1/models, and the Model the API answers with. A spec is
// validated once (`parseModelSpec`), its defaults made explicit, then frozen: a value, never edited.
import { Type, type Static } from 'typebox';
import { TrainyardError, type FieldError } from '../errors.ts';
import { LayersSchema, validateLayers, type DeepReadonly, type LayerSpec } from './layers.ts';

export type { DeepReadonly } from './layers.ts';
import { checkStructure, type StructureReport } from './shapes.ts';
import { TASKS, TaskSchema, type Task } from './task.ts';

export { TASKS, TaskSchema, type Task } from './task.ts';

export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
const NAME_RE = new RegExp(MODEL_NAME_PATTERN);
export const DEFAULT_MAX_CATEGORIES = 50;
export const IMPUTE_STRATEGIES = ['mean'] as const;

const NameSchema = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: MODEL_NAME_PATTERN,
  description: 'Unique model name: letters, digits, ".", "_" and "-", starting with a letter or digit.',
});
const DescriptionSchema = Type.String({ maxLength: 2000 });
const TargetSchema = Type.String({ minLength: 1, description: 'The dataset column to predict.' });
const FeaturesSchema = Type.Array(Type.String({ minLength: 1 }), {
  minItems: 1,
  uniqueItems: true,
  description: 'The input columns; by default every column except the target.',
});

export const PreprocessingSchema = Type.Object(
  {
    max_categories: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: DEFAULT_MAX_CATEGORIES,
        description: 'One-hot vocabulary cap per categorical column (the most frequent training values); rarer and unseen values encode as all zeros.',
      }),
    ),
    impute: Type.Optional(Type.Literal('mean', { default: 'mean', description: 'How missing numeric values are filled (from the training split).' })),
  },
  { additionalProperties: false },
);

/** The full definition, with the layer union: for the OpenAPI document and for types. */
export const ModelSpecSchema = Type.Object(
  {
    name: NameSchema,
    description: Type.Optional(DescriptionSchema),
    task: TaskSchema,
    target: TargetSchema,
    features: Type.Optional(FeaturesSchema),
    layers: LayersSchema,
    preprocessing: Type.Optional(PreprocessingSchema),
  },
  { additionalProperties: false },
);

/**
 * The same body with `layers` declared loosely, for a route's `body` schema: ajv's messages for
 * the layer union are unreadable, so the route calls `parseModelSpec` (or `validateLayers`), which
 * names the layer and argument.
 */
export const ModelSpecBodySchema = Type.Object(
  {
    name: NameSchema,
    description: Type.Optional(DescriptionSchema),
    task: TaskSchema,
    target: TargetSchema,
    features: Type.Optional(FeaturesSchema),
    layers: Type.Array(Type.Object({}, { additionalProperties: true }), {
      description: (LayersSchema as { description?: string }).description + ' Each layer is one of the Layer schemas (see ModelSpec).',
    }),
    preprocessing: Type.Optional(PreprocessingSchema),
  },
  { additionalProperties: false },
);

/** What a client sends. */
export type ModelSpecInput = Static<typeof ModelSpecSchema>;

export interface Preprocessing {
  max_categories: number;
  impute: (typeof IMPUTE_STRATEGIES)[number];
}

/**
 * A validated definition: defaults explicit (preprocessing). The value is frozen all the way down
 * (an assignment throws); the type is readonly at the top only, so arrays can be handed to code
 * that takes plain `string[]` without copying.
 */
export type ModelSpec = Readonly<{
  name: string;
  description?: string;
  task: Task;
  target: string;
  /** Absent: every column except the target. */
  features?: string[];
  layers: LayerSpec[];
  preprocessing: Preprocessing;
}>;

/** Freezes a value and everything in it. */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value as DeepReadonly<T>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const shown = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? text.slice(0, 37) + '...' : text;
};

export interface ParseOptions {
  /** Parameter budget (config): a definition over it is MODEL_TOO_LARGE already at POST /v1/models. */
  maxParameters?: number;
}

/**
 * Validates a POST /v1/models body: every field, every layer (naming index and argument) and the
 * layers' structure as far as it can be checked without a dataset (consecutive sizes, ranks,
 * output width for binary and regression, the parameter budget). Returns the frozen spec with
 * its defaults explicit; throws INVALID_MODEL_SPEC (or MODEL_TOO_LARGE) listing the problems.
 */
export function parseModelSpec(input: unknown, options: ParseOptions = {}): ModelSpec {
  const errors: FieldError[] = [];
  const fail = (): never => {
    const first = `${errors[0].field}: ${errors[0].message}`;
    const detail = errors.length === 1 ? first : `${first} (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})`;
    throw new TrainyardError('INVALID_MODEL_SPEC', detail, { errors });
  };
  if (!isPlainObject(input)) {
    errors.push({ field: 'body', message: 'must be a JSON object with name, task, target and layers' });
    return fail();
  }
  const known = new Set(Object.keys(ModelSpecSchema.properties));
  for (const key of Object.keys(input)) {
    if (!known.has(key)) errors.push({ field: key, message: `is not a property of a model definition (they are ${[...known].join(', ')})` });
  }

  const { name, description, task, target, features, preprocessing } = input;
  if (typeof name !== 'string' || name.length === 0) errors.push({ field: 'name', message: name === undefined ? 'is required' : `must be a non-empty string, got ${shown(name)}` });
  else if (name.length > 200) errors.push({ field: 'name', message: `is ${name.length} characters long; at most 200 are allowed` });
  else if (!NAME_RE.test(name)) errors.push({ field: 'name', message: 'may contain only letters, digits, ".", "_" and "-", and must start with a letter or digit' });

  if (description !== undefined && (typeof description !== 'string' || description.length > 2000)) {
    errors.push({ field: 'description', message: 'must be a string of at most 2000 characters' });
  }
  if (!TASKS.includes(task as Task)) {
    errors.push({ field: 'task', message: `${task === undefined ? 'is required' : `is ${shown(task)}`}: one of ${TASKS.join(', ')}` });
  }
  if (typeof target !== 'string' || target.length === 0) {
    errors.push({ field: 'target', message: target === undefined ? 'is required: the column to predict' : `must be a column name, got ${shown(target)}` });
  }
  if (features !== undefined) {
    if (!Array.isArray(features) || features.length === 0 || features.some((f) => typeof f !== 'string' || f.length === 0)) {
      errors.push({ field: 'features', message: 'must be a non-empty list of column names (omit it to use every column except the target)' });
    } else {
      const seen = new Set<string>();
      for (const f of features as string[]) {
        if (seen.has(f)) errors.push({ field: 'features', message: `lists "${f}" twice` });
        seen.add(f);
      }
      if (typeof target === 'string' && seen.has(target)) {
        errors.push({ field: 'features', message: `includes the target column "${target}"; a model cannot take what it predicts as input` });
      }
    }
  }
  const resolvedPreprocessing: Preprocessing = { max_categories: DEFAULT_MAX_CATEGORIES, impute: 'mean' };
  if (preprocessing !== undefined) {
    if (!isPlainObject(preprocessing)) {
      errors.push({ field: 'preprocessing', message: 'must be an object like {"max_categories": 50}' });
    } else {
      for (const [key, value] of Object.entries(preprocessing)) {
        if (key === 'max_categories') {
          if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_000) {
            errors.push({ field: 'preprocessing.max_categories', message: `must be an integer from 1 to 10000, got ${shown(value)}` });
          } else resolvedPreprocessing.max_categories = value;
        } else if (key === 'impute') {
          if (!IMPUTE_STRATEGIES.includes(value as 'mean')) {
            errors.push({ field: 'preprocessing.impute', message: `must be one of ${IMPUTE_STRATEGIES.map((s) => `'${s}'`).join(', ')}, got ${shown(value)}` });
          }
        } else {
          errors.push({ field: `preprocessing.${key}`, message: 'is not a preprocessing option (they are max_categories, impute)' });
        }
      }
    }
  }

  let layers: LayerSpec[] | undefined;
  try {
    layers = validateLayers(input.layers);
  } catch (error) {
    if (!(error instanceof TrainyardError)) throw error;
    errors.push(...error.errors);
  }
  if (errors.length > 0 || layers === undefined) return fail();

  checkStructure(layers, { task: task as Task, maxParameters: options.maxParameters });

  const spec = {
    name: name as string,
    ...(description !== undefined ? { description: description as string } : {}),
    task: task as Task,
    target: target as string,
    ...(features !== undefined ? { features: [...(features as string[])] } : {}),
    layers,
    preprocessing: resolvedPreprocessing,
  };
  return deepFreeze(spec) as ModelSpec;
}

/** The feature columns a spec uses on a dataset with these columns (default: all but the target). */
export function featureColumns(spec: Pick<ModelSpec, 'features' | 'target'>, columns: readonly string[]): string[] {
  if (!columns.includes(spec.target)) {
    throw new TrainyardError('INCOMPATIBLE_DATASET', `the target column "${spec.target}" is not in the dataset`, {
      errors: [{ field: 'target', message: `"${spec.target}" is not a column of the dataset (its columns: ${columns.slice(0, 20).join(', ')}${columns.length > 20 ? ', …' : ''})` }],
    });
  }
  if (spec.features === undefined) return columns.filter((c) => c !== spec.target);
  const missing = spec.features.filter((f) => !columns.includes(f));
  if (missing.length > 0) {
    throw new TrainyardError('INCOMPATIBLE_DATASET', `feature column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} not in the dataset`, {
      errors: missing.map((m) => ({ field: 'features', message: `"${m}" is not a column of the dataset` })),
    });
  }
  return [...spec.features];
}

/** A model definition as the API answers it. */
export const ModelSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    task: TaskSchema,
    target: Type.String(),
    features: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null: every column except the target.' }),
    layers: LayersSchema,
    preprocessing: Type.Object({ max_categories: Type.Integer(), impute: Type.Literal('mean') }),
    parameters: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Trainable parameters, when they do not depend on the dataset (else known once trained).',
    }),
    shapes: Type.Array(
      Type.Object({
        index: Type.Integer(),
        type: Type.String(),
        input: Type.Array(Type.Union([Type.Integer(), Type.Null()])),
        output: Type.Array(Type.Union([Type.Integer(), Type.Null()])),
        parameters: Type.Union([Type.Integer(), Type.Null()]),
      }),
      { description: 'Per-layer shapes without the batch axis; null where the dataset decides.' },
    ),
    created_at: Type.String({ format: 'date-time' }),
  },
  { description: 'A model definition (trained artifacts are its versions).' },
);
export type Model = Static<typeof ModelSchema>;

/** Builds the API's Model from a stored definition. */
export function toModelResponse(record: { id: string; spec: ModelSpec; created_at: string }): Model {
  const { spec } = record;
  let structure: Pick<StructureReport, 'parameters' | 'shapes'> = { parameters: null, shapes: [] };
  try {
    structure = checkStructure(spec.layers);
  } catch {
    // A stored spec was valid when created; if checks have since tightened, answer without shapes.
  }
  return {
    id: record.id,
    name: spec.name,
    description: spec.description ?? null,
    task: spec.task,
    target: spec.target,
    features: spec.features ? [...spec.features] : null,
    layers: JSON.parse(JSON.stringify(spec.layers)) as LayerSpec[],
    preprocessing: { max_categories: spec.preprocessing?.max_categories ?? DEFAULT_MAX_CATEGORIES, impute: 'mean' },
    parameters: structure.parameters,
    shapes: structure.shapes,
    created_at: record.created_at,
  };
}
