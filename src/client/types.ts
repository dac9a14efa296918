// The resources of the Trainyard REST API, as the CLI and the dashboard use them. They are derived
// from the types generated from the server's OpenAPI document (generated/api.d.ts, written by
// scripts/gen-client.ts), so a change in the API's schemas breaks the build of both clients, not
// their users.
import type { paths } from './generated/api.d.ts';

export type { paths } from './generated/api.d.ts';

type Method = 'get' | 'post' | 'put' | 'delete';

/** The JSON body of a path's response with that status. */
export type ResponseJson<P extends keyof paths, M extends Method, S extends number> = paths[P][M] extends { responses: infer R }
  ? S extends keyof R
    ? R[S] extends { content: { 'application/json': infer J } }
      ? J
      : never
    : never
  : never;

/** The JSON request body of a path. */
export type RequestJson<P extends keyof paths, M extends Method> = paths[P][M] extends { requestBody?: infer B }
  ? NonNullable<B> extends { content: { 'application/json': infer J } }
    ? J
    : never
  : never;

/** The query parameters of a path. */
export type QueryOf<P extends keyof paths, M extends Method> = paths[P][M] extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type Problem = ResponseJson<'/v1/datasets/{id}', 'get', 404>;
export type FieldProblem = Problem['errors'][number];

export type Dataset = ResponseJson<'/v1/datasets/{id}', 'get', 200>;
/** A dataset in a list answer: no column profiles, their count. */
export type DatasetSummary = ResponseJson<'/v1/datasets', 'get', 200>['items'][number];
export type ColumnProfile = Dataset['columns'][number];
export type DatasetPreview = ResponseJson<'/v1/datasets/{id}/preview', 'get', 200>;

export type Model = ResponseJson<'/v1/models/{name}', 'get', 200>;
export type ModelSpec = RequestJson<'/v1/models', 'post'>;
export type LayerSpec = Model['layers'][number];
export type LayerShape = Model['shapes'][number];
export type Task = Model['task'];

export type ModelVersion = ResponseJson<'/v1/models/{name}/versions/{version}', 'get', 200>;
export type SignatureInput = ModelVersion['signature']['inputs'][number];

export type TrainingJob = ResponseJson<'/v1/training-jobs/{id}', 'get', 200>;
export type TrainingJobRequest = RequestJson<'/v1/training-jobs', 'post'>;
export type Hyperparameters = NonNullable<TrainingJobRequest['hyperparameters']>;
export type TrainingJobQuery = QueryOf<'/v1/training-jobs', 'get'>;
export type JobStatus = TrainingJob['status'];
export type TrainingMetricsHistory = ResponseJson<'/v1/training-jobs/{id}/metrics', 'get', 200>;

export type TuningJob = ResponseJson<'/v1/tuning-jobs/{id}', 'get', 200>;
export type TuningJobRequest = RequestJson<'/v1/tuning-jobs', 'post'>;
export type TuningJobQuery = QueryOf<'/v1/tuning-jobs', 'get'>;
export type TuningTrials = ResponseJson<'/v1/tuning-jobs/{id}/trials', 'get', 200>;
export type TuningTrial = TuningTrials['items'][number];

export type PredictResult = ResponseJson<'/v1/models/{name}/predict', 'post', 200>;
export type Prediction = PredictResult['predictions'][number];

export type InferenceJob = ResponseJson<'/v1/inference-jobs/{id}', 'get', 200>;
export type InferenceJobRequest = RequestJson<'/v1/inference-jobs', 'post'>;
export type InferenceStats = NonNullable<InferenceJob['stats']>;

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

export const FINISHED: readonly string[] = ['succeeded', 'failed', 'cancelled'] satisfies JobStatus[];

export type MonitoringSettings = ResponseJson<'/v1/models/{name}/monitoring', 'get', 200>;
export type MonitoringSettingsRequest = RequestJson<'/v1/models/{name}/monitoring', 'put'>;
export type DriftReport = ResponseJson<'/v1/models/{name}/versions/{version}/drift', 'get', 200>;
export type FeatureDrift = DriftReport['features'][number];
export type LiveQuality = ResponseJson<'/v1/models/{name}/versions/{version}/quality', 'get', 200>;
export type Traffic = ResponseJson<'/v1/models/{name}/monitoring/traffic', 'get', 200>;
export type FeedbackItem = RequestJson<'/v1/models/{name}/feedback', 'post'>[number];
export type ExportJob = ResponseJson<'/v1/export-jobs/{id}', 'get', 200>;
export type ImportJob = ResponseJson<'/v1/import-jobs/{id}', 'get', 200>;
