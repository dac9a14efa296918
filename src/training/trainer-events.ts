// The trainer's output: one JSON object per line on its stdout (trainer/README.md). The union below
// is the contract both sides share: the Python trainer's tests check every event it prints against
// the generated contracts/trainer-events.schema.json, and the platform checks each line it reads.
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { JOB_ERROR_CODES, TRAINER_ERROR_CODES, type TrainerErrorCode } from '../jobs/errors.ts';

const Count = Type.Integer({ minimum: 0 });
const Seconds = Type.Number({ minimum: 0 });
/** Metric values by name; null where a metric is undefined (AUC with one class present, R² of a constant target). */
const Metrics = Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()]));

const event = <K extends string, P extends Parameters<typeof Type.Object>[0]>(name: K, properties: P, description: string) =>
  Type.Object({ event: Type.Literal(name), ...properties }, { additionalProperties: false, title: name, description });

export const TrainerStartedEvent = event(
  'started',
  {
    torch_version: Type.String(),
    device: Type.String({ description: 'torch device the run uses, e.g. cpu or cuda.' }),
    threads: Type.Integer({ minimum: 1 }),
    thread_env: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), { description: 'OMP/OPENBLAS/MKL_NUM_THREADS as the trainer saw them.' }),
    train_rows: Count,
    val_rows: Count,
    parameters: Count,
  },
  'The data is loaded and the network built; training begins.',
);

export const TrainerEpochEvent = event(
  'epoch',
  {
    epoch: Type.Integer({ minimum: 1 }),
    epochs: Type.Integer({ minimum: 1 }),
    train: Metrics,
    val: Metrics,
    lr: Type.Number({ description: 'The learning rate used during this epoch.' }),
    seconds: Type.Number({ minimum: 0, description: 'The whole epoch: training, train metrics, validation.' }),
    train_seconds: Type.Number({ minimum: 0, description: 'The batch loop alone.' }),
  },
  'One epoch finished.',
);

export const TrainerLogEvent = event(
  'log',
  { level: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('error')]), message: Type.String() },
  'A message for the job log.',
);

export const TrainerExportedEvent = event(
  'exported',
  { artifacts: Type.Array(Type.String({ minLength: 1 })), seconds: Seconds },
  'The artifacts are written to the output folder.',
);

export const TrainerCompletedEvent = event(
  'completed',
  {
    best_epoch: Type.Integer({ minimum: 1, description: 'The exported epoch (best by the monitor).' }),
    epochs_run: Type.Integer({ minimum: 1 }),
    stopped_early: Type.Boolean(),
    truncated: Type.Boolean({ description: 'Stopped by a signal or max_runtime_seconds; the best epoch so far was exported.' }),
    metrics: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()]), { description: 'The best epoch’s metrics, flat: train_loss, val_accuracy, …' }),
  },
  'Training is over and the artifacts are exported; the trainer exits 0.',
);

export const TrainerFailedEvent = event(
  'failed',
  {
    code: Type.Unsafe<TrainerErrorCode>(
      Type.Union(TRAINER_ERROR_CODES.map((code) => Type.Literal(code, { description: JOB_ERROR_CODES[code].title })), {
        description: 'A code of the job-error registry that the trainer reports (contracts/job-errors.json).',
      }),
    ),
    message: Type.String(),
  },
  'A failure the user can act on; the trainer exits with the user-error code.',
);

export const TrainerCheckpointEvent = event(
  'checkpoint',
  {
    file: Type.String({ minLength: 1, description: 'The checkpoint, relative to the job folder; written atomically (temp file, fsync, rename) before this event.' }),
    epoch: Type.Integer({ minimum: 0, description: 'Epochs completed.' }),
    batch: Type.Integer({ minimum: 0, description: 'Batches of the next epoch already trained (0: at an epoch boundary; more after a SIGTERM mid-epoch).' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    bytes: Count,
  },
  'A checkpoint was saved; the platform verifies and stores it.',
);

export const TrainerResumedEvent = event(
  'resumed',
  {
    file: Type.String({ minLength: 1, description: 'The checkpoint the run resumed from (one of job.json `resume`).' }),
    epoch: Type.Integer({ minimum: 0, description: 'Epochs completed before this run; it continues with the next.' }),
    batch: Type.Integer({ minimum: 0 }),
  },
  'The run continues from a checkpoint of an earlier attempt.',
);

export const TrainerCheckedEvent = event(
  'checked',
  {
    parameters: Count,
    torch_version: Type.String(),
    output_shape: Type.Tuple([Type.Literal('batch'), Type.Integer({ minimum: 1 })]),
  },
  'The `check` command built the network and ran two rows through it.',
);

export const TrainerEventSchema = Type.Union(
  [
    TrainerStartedEvent,
    TrainerEpochEvent,
    TrainerLogEvent,
    TrainerExportedEvent,
    TrainerCompletedEvent,
    TrainerFailedEvent,
    TrainerCheckedEvent,
    TrainerCheckpointEvent,
    TrainerResumedEvent,
  ],
  { title: 'TrainerEvent', description: 'One line of the trainer’s stdout.' },
);
export type TrainerEvent = Static<typeof TrainerEventSchema>;
export type TrainerEventOf<K extends TrainerEvent['event']> = Extract<TrainerEvent, { event: K }>;

const checkEvent = Compile(TrainerEventSchema);
const EVENT_SCHEMAS = new Map(TrainerEventSchema.anyOf.map((schema) => [schema.properties.event.const as string, Compile(schema)]));

/** Parses one stdout line: the event, or why it is not one (not JSON, or not an event of the contract). */
export function parseTrainerEvent(line: string): { event: TrainerEvent } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  if (checkEvent.Check(value)) return { event: value };
  const kind = (value as { event?: unknown } | null)?.event;
  const variant = typeof kind === 'string' ? EVENT_SCHEMAS.get(kind) : undefined;
  if (!variant) return { error: `${JSON.stringify(kind) ?? 'no'} event kind is not one of ${[...EVENT_SCHEMAS.keys()].join(', ')}` };
  const first = variant.Errors(value)[0];
  return { error: `"${String(kind)}" event: ${first ? `${first.instancePath || '/'} ${first.message}` : 'does not match the contract'}` };
}
