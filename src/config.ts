// Configuration comes from the environment only (12-factor). Every variable is listed here with its
// default, and the README's configuration table is written from the same list.
import { resolve, join } from 'node:path';
import { availableParallelism, cpus } from 'node:os';
import { ConfigError } from './errors.ts';
import { parseAllowList, type AllowEntry } from './datasets/import/location.ts';

export type ExecutorKind = 'local' | 'queue' | 'aws-batch';
export type AuthMode = 'auto' | 'on' | 'off';

/** Where the database secret is, and what overrides its fields (TRAINYARD_DB_HOST, _PORT, _NAME; TRAINYARD_DATABASE_TLS). */
export interface DatabaseSecretRef {
  arn: string;
  overrides: Record<string, string>;
}

export interface Config {
  host: string;
  port: number;
  /** HTTP processes `trainyard server` runs (1: one process serves and runs the job loop). */
  workers: number;
  dataDir: string;
  databaseUrl: string;
  /** TRAINYARD_DATABASE_SECRET_ARN: MySQL credentials read from Secrets Manager instead of databaseUrl. */
  databaseSecret: DatabaseSecretRef | undefined;
  blobUrl: string;
  s3Endpoint: string | undefined;
  executor: ExecutorKind;
  python: string | undefined;
  maxConcurrentJobs: number;
  maxConcurrentStudies: number;
  jobStandby: boolean;
  maxUploadBytes: number;
  maxModelParameters: number;
  maxActivationElements: number;
  trainerMemoryBytes: number;
  prepareBatchRows: number;
  maxPredictRows: number;
  maxPredictBytes: number;
  maxColumns: number;
  leaseSeconds: number;
  maxAttempts: number;
  trainerThreads: number;
  modelCacheBytes: number;
  staleStagingSeconds: number;
  maxStreams: number;
  maxStreamsPerToken: number;
  auth: AuthMode;
  allowedHosts: string[];
  autoMigrate: boolean;
  logLevel: string;
  monitoringFlushMs: number;
  monitoringMaxQueuedRows: number;
  driftWarn: number;
  driftAlert: number;
  /** TRAINYARD_IMPORT_ALLOW: where POST /v1/datasets/import may read (empty: imports disabled). */
  importAllow: AllowEntry[];
  importMaxObjects: number;
  importMaxBytes: number;
  importRegion: string | undefined;
  batch: {
    jobQueue: string | undefined;
    jobDefinition: string | undefined;
    /** Where the kinds that need no accelerator go; unset: the training pair above. */
    inferenceJobQueue: string | undefined;
    inferenceJobDefinition: string | undefined;
    region: string | undefined;
  };
}

interface VariableDoc {
  name: string;
  default: string;
  description: string;
}

/** The documented variables, in the order the README lists them. */
export const CONFIG_VARIABLES: readonly VariableDoc[] = [
  { name: 'TRAINYARD_HOST', default: '127.0.0.1', description: 'Address the API listens on.' },
  { name: 'TRAINYARD_PORT', default: '8080', description: 'Port the API listens on.' },
  { name: 'TRAINYARD_WORKERS', default: 'auto', description: 'HTTP processes `trainyard server` runs, sharing the port: `auto` (one per core: `os.availableParallelism()`) or a number. The job loop and other singletons run once, in the primary process; `1` serves from the one process that runs everything.' },
  { name: 'TRAINYARD_DATA_DIR', default: './.trainyard', description: 'Where the embedded defaults keep the SQLite file, blobs and job scratch space.' },
  { name: 'TRAINYARD_DATABASE_URL', default: 'sqlite:<data dir>/trainyard.db', description: '`sqlite:/path/file.db` or `mysql://user:pass@host:3306/db`.' },
  { name: 'TRAINYARD_DATABASE_SECRET_ARN', default: '—', description: 'Instead of TRAINYARD_DATABASE_URL: a Secrets Manager secret holding an RDS MySQL credential (`username`, `password`, `host`, `port`, `dbname`), read when the pool connects and read again when MySQL refuses the login (a rotated password), so a running process survives rotation. Needs `secretsmanager:GetSecretValue` on it.' },
  { name: 'TRAINYARD_DB_HOST, TRAINYARD_DB_PORT, TRAINYARD_DB_NAME', default: '(the secret\'s)', description: 'With a database secret: override its host, port and database name.' },
  { name: 'TRAINYARD_DATABASE_TLS', default: '—', description: 'With a database secret: `rds` connects over TLS and verifies the server with the Amazon RDS CA bundle.' },
  { name: 'TRAINYARD_BLOB_URL', default: 'file://<data dir>/blobs', description: '`file:///path` or `s3://bucket/prefix`.' },
  { name: 'TRAINYARD_S3_ENDPOINT', default: '(AWS)', description: 'Endpoint of an S3-compatible server (path-style addressing is used when set).' },
  { name: 'TRAINYARD_EXECUTOR', default: 'local', description: '`local` (the server runs jobs in niced subprocesses), `queue` (servers only enqueue; `trainyard worker` runs jobs) or `aws-batch`.' },
  { name: 'TRAINYARD_PYTHON', default: 'auto-detected', description: 'A Python interpreter that can `import torch` (tries /usr/bin/python3, then python3 on PATH).' },
  { name: 'TRAINYARD_MAX_CONCURRENT_JOBS', default: '1', description: 'Jobs one server (local executor) or one worker runs at once.' },
  { name: 'TRAINYARD_MAX_CONCURRENT_STUDIES', default: '4', description: 'Tuning-study drivers one server (local executor) or one worker runs at once, besides its jobs (a driver mostly waits on its trials, which are ordinary jobs).' },
  { name: 'TRAINYARD_JOB_STANDBY', default: 'true', description: 'Whether the job loop (local executor, worker) keeps one `run-job` process started and waiting, so a job does not wait ~2 s for Node to load the job code (costs ~150 MB of memory while idle).' },
  { name: 'TRAINYARD_MAX_UPLOAD_BYTES', default: '10737418240 (10 GiB)', description: 'Largest accepted dataset upload; larger ones get 413 and nothing is kept.' },
  { name: 'TRAINYARD_MAX_MODEL_PARAMETERS', default: '50000000', description: 'Parameter budget a model definition may not exceed.' },
  { name: 'TRAINYARD_MAX_ACTIVATION_ELEMENTS', default: '268435456', description: 'Activation budget of a model: the elements its layers output for one row, summed, times the batch size (checked at POST /v1/models for one row and at submission for the batch); 400 `ACTIVATIONS_TOO_LARGE` beyond.' },
  { name: 'TRAINYARD_TRAINER_MEMORY_BYTES', default: '8589934592 (8 GiB)', description: 'Data-memory limit (`RLIMIT_DATA`: heap and private mappings, so every tensor) of each trainer process; a trainer that runs out fails its job with `OUT_OF_MEMORY` (not retried). 0: no limit.' },
  { name: 'TRAINYARD_PREPARE_BATCH_ROWS', default: '16384', description: 'Rows a training job\'s data preparation reads, fits and encodes at a time: its memory grows with this (and the columns), not with the dataset (docs/training.md).' },
  { name: 'TRAINYARD_MAX_PREDICT_ROWS', default: '10000', description: 'Most rows one real-time predict request may carry (413 beyond; use an inference job).' },
  { name: 'TRAINYARD_MAX_PREDICT_BYTES', default: '33554432 (32 MiB)', description: 'Largest real-time predict body (JSON or CSV); 413 beyond.' },
  { name: 'TRAINYARD_MAX_COLUMNS', default: '4096', description: 'Most columns a dataset upload may have, and most distinct keys the rows of one predict request may name (400 beyond).' },
  { name: 'TRAINYARD_LEASE_SECONDS', default: '30', description: 'Job lease length; a worker renews it by heartbeat every third of it.' },
  { name: 'TRAINYARD_MAX_ATTEMPTS', default: '3', description: 'Attempts a job gets when its worker is lost before it is failed.' },
  { name: 'TRAINYARD_TRAINER_THREADS', default: 'cores − 1 (min 1)', description: 'Torch intra-op and OpenBLAS threads for the trainer.' },
  { name: 'TRAINYARD_MODEL_CACHE_BYTES', default: '536870912 (512 MiB)', description: 'Upper bound on ONNX sessions kept in memory (LRU by model size), in each HTTP process (see TRAINYARD_WORKERS).' },
  { name: 'TRAINYARD_STALE_STAGING_SECONDS', default: '3600', description: 'Blob staging not written to for this long (a file store temp file, an S3 multipart upload started this long ago) is left from a write that never finished: every server removes it at start and then periodically. See also `trainyard gc`.' },
  { name: 'TRAINYARD_MAX_STREAMS', default: '256', description: 'Job event streams (SSE) one server keeps open at once; 429 `TOO_MANY_STREAMS` beyond.' },
  { name: 'TRAINYARD_MAX_STREAMS_PER_TOKEN', default: '16', description: 'Job event streams one API token (or, with auth off, all clients together) may hold open on one server; 429 beyond.' },
  { name: 'TRAINYARD_AUTH', default: 'auto', description: '`auto` (on unless listening on loopback), `on` or `off`.' },
  { name: 'TRAINYARD_ALLOWED_HOSTS', default: '—', description: 'With auth off: comma-separated host names, besides `localhost`, `*.localhost` and IP addresses, that requests may name in `Host` (others get 403, against DNS rebinding).' },
  { name: 'TRAINYARD_AUTO_MIGRATE', default: 'true', description: 'Whether `trainyard server` applies migrations on start.' },
  { name: 'TRAINYARD_LOG_LEVEL', default: 'info', description: 'pino log level.' },
  { name: 'TRAINYARD_MONITORING_FLUSH_MS', default: '2000', description: 'How often each process writes the prediction logs it buffered (what a `kill -9` can lose).' },
  { name: 'TRAINYARD_MONITORING_MAX_QUEUED_ROWS', default: '50000', description: 'Logged rows one process buffers at most; beyond, rows are dropped and counted, never waited for.' },
  { name: 'TRAINYARD_DRIFT_WARN', default: '0.1', description: 'PSI from which a feature is `warn` in drift reports.' },
  { name: 'TRAINYARD_DRIFT_ALERT', default: '0.2', description: 'PSI from which a feature is `drift` in drift reports.' },
  { name: 'TRAINYARD_IMPORT_ALLOW', default: '— (imports disabled)', description: 'Comma-separated `s3://bucket/prefix` entries that `POST /v1/datasets/import` may read from; anything else is 403 `IMPORT_NOT_ALLOWED`. An entry is a folder: `s3://b/data` allows `s3://b/data/…`, not `s3://b/data-secret/…`; `s3://b` allows the whole bucket. The objects are read with the server\'s or worker\'s own AWS credentials (the default chain).' },
  { name: 'TRAINYARD_IMPORT_MAX_OBJECTS', default: '10000', description: 'Most objects one import may read; an import matching more fails (nothing kept).' },
  { name: 'TRAINYARD_IMPORT_MAX_BYTES', default: '107374182400 (100 GiB)', description: 'Most bytes one import may read, all objects together; an import over it fails (nothing kept).' },
  { name: 'TRAINYARD_IMPORT_REGION', default: 'AWS_REGION', description: 'Region of the import client (a bucket in another region is followed by redirect). `TRAINYARD_S3_ENDPOINT` applies to imports too.' },
  { name: 'TRAINYARD_BATCH_JOB_QUEUE', default: '—', description: 'AWS Batch job queue of training jobs (aws-batch executor; a GPU queue when training uses GPUs).' },
  { name: 'TRAINYARD_BATCH_JOB_DEFINITION', default: '—', description: 'AWS Batch job definition of training jobs (aws-batch executor).' },
  { name: 'TRAINYARD_BATCH_INFERENCE_JOB_QUEUE', default: '(TRAINYARD_BATCH_JOB_QUEUE)', description: 'AWS Batch job queue of every kind that needs no GPU: inference, tuning study drivers, monitoring exports. Set together with the definition below, or neither (both then fall back to the training pair).' },
  { name: 'TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION', default: '(TRAINYARD_BATCH_JOB_DEFINITION)', description: 'AWS Batch job definition of those kinds.' },
  { name: 'AWS_REGION', default: '—', description: 'Region for S3 and Batch clients.' },
];

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  }
  return value;
}

function decimal(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(`${name} must be a number ≥ 0, got "${raw}"`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

/** TRAINYARD_WORKERS: `auto` (the default) is one HTTP process per core the process may use. */
function workerCount(env: Env): number {
  const raw = env.TRAINYARD_WORKERS;
  if (raw === undefined || raw === '' || raw === 'auto') return availableParallelism();
  return integer(env, 'TRAINYARD_WORKERS', 1, 1);
}

function importAllowList(env: Env): AllowEntry[] {
  const entries = (env.TRAINYARD_IMPORT_ALLOW ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
  try {
    return parseAllowList(entries);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

/** The variables that locate the database through a secret (TRAINYARD_DATABASE_SECRET_ARN). */
const SECRET_OVERRIDES = ['TRAINYARD_DB_HOST', 'TRAINYARD_DB_PORT', 'TRAINYARD_DB_NAME', 'TRAINYARD_DATABASE_TLS'] as const;

function databaseSecret(env: Env): DatabaseSecretRef | undefined {
  const arn = env.TRAINYARD_DATABASE_SECRET_ARN;
  if (!arn) return undefined;
  if (env.TRAINYARD_DATABASE_URL) throw new ConfigError('set TRAINYARD_DATABASE_URL or TRAINYARD_DATABASE_SECRET_ARN, not both');
  const tls = env.TRAINYARD_DATABASE_TLS;
  if (tls && tls !== 'rds') throw new ConfigError(`TRAINYARD_DATABASE_TLS must be "rds" or unset, got "${tls}"`);
  return { arn, overrides: Object.fromEntries(SECRET_OVERRIDES.flatMap((name) => (env[name] ? [[name, env[name]]] : []))) };
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = resolve(env.TRAINYARD_DATA_DIR || './.trainyard');
  return {
    host: env.TRAINYARD_HOST || '127.0.0.1',
    port: integer(env, 'TRAINYARD_PORT', 8080),
    workers: workerCount(env),
    dataDir,
    databaseUrl: env.TRAINYARD_DATABASE_URL || `sqlite:${join(dataDir, 'trainyard.db')}`,
    databaseSecret: databaseSecret(env),
    blobUrl: env.TRAINYARD_BLOB_URL || `file://${join(dataDir, 'blobs')}`,
    s3Endpoint: env.TRAINYARD_S3_ENDPOINT || undefined,
    executor: oneOf(env, 'TRAINYARD_EXECUTOR', ['local', 'queue', 'aws-batch'] as const, 'local'),
    python: env.TRAINYARD_PYTHON || undefined,
    maxConcurrentJobs: integer(env, 'TRAINYARD_MAX_CONCURRENT_JOBS', 1, 1),
    maxConcurrentStudies: integer(env, 'TRAINYARD_MAX_CONCURRENT_STUDIES', 4, 0),
    jobStandby: env.TRAINYARD_JOB_STANDBY !== 'false',
    maxUploadBytes: integer(env, 'TRAINYARD_MAX_UPLOAD_BYTES', 10 * 1024 ** 3, 1),
    maxModelParameters: integer(env, 'TRAINYARD_MAX_MODEL_PARAMETERS', 50_000_000, 1),
    maxActivationElements: integer(env, 'TRAINYARD_MAX_ACTIVATION_ELEMENTS', 2 ** 28, 1),
    trainerMemoryBytes: integer(env, 'TRAINYARD_TRAINER_MEMORY_BYTES', 8 * 1024 ** 3, 0),
    prepareBatchRows: integer(env, 'TRAINYARD_PREPARE_BATCH_ROWS', 16_384, 1),
    maxPredictRows: integer(env, 'TRAINYARD_MAX_PREDICT_ROWS', 10_000, 1),
    maxPredictBytes: integer(env, 'TRAINYARD_MAX_PREDICT_BYTES', 32 * 1024 ** 2, 1),
    maxColumns: integer(env, 'TRAINYARD_MAX_COLUMNS', 4096, 1),
    leaseSeconds: integer(env, 'TRAINYARD_LEASE_SECONDS', 30, 1),
    maxAttempts: integer(env, 'TRAINYARD_MAX_ATTEMPTS', 3, 1),
    trainerThreads: integer(env, 'TRAINYARD_TRAINER_THREADS', Math.max(1, cpus().length - 1), 1),
    modelCacheBytes: integer(env, 'TRAINYARD_MODEL_CACHE_BYTES', 512 * 1024 ** 2, 1),
    staleStagingSeconds: integer(env, 'TRAINYARD_STALE_STAGING_SECONDS', 3600, 60),
    maxStreams: integer(env, 'TRAINYARD_MAX_STREAMS', 256, 1),
    maxStreamsPerToken: integer(env, 'TRAINYARD_MAX_STREAMS_PER_TOKEN', 16, 1),
    auth: oneOf(env, 'TRAINYARD_AUTH', ['auto', 'on', 'off'] as const, 'auto'),
    allowedHosts: (env.TRAINYARD_ALLOWED_HOSTS ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== ''),
    autoMigrate: env.TRAINYARD_AUTO_MIGRATE !== 'false',
    logLevel: env.TRAINYARD_LOG_LEVEL || 'info',
    monitoringFlushMs: integer(env, 'TRAINYARD_MONITORING_FLUSH_MS', 2000, 10),
    monitoringMaxQueuedRows: integer(env, 'TRAINYARD_MONITORING_MAX_QUEUED_ROWS', 50_000, 1),
    driftWarn: decimal(env, 'TRAINYARD_DRIFT_WARN', 0.1),
    driftAlert: decimal(env, 'TRAINYARD_DRIFT_ALERT', 0.2),
    importAllow: importAllowList(env),
    importMaxObjects: integer(env, 'TRAINYARD_IMPORT_MAX_OBJECTS', 10_000, 1),
    importMaxBytes: integer(env, 'TRAINYARD_IMPORT_MAX_BYTES', 100 * 1024 ** 3, 1),
    importRegion: env.TRAINYARD_IMPORT_REGION || env.AWS_REGION || undefined,
    batch: {
      jobQueue: env.TRAINYARD_BATCH_JOB_QUEUE || undefined,
      jobDefinition: env.TRAINYARD_BATCH_JOB_DEFINITION || undefined,
      inferenceJobQueue: env.TRAINYARD_BATCH_INFERENCE_JOB_QUEUE || undefined,
      inferenceJobDefinition: env.TRAINYARD_BATCH_INFERENCE_JOB_DEFINITION || undefined,
      region: env.AWS_REGION || undefined,
    },
  };
}

/** The environment a job process needs to reach the same stores (run-job on a worker or in Batch). */
export function storeEnvironment(config: Config): Record<string, string> {
  const database: Record<string, string> = config.databaseSecret
    ? { TRAINYARD_DATABASE_SECRET_ARN: config.databaseSecret.arn, ...config.databaseSecret.overrides }
    : { TRAINYARD_DATABASE_URL: config.databaseUrl };
  const env: Record<string, string> = {
    TRAINYARD_DATA_DIR: config.dataDir,
    ...database,
    TRAINYARD_BLOB_URL: config.blobUrl,
    TRAINYARD_LEASE_SECONDS: String(config.leaseSeconds),
    TRAINYARD_MAX_ATTEMPTS: String(config.maxAttempts),
    TRAINYARD_TRAINER_THREADS: String(config.trainerThreads),
    TRAINYARD_LOG_LEVEL: config.logLevel,
  };
  env.TRAINYARD_IMPORT_ALLOW = config.importAllow.map((e) => `s3://${e.bucket}${e.folder ? `/${e.folder}` : ''}`).join(',');
  env.TRAINYARD_IMPORT_MAX_OBJECTS = String(config.importMaxObjects);
  env.TRAINYARD_IMPORT_MAX_BYTES = String(config.importMaxBytes);
  if (config.importRegion) env.TRAINYARD_IMPORT_REGION = config.importRegion;
  if (config.s3Endpoint) env.TRAINYARD_S3_ENDPOINT = config.s3Endpoint;
  if (config.python) env.TRAINYARD_PYTHON = config.python;
  return env;
}
