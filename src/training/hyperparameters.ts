// Training hyperparameters: what a client may send (validation + OpenAPI), the defaults every job
// gets, and the resolved form a job stores and hands to the trainer in job.json. The optimizer and
// scheduler options are PyTorch's; each optimizer's own options are listed once, here, and reach
// the trainer through the generated contract (contracts/trainer-job.schema.json), so the API and
// the trainer accept the same ones.
import { Type, type Static, type TSchema } from 'typebox';
import { TrainyardError, type FieldError } from '../errors.ts';
import type { Task } from '../models/spec.ts';

// ---------------------------------------------------------------------------------------------
// Optimizers

export const OPTIMIZER_TYPES = ['SGD', 'Adam', 'AdamW', 'RMSprop'] as const;
export type OptimizerType = (typeof OPTIMIZER_TYPES)[number];

const Lr = Type.Number({ exclusiveMinimum: 0, description: 'Learning rate.' });
const WEIGHT_DECAY_DOC = 'L2 penalty (AdamW: decoupled weight decay).';
const WeightDecay = Type.Number({ minimum: 0, description: WEIGHT_DECAY_DOC });
const Momentum = Type.Number({ minimum: 0, description: 'Momentum factor.' });
const Eps = Type.Number({ exclusiveMinimum: 0, description: 'Added to the denominator for numerical stability.' });
const Beta = Type.Number({ minimum: 0, exclusiveMaximum: 1 });
const Betas = Type.Tuple([Beta, Beta], { description: 'Decay rates of the running averages of the gradient and of its square.' });

const ADAM_OPTIONS = {
  momentum: Type.Number({ minimum: 0, description: 'Not used by Adam/AdamW (they use betas); accepted for compatibility, a non-zero value is logged as a warning.' }),
  betas: Betas,
  eps: Eps,
  amsgrad: Type.Boolean({ description: 'Use the AMSGrad variant.' }),
};

/** Each optimizer's options besides lr and weight_decay (which all take), under PyTorch's names. */
const OPTIMIZER_OPTIONS = {
  SGD: {
    momentum: Momentum,
    dampening: Type.Number({ minimum: 0, description: 'Dampening for momentum.' }),
    nesterov: Type.Boolean({ description: 'Nesterov momentum (needs momentum > 0 and dampening 0).' }),
  },
  Adam: ADAM_OPTIONS,
  AdamW: ADAM_OPTIONS,
  RMSprop: {
    momentum: Momentum,
    alpha: Type.Number({ minimum: 0, maximum: 1, description: 'Smoothing constant of the squared-gradient average.' }),
    eps: Eps,
    centered: Type.Boolean({ description: 'Normalise by an estimate of the gradient variance.' }),
  },
} satisfies Record<OptimizerType, Record<string, TSchema>>;

/** PyTorch's defaults (the platform's lr default is 0.001 for every optimizer). */
export const OPTIMIZER_DEFAULTS: Record<OptimizerType, Record<string, unknown>> = {
  SGD: { lr: 0.001, weight_decay: 0, momentum: 0, dampening: 0, nesterov: false },
  Adam: { lr: 0.001, weight_decay: 0, momentum: 0, betas: [0.9, 0.999], eps: 1e-8, amsgrad: false },
  AdamW: { lr: 0.001, weight_decay: 0, momentum: 0, betas: [0.9, 0.999], eps: 1e-8, amsgrad: false },
  RMSprop: { lr: 0.001, weight_decay: 0, momentum: 0, alpha: 0.99, eps: 1e-8, centered: false },
};

/** Option names per optimizer, lr and weight_decay first. */
export const OPTIMIZER_OPTION_NAMES: Record<OptimizerType, readonly string[]> = Object.fromEntries(
  OPTIMIZER_TYPES.map((t) => [t, ['lr', 'weight_decay', ...Object.keys(OPTIMIZER_OPTIONS[t])]]),
) as unknown as Record<OptimizerType, readonly string[]>;

/** A copy of a schema with another description, keeping TypeBox's hidden markers ('~kind', '~optional'). */
function described<S extends TSchema>(schema: S, description: string): S {
  const descriptors = Object.getOwnPropertyDescriptors(schema);
  return Object.defineProperties({}, { ...descriptors, description: { value: description, enumerable: true, writable: true, configurable: true } }) as S;
}

const optimizerLiteral = (t: OptimizerType) => Type.Literal(t);
const OptimizerTypeSchema = Type.Union(OPTIMIZER_TYPES.map(optimizerLiteral), { description: 'Default Adam.' });

/** What a client may send: every optimizer's options in one object, checked per type by resolveHyperparameters. */
const OptimizerInput = Type.Object(
  (() => {
    const properties: Record<string, TSchema> = { type: Type.Optional(OptimizerTypeSchema), lr: Type.Optional(described(Lr, 'Learning rate. Default 0.001.')) };
    properties.weight_decay = Type.Optional(described(WeightDecay, `${WEIGHT_DECAY_DOC} Default 0.`));
    for (const name of new Set(OPTIMIZER_TYPES.flatMap((t) => Object.keys(OPTIMIZER_OPTIONS[t])))) {
      // "SGD, RMSprop: Momentum factor. Adam, AdamW: Not used … Default 0."
      const owners = OPTIMIZER_TYPES.filter((t) => name in OPTIMIZER_OPTIONS[t]);
      const schemaOf = (t: OptimizerType) => (OPTIMIZER_OPTIONS[t] as Record<string, TSchema & { description?: string }>)[name];
      const byText = new Map<string, OptimizerType[]>();
      for (const t of owners) byText.set(schemaOf(t).description ?? '', [...(byText.get(schemaOf(t).description ?? '') ?? []), t]);
      const text = [...byText].map(([doc, types]) => `${types.join(', ')}: ${doc}`).join(' ');
      const defaults = [...new Set(owners.map((t) => JSON.stringify(OPTIMIZER_DEFAULTS[t][name])))].join(' / ');
      properties[name] = Type.Optional(described(schemaOf(owners[0]), `${text} Default ${defaults}.`));
    }
    return properties;
  })(),
  { additionalProperties: false, description: "PyTorch's optimizer options; each optimizer takes lr, weight_decay and its own (the description of each names them)." },
);

/** The resolved optimizer of one type: type, lr, weight_decay and momentum always; its other options when given. */
function resolvedOptimizer<T extends OptimizerType>(type: T) {
  const options: Record<string, TSchema> = {};
  for (const [name, schema] of Object.entries(OPTIMIZER_OPTIONS[type] as Record<string, TSchema>)) {
    options[name] = name === 'momentum' ? schema : Type.Optional(schema);
  }
  return Type.Object({ type: Type.Literal(type), lr: Lr, weight_decay: WeightDecay, ...options }, { additionalProperties: false, title: type });
}

export const ResolvedOptimizerSchema = Type.Unsafe<ResolvedOptimizer>(Type.Union(OPTIMIZER_TYPES.map((t) => resolvedOptimizer(t))));
export interface ResolvedOptimizer {
  type: OptimizerType;
  lr: number;
  weight_decay: number;
  momentum: number;
  dampening?: number;
  nesterov?: boolean;
  betas?: [number, number];
  eps?: number;
  amsgrad?: boolean;
  alpha?: number;
  centered?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Monitors, schedulers, early stopping

const Monitor = Type.String({
  pattern: '^(train|val)_[a-z0-9_]+$',
  description: 'A metric name prefixed with train_ or val_, e.g. val_loss, val_accuracy, val_rmse.',
});

const StepSize = Type.Integer({ minimum: 1, description: 'Epochs between two decays.' });
const Gamma = Type.Number({ exclusiveMinimum: 0, description: 'Factor of each decay.' });
const TMax = Type.Integer({ minimum: 1, description: 'Epochs of one cosine half-period.' });
const EtaMin = Type.Number({ minimum: 0, description: 'The lowest learning rate.' });
const Factor = Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'Factor of each reduction.' });
const PlateauPatience = Type.Integer({ minimum: 0, description: 'Epochs without improvement before a reduction.' });
const Threshold = Type.Number({ minimum: 0, description: 'Relative change that counts as an improvement.' });
const Cooldown = Type.Integer({ minimum: 0, description: 'Epochs to wait after a reduction.' });
const MinLr = Type.Number({ minimum: 0, description: 'The learning rate is not reduced below this.' });

const withDefault = <S extends TSchema>(schema: S, text: string): S => described(schema, `${(schema as { description?: string }).description ?? ''} Default ${text}.`.trim());

const LrScheduler = Type.Union([
  Type.Object({ type: Type.Literal('StepLR'), step_size: StepSize, gamma: Type.Optional(withDefault(Gamma, '0.1')) }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('CosineAnnealingLR'), T_max: Type.Optional(withDefault(TMax, 'epochs')), eta_min: Type.Optional(withDefault(EtaMin, '0')) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('ReduceLROnPlateau'),
      monitor: Type.Optional(withDefault(Monitor, 'val_loss')),
      factor: Type.Optional(withDefault(Factor, '0.1')),
      patience: Type.Optional(withDefault(PlateauPatience, '5')),
      threshold: Type.Optional(withDefault(Threshold, '0.0001')),
      cooldown: Type.Optional(withDefault(Cooldown, '0')),
      min_lr: Type.Optional(withDefault(MinLr, '0')),
    },
    { additionalProperties: false },
  ),
]);

export const ResolvedLrSchedulerSchema = Type.Union([
  Type.Object({ type: Type.Literal('StepLR'), step_size: StepSize, gamma: Gamma }, { additionalProperties: false, title: 'StepLR' }),
  Type.Object({ type: Type.Literal('CosineAnnealingLR'), T_max: TMax, eta_min: EtaMin }, { additionalProperties: false, title: 'CosineAnnealingLR' }),
  Type.Object(
    {
      type: Type.Literal('ReduceLROnPlateau'),
      monitor: Monitor,
      factor: Factor,
      patience: PlateauPatience,
      threshold: Type.Optional(Threshold),
      cooldown: Type.Optional(Cooldown),
      min_lr: Type.Optional(MinLr),
    },
    { additionalProperties: false, title: 'ReduceLROnPlateau' },
  ),
]);
export type LrSchedulerSpec = Static<typeof ResolvedLrSchedulerSchema>;

type LrSchedulerInput = Static<typeof LrScheduler>;

function resolveScheduler(input: LrSchedulerInput | null | undefined, epochs: number): LrSchedulerSpec | null {
  if (!input) return null;
  switch (input.type) {
    case 'StepLR':
      return { type: 'StepLR', step_size: input.step_size, gamma: input.gamma ?? 0.1 };
    case 'CosineAnnealingLR':
      return { type: 'CosineAnnealingLR', T_max: input.T_max ?? epochs, eta_min: input.eta_min ?? 0 };
    case 'ReduceLROnPlateau':
      return {
        type: 'ReduceLROnPlateau',
        monitor: input.monitor ?? 'val_loss',
        factor: input.factor ?? 0.1,
        patience: input.patience ?? 5,
        ...(input.threshold !== undefined ? { threshold: input.threshold } : {}),
        ...(input.cooldown !== undefined ? { cooldown: input.cooldown } : {}),
        ...(input.min_lr !== undefined ? { min_lr: input.min_lr } : {}),
      };
  }
}

const EarlyStoppingPatience = Type.Integer({ minimum: 1, description: 'Epochs without improvement before training stops.' });
const MinDelta = Type.Number({ minimum: 0, description: 'A change smaller than this is no improvement.' });

const Epochs = Type.Integer({ minimum: 1, maximum: 10000 });
const BatchSize = Type.Integer({ minimum: 1, maximum: 1_000_000 });
const Seed = Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 });
const ValidationSplit = Type.Number({ minimum: 0.05, maximum: 0.5, description: 'Fraction of rows held out for validation.' });
const MaxRuntime = Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: 'Seconds; the best weights so far are kept when it passes.' });
const LossSchema = Type.Union([Type.Literal('mse'), Type.Literal('l1'), Type.Literal('huber'), Type.Null()], {
  description: 'Regression only (default mse); classification losses are fixed by the task.',
});
const CheckpointInput = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'false: no checkpoints, and a SIGTERM exports the best epoch so far instead of asking to be resumed. Default true.' })),
    every_epochs: Type.Optional(Type.Integer({ minimum: 1, description: 'Checkpoint at the end of every N-th epoch.' })),
    every_seconds: Type.Optional(Type.Integer({ minimum: 10, description: 'Checkpoint at the end of the first epoch once S seconds have passed since the last checkpoint. Default 300 when every_epochs is not given.' })),
  },
  { additionalProperties: false, description: 'When the trainer saves a checkpoint (docs/training.md). Whatever is set, a SIGTERM checkpoints after the current batch.' },
);
const ResolvedCheckpointSchema = Type.Object(
  {
    enabled: Type.Boolean(),
    every_epochs: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    every_seconds: Type.Union([Type.Integer({ minimum: 10 }), Type.Null()]),
  },
  { additionalProperties: false, description: 'Checkpoints at the end of an epoch when every_epochs divides it or every_seconds have passed since the last one.' },
);
export type CheckpointPolicy = Static<typeof ResolvedCheckpointSchema>;
const DEFAULT_CHECKPOINT_SECONDS = 300;

function resolveCheckpoint(input: Static<typeof CheckpointInput> | undefined): CheckpointPolicy {
  const given = input ?? {};
  const everyEpochs = given.every_epochs ?? null;
  return {
    enabled: given.enabled ?? true,
    every_epochs: everyEpochs,
    every_seconds: given.every_seconds ?? (everyEpochs === null ? DEFAULT_CHECKPOINT_SECONDS : null),
  };
}

const DeviceSchema = Type.Union([Type.Literal('auto'), Type.Literal('cpu'), Type.Literal('cuda')], { description: 'Default auto: CUDA when present.' });

// ---------------------------------------------------------------------------------------------
// What a client sends, and what a job stores

export const HyperparametersSchema = Type.Object(
  {
    epochs: Type.Optional(withDefault(Epochs, '20')),
    batch_size: Type.Optional(withDefault(BatchSize, '64')),
    optimizer: Type.Optional(OptimizerInput),
    lr_scheduler: Type.Optional(Type.Union([LrScheduler, Type.Null()])),
    loss: Type.Optional(LossSchema),
    validation_split: Type.Optional(withDefault(ValidationSplit, '0.2')),
    early_stopping: Type.Optional(
      Type.Union([
        Type.Object(
          {
            monitor: Type.Optional(withDefault(Monitor, 'val_loss')),
            patience: Type.Optional(withDefault(EarlyStoppingPatience, '5')),
            min_delta: Type.Optional(withDefault(MinDelta, '0')),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
    seed: Type.Optional(withDefault(Seed, '42: runs are reproducible')),
    max_runtime_seconds: Type.Optional(MaxRuntime),
    device: Type.Optional(DeviceSchema),
    checkpoint: Type.Optional(CheckpointInput),
  },
  { additionalProperties: false, title: 'Hyperparameters' },
);
export type HyperparametersInput = Static<typeof HyperparametersSchema>;

/** A job's hyperparameters with every default filled in (stored on the job, shown by the API, in manifest.json). */
export const ResolvedHyperparametersSchema = Type.Object(
  {
    epochs: Epochs,
    batch_size: BatchSize,
    optimizer: ResolvedOptimizerSchema,
    lr_scheduler: Type.Union([ResolvedLrSchedulerSchema, Type.Null()]),
    loss: LossSchema,
    validation_split: ValidationSplit,
    early_stopping: Type.Union([
      Type.Object({ monitor: Monitor, patience: EarlyStoppingPatience, min_delta: MinDelta }, { additionalProperties: false }),
      Type.Null(),
    ]),
    seed: Seed,
    max_runtime_seconds: MaxRuntime,
    device: DeviceSchema,
    checkpoint: ResolvedCheckpointSchema,
  },
  { additionalProperties: false, title: 'ResolvedHyperparameters' },
);

export type Hyperparameters = Static<typeof ResolvedHyperparametersSchema>;

/** The optimizer with its defaults, after checking that each option given is one of that optimizer's. */
function resolveOptimizer(input: Static<typeof OptimizerInput> | undefined): ResolvedOptimizer {
  const given = (input ?? {}) as Record<string, unknown>;
  const type = (given.type as OptimizerType | undefined) ?? 'Adam';
  const allowed = OPTIMIZER_OPTION_NAMES[type];
  const errors: FieldError[] = [];
  for (const name of Object.keys(given)) {
    if (name !== 'type' && !allowed.includes(name)) {
      errors.push({ field: `hyperparameters.optimizer.${name}`, message: `is not an option of ${type}; its options are ${allowed.join(', ')}` });
    }
  }
  const defaults = OPTIMIZER_DEFAULTS[type];
  if (given.nesterov === true && (Number(given.momentum ?? defaults.momentum) <= 0 || Number(given.dampening ?? defaults.dampening) !== 0)) {
    errors.push({ field: 'hyperparameters.optimizer.nesterov', message: 'needs momentum > 0 and dampening 0 (PyTorch’s rule)' });
  }
  if (errors.length) {
    throw new TrainyardError('VALIDATION_FAILED', errors.map((e) => `${e.field} ${e.message}`).join('; '), { errors });
  }
  const resolved: Record<string, unknown> = { type, lr: given.lr ?? defaults.lr, weight_decay: given.weight_decay ?? defaults.weight_decay, momentum: given.momentum ?? defaults.momentum };
  for (const name of allowed) if (given[name] !== undefined && !(name in resolved)) resolved[name] = given[name];
  return resolved as unknown as ResolvedOptimizer;
}

export function resolveHyperparameters(input: HyperparametersInput | undefined, task: Task): Hyperparameters {
  const h = input ?? {};
  const epochs = h.epochs ?? 20;
  return {
    epochs,
    batch_size: h.batch_size ?? 64,
    optimizer: resolveOptimizer(h.optimizer),
    lr_scheduler: resolveScheduler(h.lr_scheduler, epochs),
    loss: task === 'regression' ? (h.loss ?? 'mse') : null,
    validation_split: h.validation_split ?? 0.2,
    early_stopping: h.early_stopping
      ? { monitor: h.early_stopping.monitor ?? 'val_loss', patience: h.early_stopping.patience ?? 5, min_delta: h.early_stopping.min_delta ?? 0 }
      : null,
    seed: h.seed ?? 42,
    max_runtime_seconds: h.max_runtime_seconds ?? null,
    device: h.device ?? 'auto',
    checkpoint: resolveCheckpoint(h.checkpoint),
  };
}
