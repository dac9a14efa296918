// Real-time predictions: resolve the version (number, alias, or production → newest), check the
// inputs against its signature, encode them with the shared preprocessing, run ONNX Runtime.
import type { Kysely } from 'kysely';
import type { Database } from '../store/metadata/schema.ts';
import { TrainyardError } from '../errors.ts';
import { registryGeneration, resolveVersion, type ModelVersionRecord } from '../models/registry.ts';
import type { ModelCache } from './model-cache.ts';
import { columnsFromCsv, columnsFromJson, columnsFromRows } from './inputs.ts';
import { predictionsJson } from './predictions.ts';
import { tooManyRows, type JsonRows } from './json-rows.ts';
import type { RawColumn } from '../models/preprocessing.ts';
import type { ObservedPredictions } from '../monitoring/monitor.ts';

export interface PredictResult {
  model: string;
  version: number;
  rows: number;
  /** The predictions as JSON text: the array of PredictResponse.predictions (see predictionsJson). */
  predictions: string;
}

export type PredictInput =
  | { kind: 'json'; inputs: ReadonlyArray<Record<string, unknown>> }
  | { kind: 'rows'; rows: JsonRows } // a JSON body read by parseJsonRows
  | { kind: 'csv'; body: AsyncIterable<Buffer | Uint8Array> };

/**
 * Caches version lookups for a second: predict is the hot path. A change made through this process
 * shows at once (the registry's generation moves); one made through another server within the second.
 */
export class VersionResolver {
  private readonly cache = new Map<string, { at: number; generation: number; version: ModelVersionRecord }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly ttlMs = 1000,
  ) {}

  async resolve(model: string, reference?: string | number): Promise<ModelVersionRecord> {
    const key = `${model}\u0000${reference ?? ''}`;
    const generation = registryGeneration(model);
    const hit = this.cache.get(key);
    if (hit && hit.generation === generation && Date.now() - hit.at < this.ttlMs) return hit.version;
    const version = await resolveVersion(this.db, model, reference);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { at: Date.now(), generation, version });
    return version;
  }
}

export async function predict(
  cache: ModelCache,
  version: ModelVersionRecord,
  input: PredictInput,
  options: { maxRows: number; threshold: number; observe?: (batch: ObservedPredictions) => void },
): Promise<PredictResult> {
  const started = performance.now();
  return cache.use(version, async (model) => {
    const features = model.manifest.features;
    let columns: RawColumn[];
    let rows: number;
    if (input.kind !== 'csv') {
      rows = input.kind === 'json' ? input.inputs.length : input.rows.length;
      if (rows === 0) throw new TrainyardError('INVALID_INPUT', 'inputs is empty: send at least one row', { errors: [{ field: 'inputs', message: 'is empty' }] });
      if (rows > options.maxRows) throw tooManyRows(rows, options.maxRows);
      columns = input.kind === 'json' ? columnsFromJson(input.inputs, features) : columnsFromRows(input.rows, features);
    } else {
      ({ columns, rows } = await columnsFromCsv(input.body, features, options.maxRows));
      if (rows === 0) throw new TrainyardError('INVALID_INPUT', 'the CSV body has a header but no rows', { errors: [{ field: 'body', message: 'has no rows' }] });
    }
    const encoded = new Float32Array(rows * model.encoder.width);
    model.encoder.encode(columns, 0, rows, encoded);
    const { output, width } = await model.run(encoded, rows);
    options.observe?.({ manifest: model.manifest, columns, rows, output, width, latencyMs: performance.now() - started });
    return { model: version.model, version: version.version, rows, predictions: predictionsJson(model.manifest, output, width, rows, options.threshold) };
  });
}
