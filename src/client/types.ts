// The resources of the Trainyard REST API (docs: /openapi.json, DESIGN.md). These are the shapes the
// CLI and the dashboard work with. Where the generated OpenAPI types (generated/api.d.ts) describe a
// resource, the type here is derived from them, so a change in the API breaks the build.

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface FieldProblem {
  field: string;
  message: string;
  line?: number;
  row?: number;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  request_id?: string;
  errors: FieldProblem[];
}

export interface ColumnProfile {
  name: string;
  type: string;
  missing_count: number;
  distinct_count: number;
  min?: number | string | null;
  max?: number | string | null;
  mean?: number | null;
  std?: number | null;
}

export interface Dataset {
  id: string;
  name: string;
  version: number;
  status: string;
  format: string;
  size_bytes: number;
  sha256: string;
  row_count: number;
  columns: ColumnProfile[];
  created_at: string;
}

export interface DatasetPreview {
  columns: string[] | { name: string; type?: string }[];
  rows: unknown[][] | Record<string, unknown>[];
}

export type Task = 'binary_classification' | 'multiclass_classification' | 'regression';

export interface LayerSpec {
  type: string;
  [argument: string]: unknown;
}

export interface ModelSpec {
  name: string;
  description?: string | null;
  task: Task | string;
  target: string;
  features?: string[] | null;
  layers: LayerSpec[];
  preprocessing?: Record<string, unknown> | null;
}

export interface Model extends ModelSpec {
  id?: string;
  created_at: string;
  /** Output shape of each layer, when the server could infer it (index-aligned with `layers`). */
  shapes?: unknown[] | null;
  /** Trainable parameter count, when known. */
  parameters?: number | null;
  latest_version?: number | null;
  aliases?: Record<string, number>;
  [extra: string]: unknown;
}

export type Metrics = Record<string, number | null | Record<string, number | null>>;

export interface SignatureInput {
  name: string;
  type: string;
  categories?: string[];
}

export interface ModelVersion {
  model: string;
  version: number;
  training_job_id: string;
  dataset_id: string;
  metrics: Metrics;
  signature: { inputs: SignatureInput[]; outputs?: unknown; [extra: string]: unknown };
  artifacts: { name: string; size_bytes: number; sha256: string }[];
  aliases: string[];
  created_at: string;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TrainingJob {
  id: string;
  status: JobStatus | string;
  model: string;
  dataset: string;
  hyperparameters: Record<string, unknown>;
  progress: { epoch: number; epochs: number } | null;
  metrics: Metrics | null;
  error: string | null;
  attempts: number;
  model_version: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** One epoch's metrics as the `epoch` SSE event sends them. */
export interface EpochEvent {
  epoch: number;
  epochs?: number;
  train?: Record<string, number | null>;
  val?: Record<string, number | null>;
  lr?: number;
  seconds?: number;
  [extra: string]: unknown;
}

/** One epoch, normalised: flat metric names as the API stores them (`train_loss`, `val_accuracy`). */
export interface EpochPoint {
  epoch: number;
  epochs?: number;
  metrics: Record<string, number>;
  lr?: number;
  seconds?: number;
}

export interface Prediction {
  label?: string | number | boolean | null;
  probability?: number | null;
  probabilities?: Record<string, number> | number[] | null;
  value?: number | null;
}

export interface PredictResult {
  model: string;
  version: number;
  predictions: Prediction[];
}

export interface InferenceStats {
  rows: number;
  by_label?: Record<string, number> | null;
  positive_count?: number | null;
  positive_rate?: number | null;
  threshold?: number | null;
  [extra: string]: unknown;
}

export interface InferenceJob {
  id: string;
  status: JobStatus | string;
  model: string;
  version: number | null;
  dataset: string;
  stats: InferenceStats | null;
  error: string | null;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  [extra: string]: unknown;
}

export const FINISHED: readonly string[] = ['succeeded', 'failed', 'cancelled'];
