// One registry of Trainyard error codes. Each code has a fixed HTTP status and title; the API turns
// any TrainyardError into an RFC 9457 problem+json in one place (src/api/problem.ts), and
// docs/errors.md documents every code (a test keeps the two in step).

export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: 'Request validation failed' },
  INVALID_NAME: { status: 400, title: 'Invalid name' },
  MISSING_FILE: { status: 400, title: 'No file in the request' },
  EMPTY_FILE: { status: 400, title: 'The file is empty' },
  CSV_HEADER_ONLY: { status: 400, title: 'The CSV has a header but no rows' },
  CSV_BAD_HEADER: { status: 400, title: 'The CSV header is invalid' },
  CSV_RAGGED_ROW: { status: 400, title: 'A CSV row has the wrong number of fields' },
  CSV_UNTERMINATED_QUOTE: { status: 400, title: 'A quoted CSV field is never closed' },
  BINARY_FILE: { status: 400, title: 'The file is binary, not text' },
  NOT_UTF8: { status: 400, title: 'The file is not valid UTF-8' },
  INVALID_PARQUET: { status: 400, title: 'The file is not a readable Parquet file' },
  INVALID_JSONL: { status: 400, title: 'A JSON Lines line is not a flat JSON object' },
  SCHEMA_MISMATCH: { status: 400, title: 'The files of one import have different columns' },
  UNSUPPORTED_COLUMN: { status: 400, title: 'A column has a type Trainyard does not read' },
  UPLOAD_ABORTED: { status: 400, title: 'The upload ended before the file was complete' },
  UPLOAD_TOO_LARGE: { status: 413, title: 'The upload is larger than the configured limit' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  INVALID_IMPORT_URL: { status: 400, title: 'The import URL is not a usable s3:// location' },
  IMPORT_NOT_ALLOWED: { status: 403, title: 'The location is outside the allowed import locations' },
  INVALID_MODEL_SPEC: { status: 400, title: 'The model definition is invalid' },
  MODEL_TOO_LARGE: { status: 400, title: 'The model has more parameters than allowed' },
  ACTIVATIONS_TOO_LARGE: { status: 400, title: 'The model would need more activation memory than allowed' },
  INCOMPATIBLE_DATASET: { status: 400, title: 'The model cannot be trained on this dataset' },
  INIT_FROM_MISMATCH: { status: 400, title: 'The version to start from does not fit this training job' },
  INVALID_SEARCH_SPACE: { status: 400, title: 'The tuning study is invalid' },
  DATASET_NOT_READY: { status: 409, title: 'The dataset is not ready' },
  INVALID_INPUT: { status: 400, title: 'The prediction input does not match the model signature' },
  TOO_MANY_ROWS: { status: 413, title: 'Too many rows for one request' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  TOO_MANY_STREAMS: { status: 429, title: 'Too many open event streams' },
  ALREADY_EXISTS: { status: 409, title: 'Already exists' },
  IN_USE: { status: 409, title: 'The resource is in use' },
  JOB_FINISHED: { status: 409, title: 'The job has already finished' },
  OUTPUT_NOT_READY: { status: 409, title: 'The job has no output yet' },
  NO_BASELINE: { status: 409, title: 'The model version has no drift baseline' },
  UNKNOWN_PREDICTION: { status: 400, title: 'Feedback names a prediction that was not logged' },
  UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'The token does not allow this' },
  UNTRUSTED_ORIGIN: { status: 403, title: 'Refused: foreign Host or Origin while authentication is off' },
  MODEL_UNAVAILABLE: { status: 500, title: 'The model version cannot be loaded' },
  STORE_UNAVAILABLE: { status: 503, title: 'A backing store is unavailable' },
  INTERNAL: { status: 500, title: 'Internal server error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One offending field, row or line. `field` is a JSON pointer-ish path or a column name. */
export interface FieldError {
  field: string;
  message: string;
  line?: number;
  row?: number;
}

export class TrainyardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[];

  constructor(code: ErrorCode, detail: string, options: { errors?: FieldError[]; cause?: unknown } = {}) {
    super(detail, { cause: options.cause });
    this.name = 'TrainyardError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.errors = options.errors ?? [];
  }
}

export function problemType(code: ErrorCode): string {
  return `urn:trainyard:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

export const notFound = (what: string, id: string): TrainyardError =>
  new TrainyardError('NOT_FOUND', `${what} "${id}" does not exist`);

/** Raised by configuration parsing; the CLI prints it and exits non-zero. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
