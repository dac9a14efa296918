// POST /v1/tuning-jobs: the request schema, the objective, and the study spec stored with the job.
import { Type, type Static } from 'typebox';
import { TrainyardError } from '../errors.ts';
import type { ModelSpec, Task } from '../models/spec.ts';
import { HyperparametersSchema, type HyperparametersInput } from '../training/hyperparameters.ts';
import { SearchSpaceBodySchema, STRATEGIES, type SearchSpace, type Strategy } from './search-space.ts';

/** Documented limits of one study. */
export const STUDY_LIMITS = { maxTrials: 1000, maxParallel: 64 } as const;

/** The per-epoch metrics the trainer reports, by task (trainer/trainyard_trainer/spec.py TASK_METRICS). */
export const TASK_METRICS: Readonly<Record<Task, readonly string[]>> = {
  binary_classification: ['loss', 'accuracy', 'precision', 'recall', 'f1', 'roc_auc'],
  multiclass_classification: ['loss', 'accuracy', 'macro_f1'],
  regression: ['loss', 'rmse', 'mae', 'r2'],
};
/** Metrics where smaller is better (spec.py MIN_MODE_METRICS); the others are better larger. */
export const MINIMIZED_METRICS: readonly string[] = ['loss', 'rmse', 'mae'];

export type Direction = 'minimize' | 'maximize';

const PruningSchema = Type.Object(
  {
    rule: Type.Union([Type.Literal('median'), Type.Literal('successive_halving')], {
      description: 'median: stop a trial whose objective at an epoch is worse than the median of finished trials at that epoch. successive_halving: keep the best 1/reduction_factor at epochs min_epochs·reduction_factorᵏ.',
    }),
    warmup_epochs: Type.Optional(Type.Integer({ minimum: 0, description: 'median: epochs never pruned. Default 2.' })),
    startup_trials: Type.Optional(Type.Integer({ minimum: 0, description: 'median: finished trials needed before pruning starts. Default 4.' })),
    min_epochs: Type.Optional(Type.Integer({ minimum: 1, description: 'successive_halving: the first rung. Default 1.' })),
    reduction_factor: Type.Optional(Type.Integer({ minimum: 2, maximum: 10, description: 'successive_halving: default 3.' })),
  },
  { additionalProperties: false },
);

export const TuningJobBody = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'Model name: its layers are the base the search space varies.' }),
    dataset: Type.String({ minLength: 1, description: 'Dataset id, name (newest version) or name@version' }),
    hyperparameters: Type.Optional(HyperparametersSchema),
    search_space: SearchSpaceBodySchema,
    strategy: Type.Optional(Type.Union(STRATEGIES.map((s) => Type.Literal(s)) as [ReturnType<typeof Type.Literal<'random'>>, ReturnType<typeof Type.Literal<'grid'>>, ReturnType<typeof Type.Literal<'tpe'>>], { description: 'Default tpe.' })),
    objective: Type.Object(
      {
        metric: Type.String({ minLength: 1, description: 'A per-epoch metric of the task, e.g. val_loss, val_accuracy, val_rmse.' }),
        direction: Type.Optional(Type.Union([Type.Literal('minimize'), Type.Literal('maximize')], { description: 'Default: minimize for loss, rmse and mae; maximize otherwise.' })),
      },
      { additionalProperties: false },
    ),
    max_trials: Type.Integer({ minimum: 1, maximum: STUDY_LIMITS.maxTrials, description: `Trials to run (1–${STUDY_LIMITS.maxTrials}); a grid stops when it is exhausted.` }),
    max_parallel: Type.Optional(Type.Integer({ minimum: 1, maximum: STUDY_LIMITS.maxParallel, description: 'Trials running at once. Default 1.' })),
    max_runtime_seconds: Type.Optional(Type.Integer({ minimum: 1, description: 'Stop starting trials after this long, cancel running ones and end the study.' })),
    pruning: Type.Optional(Type.Union([PruningSchema, Type.Null()], { description: 'Stop trials that are clearly behind (recorded as pruned). Default none.' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Sampler seed. Default 0: a study is reproducible.' })),
    alias: Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9._-]{0,99}$', description: 'Point this alias of the model at the best trial’s version when the study ends.' })),
  },
  { additionalProperties: false },
);
export type TuningJobRequest = Static<typeof TuningJobBody>;

export type PruningSpec =
  | { rule: 'median'; warmup_epochs: number; startup_trials: number }
  | { rule: 'successive_halving'; min_epochs: number; reduction_factor: number };

/** What the study job carries (its spec_json): everything the driver needs, resolved. */
export interface StudySpec {
  study: true;
  model: ModelSpec;
  /** The trials' base hyperparameters (not `hyperparameters`: the job engine reads that key for a job's own runtime limit). */
  base_hyperparameters: HyperparametersInput;
  search_space: SearchSpace;
  strategy: Strategy;
  objective: { metric: string; direction: Direction };
  max_trials: number;
  max_parallel: number;
  max_runtime_seconds: number | null;
  pruning: PruningSpec | null;
  seed: number;
  alias: string | null;
}

export function resolveObjective(input: TuningJobRequest['objective'], task: Task): { metric: string; direction: Direction } {
  const match = /^(val|train)_(.+)$/.exec(input.metric);
  const metrics = TASK_METRICS[task];
  if (!match || !metrics.includes(match[2])) {
    const message = `is not a metric ${task} reports; use one of ${metrics.map((m) => `val_${m}`).join(', ')} (or train_*)`;
    throw new TrainyardError('INVALID_SEARCH_SPACE', `objective.metric "${input.metric}" ${message}`, { errors: [{ field: 'objective.metric', message }] });
  }
  const natural: Direction = MINIMIZED_METRICS.includes(match[2]) ? 'minimize' : 'maximize';
  if (input.direction && input.direction !== natural) {
    const message = `${input.metric} is better when ${natural === 'minimize' ? 'smaller' : 'larger'}: use ${natural}`;
    throw new TrainyardError('INVALID_SEARCH_SPACE', `objective.direction: ${message}`, { errors: [{ field: 'objective.direction', message }] });
  }
  return { metric: input.metric, direction: natural };
}

export function resolvePruning(input: TuningJobRequest['pruning']): PruningSpec | null {
  if (!input) return null;
  if (input.rule === 'median') return { rule: 'median', warmup_epochs: input.warmup_epochs ?? 2, startup_trials: input.startup_trials ?? 4 };
  return { rule: 'successive_halving', min_epochs: input.min_epochs ?? 1, reduction_factor: input.reduction_factor ?? 3 };
}
