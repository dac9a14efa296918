// A tuning study's search space: which hyperparameters and layer arguments it varies, and over what.
// Parsed by hand (like model layers) so that every problem is a 400 naming the parameter and the
// reason; each bound and each choice is tried in the base request through the same schemas and
// layer validation a training job gets, so a space whose values could never run is refused at once.
//
//   "optimizer.lr":          {"log_uniform": [0.0001, 0.1]}
//   "layers[0].out_features": {"int_uniform": [16, 128], "step": 16}
//   "layers[2].p":           {"uniform": [0.0, 0.5]}
//   "optimizer.type":        {"choice": ["Adam", "AdamW"]}
import { Type, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { TrainyardError, type FieldError } from '../errors.ts';
import { LAYER_SCHEMAS, validateLayers, type LayerSpec, type LayerType } from '../models/layers.ts';
import { HyperparametersSchema, type HyperparametersInput } from '../training/hyperparameters.ts';

/** Documented limits: what one study may ask for. */
export const SEARCH_SPACE_LIMITS = { parameters: 32, choices: 100, gridPoints: 100, gridSize: 100_000 } as const;

export const STRATEGIES = ['random', 'grid', 'tpe'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type Param =
  | { path: string; kind: 'float'; low: number; high: number; log: boolean; points: number }
  | { path: string; kind: 'int'; low: number; high: number; step: number }
  | { path: string; kind: 'choice'; choices: JsonValue[] };

export type SearchSpace = Readonly<Record<string, Param>>;

/** One parameter's distribution, for the OpenAPI document (the route parses it by hand). */
export const DistributionSchema = Type.Union(
  [
    Type.Object(
      {
        uniform: Type.Tuple([Type.Number(), Type.Number()], { description: '[low, high]' }),
        points: Type.Optional(Type.Integer({ minimum: 2, maximum: SEARCH_SPACE_LIMITS.gridPoints, description: 'Grid strategy only: evenly spaced values. Default 3.' })),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        log_uniform: Type.Tuple([Type.Number({ exclusiveMinimum: 0 }), Type.Number({ exclusiveMinimum: 0 })], { description: '[low, high], both > 0; sampled uniformly in log space' }),
        points: Type.Optional(Type.Integer({ minimum: 2, maximum: SEARCH_SPACE_LIMITS.gridPoints, description: 'Grid strategy only: log-spaced values. Default 3.' })),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        int_uniform: Type.Tuple([Type.Integer(), Type.Integer()], { description: '[low, high], inclusive' }),
        step: Type.Optional(Type.Integer({ minimum: 1, description: 'Default 1; high - low must be a multiple of it.' })),
      },
      { additionalProperties: false },
    ),
    Type.Object({ choice: Type.Array(Type.Unknown(), { minItems: 1, maxItems: SEARCH_SPACE_LIMITS.choices }) }, { additionalProperties: false }),
  ],
  { $id: 'Distribution', description: 'One of uniform, log_uniform, int_uniform (with step) or choice.' },
);

export const SearchSpaceBodySchema = Type.Record(Type.String(), Type.Object({}, { additionalProperties: true }), {
  description:
    'Parameter path → distribution (see Distribution). Paths: any hyperparameter (`optimizer.lr`, `optimizer.weight_decay`, `optimizer.type`, `batch_size`, `lr_scheduler.gamma`, …) or a layer argument by index (`layers[0].out_features`, `layers[2].p`, `layers[1].type`).',
  minProperties: 1,
  maxProperties: SEARCH_SPACE_LIMITS.parameters,
});

const LAYER_PATH = /^layers\[(\d+)\]\.([A-Za-z_][A-Za-z0-9_]*)$/;
const HYPER_PATH = /^[a-z_]+(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export interface SpaceContext {
  layers: readonly LayerSpec[];
  hyperparameters: HyperparametersInput | undefined;
  strategy: Strategy;
}

const shown = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
};

/** What values the schema at a path takes: numbers, integers only, or other (strings, objects …). */
function leafKind(schema: TSchema): 'number' | 'integer' | 'other' {
  const members = 'anyOf' in schema ? (schema.anyOf as TSchema[]) : [schema];
  const types = new Set(members.map((m) => (m as { type?: string }).type));
  if (types.has('number')) return 'number';
  if (types.has('integer')) return 'integer';
  return 'other';
}

/** The schema at a dotted path of an object schema (through unions of objects), if there is one. */
function schemaAt(schema: TSchema, parts: string[]): TSchema | undefined {
  if (parts.length === 0) return schema;
  const members = 'anyOf' in schema ? (schema.anyOf as TSchema[]) : [schema];
  for (const member of members) {
    const props = (member as { properties?: Record<string, TSchema> }).properties;
    if (props && parts[0] in props) {
      const found = schemaAt(props[parts[0]], parts.slice(1));
      if (found) return found;
    }
  }
  return undefined;
}

/** Every leaf path of the hyperparameters, for "unknown path" messages. */
function hyperparameterPaths(schema: TSchema = HyperparametersSchema, prefix = ''): string[] {
  const out = new Set<string>();
  const members = 'anyOf' in schema ? (schema.anyOf as TSchema[]) : [schema];
  for (const member of members) {
    const props = (member as { properties?: Record<string, TSchema> }).properties;
    if (!props) continue;
    for (const [key, sub] of Object.entries(props)) {
      const nested = hyperparameterPaths(sub, `${prefix}${key}.`);
      if (nested.length === 0 || key === 'lr_scheduler') out.add(`${prefix}${key}`);
      for (const n of nested) out.add(n);
    }
  }
  return [...out];
}

function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** A copy of `base` with `value` at the dotted path (objects created on the way). */
export function withPath(base: Record<string, unknown> | undefined, path: string, value: unknown): Record<string, unknown> {
  const out = cloneJson(base ?? {});
  const parts = path.split('.');
  let node: Record<string, unknown> = out;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node[part] = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
  return out;
}

/** The hyperparameters with the values set, checked by the same schema as a training request. */
export function applyHyperparameters(base: HyperparametersInput | undefined, values: Array<[string, unknown]>): HyperparametersInput {
  let out = cloneJson(base ?? {}) as Record<string, unknown>;
  for (const [path, value] of values) out = withPath(out, path, value);
  const errors = [...Value.Errors(HyperparametersSchema, out)];
  if (errors.length > 0) {
    const e = errors[0] as { instancePath: string; message: string };
    const where = e.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'hyperparameters';
    throw new TrainyardError('VALIDATION_FAILED', `hyperparameters.${where} ${e.message}`, { errors: [{ field: `hyperparameters.${where}`, message: e.message }] });
  }
  return out as HyperparametersInput;
}

/** The layers with the values set, checked by the same validation as a model definition. */
export function applyLayers(base: readonly LayerSpec[], values: Array<[number, string, unknown]>): LayerSpec[] {
  const layers = cloneJson(base) as unknown as Array<Record<string, unknown>>;
  for (const [index, arg, value] of values) layers[index][arg] = value;
  return validateLayers(layers);
}

export function parsePath(path: string): { layer: number; arg: string } | { hyper: string } | null {
  const layer = LAYER_PATH.exec(path);
  if (layer) return { layer: Number(layer[1]), arg: layer[2] };
  return HYPER_PATH.test(path) ? { hyper: path } : null;
}

/**
 * Parses and checks a search space against the model's layers and the base hyperparameters.
 * Throws INVALID_SEARCH_SPACE listing every problem, each naming `search_space.<path>`.
 */
export function parseSearchSpace(input: unknown, context: SpaceContext): SearchSpace {
  const errors: FieldError[] = [];
  const space: Record<string, Param> = {};
  if (typeof input !== 'object' || input === null || Array.isArray(input) || Object.keys(input).length === 0) {
    throw new TrainyardError('INVALID_SEARCH_SPACE', 'search_space is empty: give at least one parameter, e.g. {"optimizer.lr": {"log_uniform": [0.0001, 0.1]}}', {
      errors: [{ field: 'search_space', message: 'must name at least one parameter' }],
    });
  }
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.length > SEARCH_SPACE_LIMITS.parameters) {
    errors.push({ field: 'search_space', message: `has ${entries.length} parameters; at most ${SEARCH_SPACE_LIMITS.parameters} are allowed` });
  }
  for (const [path, spec] of entries) {
    const field = `search_space.${path}`;
    const problem = (message: string) => errors.push({ field, message });
    const parsed = parsePath(path);
    if (!parsed) {
      problem('is not a parameter path: use a hyperparameter such as "optimizer.lr" or a layer argument such as "layers[0].out_features"');
      continue;
    }
    // Where the value goes, and what kind of value it takes.
    let kind: 'number' | 'integer' | 'other';
    let tryValue: (value: unknown) => void;
    if ('layer' in parsed) {
      const layer = context.layers[parsed.layer];
      if (!layer) {
        problem(`layer index ${parsed.layer} is out of range: the model has ${context.layers.length} layer${context.layers.length === 1 ? '' : 's'} (layers[0] to layers[${context.layers.length - 1}])`);
        continue;
      }
      const layerSchema = LAYER_SCHEMAS[layer.type as LayerType] as unknown as { properties: Record<string, TSchema> };
      if (parsed.arg === 'type') {
        kind = 'other';
      } else if (!(parsed.arg in layerSchema.properties)) {
        const args = Object.keys(layerSchema.properties).filter((k) => k !== 'type');
        problem(`layers[${parsed.layer}] is a ${layer.type}, which has no argument "${parsed.arg}"${args.length ? ` (its arguments: ${args.join(', ')})` : ' (it takes no arguments)'}`);
        continue;
      } else {
        kind = leafKind(layerSchema.properties[parsed.arg]);
      }
      tryValue = (value) => void applyLayers(context.layers, [[parsed.layer, parsed.arg, value]]);
    } else {
      const schema = schemaAt(HyperparametersSchema, parsed.hyper.split('.'));
      if (!schema) {
        problem(`is not a hyperparameter (they are ${hyperparameterPaths().join(', ')})`);
        continue;
      }
      kind = leafKind(schema);
      tryValue = (value) => void applyHyperparameters(context.hyperparameters, [[parsed.hyper, value]]);
    }
    const param = parseDistribution(spec, path, kind, context.strategy, problem);
    if (!param) continue;
    // Every bound and every choice must make a valid request on its own.
    const probes: unknown[] = param.kind === 'choice' ? param.choices : [param.low, param.high];
    for (const value of probes) {
      try {
        tryValue(value);
      } catch (error) {
        if (!(error instanceof TrainyardError)) throw error;
        problem(`the value ${shown(value)} is not valid there: ${error.errors[0]?.field ?? ''} ${error.errors[0]?.message ?? error.message}`.replace(/\s+/g, ' '));
        break;
      }
    }
    space[path] = param;
  }
  if (errors.length === 0 && context.strategy === 'grid') {
    const size = gridSize(space);
    if (size > SEARCH_SPACE_LIMITS.gridSize) errors.push({ field: 'search_space', message: `the grid has ${size} points; at most ${SEARCH_SPACE_LIMITS.gridSize} are allowed` });
  }
  if (errors.length > 0) {
    const first = `${errors[0].field}: ${errors[0].message}`;
    throw new TrainyardError('INVALID_SEARCH_SPACE', errors.length === 1 ? first : `${first} (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})`, { errors });
  }
  return Object.freeze(space);
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function parseDistribution(spec: unknown, path: string, kind: 'number' | 'integer' | 'other', strategy: Strategy, problem: (m: string) => void): Param | undefined {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    problem('must be an object with one of uniform, log_uniform, int_uniform or choice');
    return undefined;
  }
  const s = spec as Record<string, unknown>;
  const kinds = ['uniform', 'log_uniform', 'int_uniform', 'choice'].filter((k) => k in s);
  if (kinds.length !== 1) {
    problem(kinds.length === 0 ? 'must have one of uniform, log_uniform, int_uniform or choice' : `has both ${kinds.join(' and ')}; give exactly one`);
    return undefined;
  }
  const [distribution] = kinds;
  const allowed = new Set([distribution, ...(distribution === 'int_uniform' ? ['step'] : []), ...(distribution === 'uniform' || distribution === 'log_uniform' ? ['points'] : [])]);
  const extra = Object.keys(s).filter((k) => !allowed.has(k));
  if (extra.length > 0) {
    problem(`"${extra[0]}" is not an option of ${distribution} (allowed: ${[...allowed].join(', ')})`);
    return undefined;
  }
  if (distribution === 'choice') {
    const choices = s.choice;
    if (!Array.isArray(choices) || choices.length === 0) return void problem('choice must be a non-empty list of values');
    if (choices.length > SEARCH_SPACE_LIMITS.choices) return void problem(`choice has ${choices.length} values; at most ${SEARCH_SPACE_LIMITS.choices} are allowed`);
    const seen = new Set(choices.map((c) => JSON.stringify(c)));
    if (seen.size !== choices.length) return void problem('choice lists a value twice');
    return { path, kind: 'choice', choices: choices as JsonValue[] };
  }
  if (kind === 'other') return void problem(`${distribution} needs a numeric parameter; this one takes other values: use choice`);
  const bounds = s[distribution];
  if (!Array.isArray(bounds) || bounds.length !== 2 || !finite(bounds[0]) || !finite(bounds[1])) {
    return void problem(`${distribution} must be [low, high], two finite numbers, got ${shown(bounds)}`);
  }
  const [low, high] = bounds as [number, number];
  if (low > high) return void problem(`${distribution}: low (${low}) is greater than high (${high})`);
  if (distribution === 'int_uniform') {
    if (!Number.isInteger(low) || !Number.isInteger(high)) return void problem(`int_uniform bounds must be integers, got [${low}, ${high}]`);
    const step = s.step ?? 1;
    if (!Number.isInteger(step) || (step as number) < 1) return void problem(`step must be a positive integer, got ${shown(step)}`);
    if ((high - low) % (step as number) !== 0) return void problem(`high - low (${high - low}) is not a multiple of step (${String(step)})`);
    return { path, kind: 'int', low, high, step: step as number };
  }
  if (kind === 'integer') return void problem(`takes integers: use int_uniform or choice, not ${distribution}`);
  if (distribution === 'log_uniform' && low <= 0) return void problem(`log_uniform needs bounds > 0 (the log of ${low} is undefined); use uniform for a range that includes 0`);
  const points = s.points ?? 3;
  if (!Number.isInteger(points) || (points as number) < 2 || (points as number) > SEARCH_SPACE_LIMITS.gridPoints) {
    return void problem(`points must be an integer from 2 to ${SEARCH_SPACE_LIMITS.gridPoints}, got ${shown(points)}`);
  }
  if (s.points !== undefined && strategy !== 'grid') return void problem('points applies to the grid strategy only');
  return { path, kind: 'float', low, high, log: distribution === 'log_uniform', points: points as number };
}

/** How many values the grid takes on each parameter, and so its size. */
export function gridSize(space: SearchSpace): number {
  let size = 1;
  for (const p of Object.values(space)) {
    size *= p.kind === 'choice' ? p.choices.length : p.kind === 'int' ? (p.high - p.low) / p.step + 1 : p.low === p.high ? 1 : p.points;
  }
  return size;
}

/** The space as the sampler process takes it (choices by index). */
export function samplerSpace(space: SearchSpace): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [path, p] of Object.entries(space)) {
    out[path] =
      p.kind === 'choice'
        ? { type: 'categorical', n: p.choices.length }
        : p.kind === 'int'
          ? { type: 'int', low: p.low, high: p.high, step: p.step }
          : { type: 'float', low: p.low, high: p.high, log: p.log, points: p.points };
  }
  return out;
}

/** A sampler answer (choices by index) as the parameter values a trial uses. */
export function decodeParams(space: SearchSpace, raw: Record<string, unknown>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [path, p] of Object.entries(space)) {
    const v = raw[path];
    if (p.kind === 'choice') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= p.choices.length) throw new Error(`sampler answered choice index ${String(v)} for ${path}`);
      out[path] = p.choices[v];
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`sampler answered ${String(v)} for ${path}`);
      out[path] = p.kind === 'int' ? Math.round(v) : v;
    }
  }
  return out;
}

/** Trial parameters as the sampler takes them back (choices by index). */
export function encodeParams(space: SearchSpace, params: Record<string, JsonValue>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [path, p] of Object.entries(space)) {
    const v = params[path];
    if (v === undefined) continue;
    out[path] = p.kind === 'choice' ? p.choices.findIndex((c) => JSON.stringify(c) === JSON.stringify(v)) : (v as number);
  }
  return out;
}

/** A trial's model layers and hyperparameters: the base with the trial's values set (and checked). */
export function trialInputs(
  space: SearchSpace,
  params: Record<string, JsonValue>,
  base: { layers: readonly LayerSpec[]; hyperparameters: HyperparametersInput | undefined },
): { layers: LayerSpec[]; hyperparameters: HyperparametersInput } {
  const layerValues: Array<[number, string, unknown]> = [];
  const hyperValues: Array<[string, unknown]> = [];
  for (const path of Object.keys(space)) {
    const parsed = parsePath(path)!;
    if ('layer' in parsed) layerValues.push([parsed.layer, parsed.arg, params[path]]);
    else hyperValues.push([parsed.hyper, params[path]]);
  }
  return {
    layers: layerValues.length ? applyLayers(base.layers, layerValues) : (cloneJson(base.layers) as LayerSpec[]),
    hyperparameters: applyHyperparameters(base.hyperparameters, hyperValues),
  };
}
