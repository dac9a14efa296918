// The Trainyard API client shared by the CLI (Node) and the dashboard (browser). It speaks plain
// fetch, so it runs in both; request and response shapes come from ./types.ts, which is checked
// against the types generated from the server's OpenAPI document (./contract.ts).
import { ApiError, UnreachableError, isProblem, networkReason } from './errors.ts';
import { parseSse, type SseEvent } from './sse.ts';
import type {
  Dataset,
  DatasetSummary,
  DatasetPreview,
  DriftReport,
  EpochEvent,
  EpochPoint,
  ExportJob,
  ImportJob,
  InferenceJob,
  InferenceJobRequest,
  FeedbackItem,
  LiveQuality,
  Model,
  ModelSpec,
  ModelVersion,
  MonitoringSettings,
  MonitoringSettingsRequest,
  Page,
  PredictResult,
  TrainingJob,
  TrainingJobQuery,
  TrainingJobRequest,
  Traffic,
  TuningJob,
  TuningJobQuery,
  TuningJobRequest,
  TuningTrials,
} from './types.ts';

type Body = NonNullable<RequestInit['body']>;

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface ClientOptions {
  /** Where the API is, e.g. http://127.0.0.1:8080 ('' in the browser: same origin). */
  baseUrl: string;
  /** A Bearer token (or a function that returns the current one). */
  token?: string | (() => string | undefined | null);
  fetch?: typeof globalThis.fetch;
  /** Called with every 401 answer before it is thrown (the dashboard prompts for a token). */
  onUnauthorized?: (error: ApiError) => void;
}

export interface RequestOptions {
  query?: Query;
  json?: unknown;
  body?: Body | ReadableStream<Uint8Array> | null;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface TrainingEvent {
  event: 'status' | 'epoch' | 'log' | 'end' | string;
  data: unknown;
}

const enc = encodeURIComponent;

export class TrainyardClient {
  readonly baseUrl: string;
  private readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  url(path: string, query?: Query): string {
    let url = `${this.baseUrl}${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
      const text = params.toString();
      if (text) url += `?${text}`;
    }
    return url;
  }

  token(): string | undefined {
    const token = typeof this.options.token === 'function' ? this.options.token() : this.options.token;
    return token || undefined;
  }

  /** Performs a request; answers with the Response when it is 2xx, throws ApiError or UnreachableError otherwise. */
  async fetch(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json;q=0.9, */*;q=0.5', ...options.headers };
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    let body = options.body ?? undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body: body as Body | undefined, signal: options.signal };
    if (body && typeof (body as ReadableStream).getReader === 'function') init.duplex = 'half';
    const doFetch = this.options.fetch ?? globalThis.fetch;
    let response: Response;
    try {
      response = await doFetch(this.url(path, options.query), init);
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error;
      throw new UnreachableError(this.baseUrl || (globalThis as { location?: { origin: string } }).location?.origin || '(this site)', networkReason(error), { cause: error });
    }
    if (response.ok) return response;
    const error = await toApiError(response);
    if (error.status === 401) this.options.onUnauthorized?.(error);
    throw error;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.fetch(method, path, options);
    if (response.status === 204) return undefined as T;
    const type = response.headers.get('content-type') ?? '';
    if (type.includes('json')) return (await response.json()) as T;
    return (await response.text()) as T;
  }

  /** Follows `next_cursor` until the last page (or `max` items). */
  async all<T>(path: string, query: Query = {}, max = 10_000): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await this.request<Page<T>>('GET', path, { query: { ...query, limit: 500, cursor } });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < max);
    return items;
  }

  // Datasets --------------------------------------------------------------------------------

  listDatasets(query: Query = {}): Promise<Page<DatasetSummary>> {
    return this.request('GET', '/v1/datasets', { query });
  }
  getDataset(id: string): Promise<Dataset> {
    return this.request('GET', `/v1/datasets/${enc(id)}`);
  }
  deleteDataset(id: string): Promise<void> {
    return this.request('DELETE', `/v1/datasets/${enc(id)}`);
  }
  previewDataset(id: string, limit = 20): Promise<DatasetPreview> {
    return this.request('GET', `/v1/datasets/${enc(id)}/preview`, { query: { limit } });
  }
  datasetContentUrl(id: string): string {
    return this.url(`/v1/datasets/${enc(id)}/content`);
  }
  /** Uploads a file as a raw body (streamed when `body` is a stream): CSV unless `format` says parquet or jsonl. */
  uploadDataset(body: Body | ReadableStream<Uint8Array>, options: { name?: string; size?: number; signal?: AbortSignal; format?: 'csv' | 'parquet' | 'jsonl' } = {}): Promise<Dataset> {
    const types = { csv: 'text/csv', parquet: 'application/vnd.apache.parquet', jsonl: 'application/x-ndjson' } as const;
    const headers: Record<string, string> = { 'content-type': types[options.format ?? 'csv'] };
    if (options.size !== undefined) headers['content-length'] = String(options.size);
    return this.request('POST', '/v1/datasets', { query: { name: options.name }, body, headers, signal: options.signal });
  }
  /** A dataset by id, or the latest version of the dataset with that name. */
  async resolveDataset(ref: string): Promise<Dataset> {
    try {
      return await this.getDataset(ref);
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 400)) throw error;
      const named = (await this.all<DatasetSummary>('/v1/datasets', { name: ref })).filter((d) => d.name === ref);
      if (named.length === 0) throw error;
      return this.getDataset(named.reduce((a, b) => (b.version > a.version ? b : a)).id);
    }
  }

  // Models -----------------------------------------------------------------------------------

  listModels(query: Query = {}): Promise<Page<Model>> {
    return this.request('GET', '/v1/models', { query });
  }
  getModel(name: string): Promise<Model> {
    return this.request('GET', `/v1/models/${enc(name)}`);
  }
  createModel(spec: ModelSpec | Record<string, unknown>): Promise<Model> {
    return this.request('POST', '/v1/models', { json: spec });
  }
  deleteModel(name: string): Promise<void> {
    return this.request('DELETE', `/v1/models/${enc(name)}`);
  }
  listVersions(name: string, query: Query = {}): Promise<Page<ModelVersion>> {
    return this.request('GET', `/v1/models/${enc(name)}/versions`, { query });
  }
  getVersion(name: string, version: number | string): Promise<ModelVersion> {
    return this.request('GET', `/v1/models/${enc(name)}/versions/${enc(String(version))}`);
  }
  setAlias(name: string, alias: string, version: number): Promise<unknown> {
    return this.request('PUT', `/v1/models/${enc(name)}/aliases/${enc(alias)}`, { json: { version } });
  }
  artifactUrl(name: string, version: number | string, artifact: string): string {
    return this.url(`/v1/models/${enc(name)}/versions/${enc(String(version))}/artifacts/${enc(artifact)}`);
  }

  // Monitoring -------------------------------------------------------------------------------

  getMonitoring(name: string): Promise<MonitoringSettings> {
    return this.request('GET', `/v1/models/${enc(name)}/monitoring`);
  }
  setMonitoring(name: string, settings: MonitoringSettingsRequest): Promise<MonitoringSettings> {
    return this.request('PUT', `/v1/models/${enc(name)}/monitoring`, { json: settings });
  }
  drift(name: string, version: number | string, window = '24h'): Promise<DriftReport> {
    return this.request('GET', `/v1/models/${enc(name)}/versions/${enc(String(version))}/drift`, { query: { window } });
  }
  liveQuality(name: string, version: number | string, window = '24h'): Promise<LiveQuality> {
    return this.request('GET', `/v1/models/${enc(name)}/versions/${enc(String(version))}/quality`, { query: { window } });
  }
  traffic(name: string, window = '24h'): Promise<Traffic> {
    return this.request('GET', `/v1/models/${enc(name)}/monitoring/traffic`, { query: { window } });
  }
  sendFeedback(name: string, items: FeedbackItem[]): Promise<{ updated: number }> {
    return this.request('POST', `/v1/models/${enc(name)}/feedback`, { json: items });
  }
  /** Starts exporting the logged predictions (with feedback labels) into a dataset version. */
  exportPredictionLogs(name: string, request: { name: string; from?: string; to?: string }): Promise<ExportJob> {
    return this.request('POST', `/v1/models/${enc(name)}/prediction-logs/export`, { json: request });
  }
  getExportJob(id: string): Promise<ExportJob> {
    return this.request('GET', `/v1/export-jobs/${enc(id)}`);
  }
  /** Starts importing s3:// objects (one, a prefix or a glob) into a dataset version, read by the server with its own credentials. */
  importDataset(request: { name: string; url: string }): Promise<ImportJob> {
    return this.request('POST', '/v1/datasets/import', { json: request });
  }
  getImportJob(id: string): Promise<ImportJob> {
    return this.request('GET', `/v1/import-jobs/${enc(id)}`);
  }
  cancelImportJob(id: string): Promise<ImportJob> {
    return this.request('POST', `/v1/import-jobs/${enc(id)}/cancel`);
  }

  // Training jobs ----------------------------------------------------------------------------

  createTrainingJob(body: TrainingJobRequest): Promise<TrainingJob> {
    return this.request('POST', '/v1/training-jobs', { json: body });
  }
  listTrainingJobs(query: TrainingJobQuery = {}): Promise<Page<TrainingJob>> {
    return this.request('GET', '/v1/training-jobs', { query });
  }
  getTrainingJob(id: string): Promise<TrainingJob> {
    return this.request('GET', `/v1/training-jobs/${enc(id)}`);
  }
  cancelTrainingJob(id: string): Promise<TrainingJob> {
    return this.request('POST', `/v1/training-jobs/${enc(id)}/cancel`);
  }
  /** The per-epoch history, oldest first. */
  async trainingMetrics(id: string): Promise<EpochPoint[]> {
    return epochList(await this.request<unknown>('GET', `/v1/training-jobs/${enc(id)}/metrics`)).map(toEpochPoint);
  }
  /** The job's log lines. */
  async trainingLogs(id: string): Promise<string[]> {
    return logLines(await this.request<unknown>('GET', `/v1/training-jobs/${enc(id)}/logs`, { headers: { accept: 'text/plain, application/json' } }));
  }
  /** The job's live events (status, epoch, log, end); data is parsed JSON where it is JSON. */
  async *trainingEvents(id: string, signal?: AbortSignal): AsyncGenerator<TrainingEvent> {
    const response = await this.fetch('GET', `/v1/training-jobs/${enc(id)}/events`, { headers: { accept: 'text/event-stream' }, signal });
    if (!response.body) return;
    for await (const event of parseSse(response.body, signal)) yield { event: event.event, data: parseData(event) };
  }

  // Tuning studies ---------------------------------------------------------------------------

  createTuningJob(body: TuningJobRequest): Promise<TuningJob> {
    return this.request('POST', '/v1/tuning-jobs', { json: body });
  }
  listTuningJobs(query: TuningJobQuery = {}): Promise<Page<TuningJob>> {
    return this.request('GET', '/v1/tuning-jobs', { query });
  }
  getTuningJob(id: string): Promise<TuningJob> {
    return this.request('GET', `/v1/tuning-jobs/${enc(id)}`);
  }
  /** The leaderboard: succeeded trials best first, then pruned, running and the rest. */
  tuningTrials(id: string): Promise<TuningTrials> {
    return this.request('GET', `/v1/tuning-jobs/${enc(id)}/trials`);
  }
  cancelTuningJob(id: string): Promise<TuningJob> {
    return this.request('POST', `/v1/tuning-jobs/${enc(id)}/cancel`);
  }
  /** The study's live events (status, trial, log, end). */
  async *tuningEvents(id: string, signal?: AbortSignal): AsyncGenerator<TrainingEvent> {
    const response = await this.fetch('GET', `/v1/tuning-jobs/${enc(id)}/events`, { headers: { accept: 'text/event-stream' }, signal });
    if (!response.body) return;
    for await (const event of parseSse(response.body, signal)) yield { event: event.event, data: parseData(event) };
  }

  // Inference --------------------------------------------------------------------------------

  /** Predicts with a version number, an alias (e.g. `staging`), or by default production, else the newest. */
  predict(model: string, input: { inputs: Record<string, unknown>[] } | { csv: string }, version?: number | string): Promise<PredictResult> {
    const numbered = version !== undefined && /^\d+$/.test(String(version));
    const path = numbered ? `/v1/models/${enc(model)}/versions/${enc(String(version))}/predict` : `/v1/models/${enc(model)}/predict`;
    const query = !numbered && version ? { alias: String(version) } : undefined;
    if ('csv' in input) return this.request('POST', path, { query, body: input.csv, headers: { 'content-type': 'text/csv' } });
    return this.request('POST', path, { query, json: { inputs: input.inputs } });
  }
  createInferenceJob(body: InferenceJobRequest): Promise<InferenceJob> {
    return this.request('POST', '/v1/inference-jobs', { json: body });
  }
  /** An inference job over a CSV sent with the request (the server stores it as a dataset first). */
  createInferenceJobFromCsv(
    model: string,
    body: Body | ReadableStream<Uint8Array>,
    options: { version?: number | string; name?: string; size?: number } = {},
  ): Promise<InferenceJob> {
    const headers: Record<string, string> = { 'content-type': 'text/csv' };
    if (options.size !== undefined) headers['content-length'] = String(options.size);
    const query = { model, version: options.version === undefined ? undefined : String(options.version), name: options.name };
    return this.request('POST', '/v1/inference-jobs', { query, body, headers });
  }
  listInferenceJobs(query: Query = {}): Promise<Page<InferenceJob>> {
    return this.request('GET', '/v1/inference-jobs', { query });
  }
  getInferenceJob(id: string): Promise<InferenceJob> {
    return this.request('GET', `/v1/inference-jobs/${enc(id)}`);
  }
  cancelInferenceJob(id: string): Promise<InferenceJob> {
    return this.request('POST', `/v1/inference-jobs/${enc(id)}/cancel`);
  }
  inferenceOutput(id: string, signal?: AbortSignal): Promise<Response> {
    return this.fetch('GET', `/v1/inference-jobs/${enc(id)}/output`, { headers: { accept: 'text/csv' }, signal });
  }
  inferenceOutputUrl(id: string): string {
    return this.url(`/v1/inference-jobs/${enc(id)}/output`);
  }
}

function parseData(event: SseEvent): unknown {
  try {
    return JSON.parse(event.data);
  } catch {
    return event.data;
  }
}

async function toApiError(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isProblem(body)) return new ApiError(response.status, { ...body, errors: Array.isArray(body.errors) ? body.errors : [] });
  return new ApiError(response.status, {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: text.trim().slice(0, 500) || response.statusText || `HTTP ${response.status}`,
    code: `HTTP_${response.status}`,
    errors: [],
  });
}

/** Accepts the metrics history as `{epochs}` (the API), an array, `{items}` or `{history}`. */
export function epochList(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body && typeof body === 'object') {
    for (const key of ['epochs', 'items', 'history']) {
      const value = (body as Record<string, unknown>)[key];
      if (Array.isArray(value)) return value;
    }
  }
  return [];
}

/**
 * Normalises an epoch from either source: the `epoch` event (`{epoch, epochs, train: {loss}, val:
 * {loss, accuracy}, lr, seconds}`) or the stored history (`{epoch, metrics: {train_loss, val_loss}}`).
 */
export function toEpochPoint(raw: unknown): EpochPoint {
  const row = (raw ?? {}) as EpochEvent & { metrics?: Record<string, unknown> };
  const metrics: Record<string, number> = {};
  if (row.metrics && typeof row.metrics === 'object') {
    for (const [key, value] of Object.entries(row.metrics)) if (typeof value === 'number') metrics[key] = value;
  }
  for (const split of ['train', 'val'] as const) {
    const values = row[split];
    if (values && typeof values === 'object') for (const [key, value] of Object.entries(values)) if (typeof value === 'number') metrics[`${split}_${key}`] = value;
  }
  const point: EpochPoint = { epoch: Number(row.epoch), metrics };
  if (typeof row.epochs === 'number') point.epochs = row.epochs;
  if (typeof row.lr === 'number') point.lr = row.lr;
  if (typeof row.seconds === 'number') point.seconds = row.seconds;
  return point;
}

/** Accepts logs as text, an array of lines or objects, or `{lines}` / `{items}`. */
export function logLines(body: unknown): string[] {
  if (typeof body === 'string') return body.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1);
  let list: unknown = body;
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    list = record.lines ?? record.items ?? record.logs ?? [];
  }
  if (!Array.isArray(list)) return [];
  return list.map((entry) => logLine(entry));
}

export function logLine(entry: unknown): string {
  if (typeof entry === 'string') return entry;
  if (entry && typeof entry === 'object') {
    const record = entry as Record<string, unknown>;
    const text = record.line ?? record.message ?? record.msg ?? record.text;
    if (typeof text === 'string') return record.source ? `[${String(record.source)}] ${text}` : text;
    return JSON.stringify(entry);
  }
  return String(entry);
}
