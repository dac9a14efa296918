// Where things live in the blob store: every key the platform reads or writes is built here, so
// the layout is written down once (docs/stores.md describes it for operators).
//
//   datasets/<dataset id>/data.csv              the uploaded file, byte for byte: data.csv,
//                                               data.parquet or data.jsonl by its format
//   datasets/<dataset id>/columns.bin           its columnar copy (src/datasets/columnar/)
//   models/<model>/<job id>-a<attempt>/<name>   one training attempt's artifacts (model.onnx,
//                                               manifest.json, …); a version records the prefix
//   jobs/<job id>/log.txt                       a job's log, once it has ended
//   jobs/<job id>/predictions.csv               a batch inference job's output
//   jobs/<job id>/checkpoints/<seq>-e<epoch>.pt  a running training job's checkpoints (the last two;
//                                               all deleted when the job ends)
//   monitoring/<model>/logs/<YYYY-MM-DDTHH>/<ms>-<writer>-<seq>.jsonl
//                                               prediction-log parts, by hour (src/monitoring/)
//
// Deleting a dataset removes its whole prefix; a model version's artifacts go with its prefix.

/** Everything stored for a dataset. */
export const datasetPrefix = (datasetId: string): string => `datasets/${datasetId}`;
/** The uploaded CSV of a dataset. */
export const datasetCsvKey = (datasetId: string): string => `${datasetPrefix(datasetId)}/data.csv`;
/** The uploaded file of a dataset of any format (csv, parquet, jsonl): `data.<format>`. */
export const datasetOriginalKey = (datasetId: string, format: 'csv' | 'parquet' | 'jsonl'): string => `${datasetPrefix(datasetId)}/data.${format}`;
/** The columnar copy of a dataset. */
export const datasetColumnarKey = (datasetId: string): string => `${datasetPrefix(datasetId)}/columns.bin`;

/** The artifacts of one attempt of a training job (a model version keeps the prefix it was recorded with). */
export const trainingAttemptPrefix = (model: string, jobId: string, attempt: number): string => `models/${model}/${jobId}-a${attempt}`;
/** One artifact under a version's (or attempt's) prefix. */
export const artifactKey = (prefix: string, name: string): string => `${prefix}/${name}`;

/** A job's log, written when the job ends (any kind). */
export const jobLogKey = (jobId: string): string => `jobs/${jobId}/log.txt`;
/** A training job's checkpoints, while it runs. */
export const jobCheckpointsPrefix = (jobId: string): string => `jobs/${jobId}/checkpoints`;
/** One checkpoint: its sequence number in the job, and the epochs it completed. */
export const jobCheckpointKey = (jobId: string, seq: number, epoch: number): string => `${jobCheckpointsPrefix(jobId)}/${seq}-e${epoch}.pt`;
/** The predictions CSV of a batch inference job. */
export const predictionsKey = (jobId: string): string => `jobs/${jobId}/predictions.csv`;

/**
 * The row a key belongs to, read back from the layout above (trainyard gc): a dataset, a job, or a
 * training attempt (its job id; the prefix is what a version records), or a job's checkpoints (kept
 * only while the job is queued or running). undefined for any other key.
 */
export function ownerOfKey(key: string): { prefix: string; kind: 'dataset' | 'job' | 'job-checkpoints' | 'model-version'; id: string } | undefined {
  const parts = key.split('/');
  if (parts[0] === 'datasets' && parts.length >= 3) return { prefix: datasetPrefix(parts[1]), kind: 'dataset', id: parts[1] };
  if (parts[0] === 'jobs' && parts[2] === 'checkpoints' && parts.length >= 4) return { prefix: jobCheckpointsPrefix(parts[1]), kind: 'job-checkpoints', id: parts[1] };
  if (parts[0] === 'jobs' && parts.length >= 3) return { prefix: `jobs/${parts[1]}`, kind: 'job', id: parts[1] };
  if (parts[0] === 'models' && parts.length >= 4) {
    const match = /^(job_[0-9a-z]{26})-a(\d+)$/.exec(parts[2]);
    if (match) return { prefix: trainingAttemptPrefix(parts[1], match[1], Number(match[2])), kind: 'model-version', id: match[1] };
  }
  return undefined;
}

/** Everything monitoring keeps in the blob store for a model (its prediction-log parts). */
export const predictionLogPrefix = (model: string): string => `monitoring/${model}/logs`;
/** One prediction-log part: an hour folder (`YYYY-MM-DDTHH`), then a name unique to its writer. */
export const predictionLogPartKey = (model: string, hour: string, name: string): string => `${predictionLogPrefix(model)}/${hour}/${name}.jsonl`;
/** The hour folder of a prediction-log part key, or undefined for a key that is not a part. */
export function predictionLogPartHour(key: string): string | undefined {
  return /\/logs\/(\d{4}-\d{2}-\d{2}T\d{2})\/[^/]+\.jsonl$/.exec(key)?.[1];
}
