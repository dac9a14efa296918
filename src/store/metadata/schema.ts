// Row types of the metadata database, shared by both dialects. JSON columns hold text; times are
// ISO 8601 UTC strings (they sort correctly as text); lease expiry is epoch milliseconds so that
// the claim statement can compare it with a number.
import type { Generated } from 'kysely';

export interface DatasetTable {
  id: string;
  name: string;
  version: number;
  status: string;
  format: string;
  delimiter: string;
  size_bytes: number;
  sha256: string;
  row_count: number;
  columns_json: string;
  blob_key: string;
  /** The columnar copy (ColumnarInfo as JSON), or null: read the CSV. Migration 0002. */
  columnar_json: string | null;
  /** Columns in columns_json (list answers leave the profiles out). Migration 0007. */
  column_count: number | null;
  created_at: string;
}

export interface ModelTable {
  id: string;
  name: string;
  description: string | null;
  spec_json: string;
  created_at: string;
}

export interface ModelVersionTable {
  id: string;
  model_name: string;
  version: number;
  training_job_id: string;
  dataset_id: string;
  metrics_json: string;
  signature_json: string;
  artifacts_json: string;
  blob_prefix: string;
  /** Warm start: the version training began from, JSON {model, version}; null otherwise. Migration 0004. */
  init_from_json: string | null;
  created_at: string;
}

export interface ModelAliasTable {
  model_name: string;
  alias: string;
  version: number;
  updated_at: string;
}

export interface JobTable {
  id: string;
  /** Whatever string a runner registered (src/jobs/runner.ts); at most 32 characters. */
  kind: string;
  status: string;
  /** The model and dataset the job refers to; null for kinds that need none (migration 0003). */
  model_name: string | null;
  dataset_id: string | null;
  model_version: number | null;
  spec_json: string;
  progress_json: string | null;
  metrics_json: string | null;
  stats_json: string | null;
  error: string | null;
  error_code: string | null;
  attempts: number;
  max_attempts: number;
  cancel_requested: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  external_id: string | null;
  /** The tuning study a trial's training job belongs to. Migration 0006. */
  study_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

export interface JobMetricTable {
  job_id: string;
  epoch: number;
  metrics_json: string;
  created_at: string;
}

/** A training job's stored checkpoints (src/training/checkpoints.ts). Migration 0004. */
export interface JobCheckpointTable {
  job_id: string;
  seq: number;
  attempt: number;
  epoch: number;
  batch: number;
  blob_key: string;
  sha256: string;
  bytes: number;
  created_at: string;
}

export interface JobEventTable {
  seq: Generated<number>;
  job_id: string;
  type: string;
  data_json: string;
  created_at: string;
}

export interface TuningTrialTable {
  study_id: string;
  number: number;
  job_id: string;
  /** running | succeeded | failed | pruned | cancelled */
  state: string;
  params_json: string;
  objective: number | null;
  epochs_run: number | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface ApiTokenTable {
  id: string;
  name: string;
  scope: string;
  token_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** Monitoring settings of a model (migration 0008); no row = monitoring off. */
export interface ModelMonitoringTable {
  model_name: string;
  log_sample_rate: number;
  retention_days: number;
  updated_at: string;
}

/** One logged prediction row, compact: what feedback joins on and live quality is computed from. */
export interface PredictionRecordTable {
  model_name: string;
  request_id: string;
  row_index: number;
  version: number;
  logged_at: string;
  /** Classifiers: the predicted label; null for regression. */
  predicted_label: string | null;
  /** Binary: probability of the positive class; multiclass: of the predicted label; regression: the value. */
  predicted_value: number;
  /** The true label from feedback (text; a number for regression), once it arrives. */
  label: string | null;
  labelled_at: string | null;
}

/** Live histogram counts: one row per version, hour (`YYYY-MM-DDTHH`), feature and bin. */
export interface DriftBinTable {
  model_name: string;
  version: number;
  hour: string;
  feature: string;
  bin: number;
  count: number;
}

export interface Database {
  datasets: DatasetTable;
  models: ModelTable;
  model_versions: ModelVersionTable;
  model_aliases: ModelAliasTable;
  jobs: JobTable;
  job_metrics: JobMetricTable;
  job_checkpoints: JobCheckpointTable;
  job_events: JobEventTable;
  api_tokens: ApiTokenTable;
  tuning_trials: TuningTrialTable;
  model_monitoring: ModelMonitoringTable;
  prediction_records: PredictionRecordTable;
  drift_bins: DriftBinTable;
}
