// Training hyperparameters: the schema (validation + OpenAPI) and the defaults every job gets.
import { Type, type Static } from 'typebox';
import type { Task } from '../models/spec.ts';

const Optimizer = Type.Object(
  {
    type: Type.Union([Type.Literal('SGD'), Type.Literal('Adam'), Type.Literal('AdamW'), Type.Literal('RMSprop')], { description: 'Default Adam.' }),
    lr: Type.Number({ exclusiveMinimum: 0, description: 'Default 0.001.' }),
    momentum: Type.Number({ minimum: 0, description: 'Default 0.' }),
    weight_decay: Type.Number({ minimum: 0, description: 'Default 0.' }),
  },
  { additionalProperties: false },
);

const Monitor = Type.String({
  pattern: '^(train|val)_[a-z0-9_]+$',
  description: 'A metric name prefixed with train_ or val_, e.g. val_loss, val_accuracy, val_rmse.',
});

const LrScheduler = Type.Union([
  Type.Object(
    { type: Type.Literal('StepLR'), step_size: Type.Integer({ minimum: 1 }), gamma: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Default 0.1.' })) },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal('CosineAnnealingLR'), T_max: Type.Optional(Type.Integer({ minimum: 1, description: 'Default: epochs.' })), eta_min: Type.Optional(Type.Number({ minimum: 0 })) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('ReduceLROnPlateau'),
      monitor: Type.Optional(Monitor),
      factor: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'Default 0.1.' })),
      patience: Type.Optional(Type.Integer({ minimum: 0, description: 'Default 5.' })),
    },
    { additionalProperties: false },
  ),
]);

type LrSchedulerInput = Static<typeof LrScheduler>;
export type LrSchedulerSpec =
  | { type: 'StepLR'; step_size: number; gamma: number }
  | { type: 'CosineAnnealingLR'; T_max: number; eta_min: number }
  | { type: 'ReduceLROnPlateau'; monitor: string; factor: number; patience: number };

function resolveScheduler(input: LrSchedulerInput | null | undefined, epochs: number): LrSchedulerSpec | null {
  if (!input) return null;
  switch (input.type) {
    case 'StepLR':
      return { type: 'StepLR', step_size: input.step_size, gamma: input.gamma ?? 0.1 };
    case 'CosineAnnealingLR':
      return { type: 'CosineAnnealingLR', T_max: input.T_max ?? epochs, eta_min: input.eta_min ?? 0 };
    case 'ReduceLROnPlateau':
      return { type: 'ReduceLROnPlateau', monitor: input.monitor ?? 'val_loss', factor: input.factor ?? 0.1, patience: input.patience ?? 5 };
  }
}

export const HyperparametersSchema = Type.Object(
  {
    epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'Default 20.' })),
    batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Default 64.' })),
    optimizer: Type.Optional(Type.Partial(Optimizer)),
    lr_scheduler: Type.Optional(Type.Union([LrScheduler, Type.Null()])),
    loss: Type.Optional(
      Type.Union([Type.Literal('mse'), Type.Literal('l1'), Type.Literal('huber'), Type.Null()], {
        description: 'Regression only (default mse); classification losses are fixed by the task.',
      }),
    ),
    validation_split: Type.Optional(Type.Number({ minimum: 0.05, maximum: 0.5, description: 'Fraction of rows held out for validation. Default 0.2.' })),
    early_stopping: Type.Optional(
      Type.Union([
        Type.Object(
          { monitor: Type.Optional(Monitor), patience: Type.Optional(Type.Integer({ minimum: 1 })), min_delta: Type.Optional(Type.Number({ minimum: 0 })) },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Default 42: runs are reproducible.' })),
    max_runtime_seconds: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
    device: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('cpu'), Type.Literal('cuda')], { description: 'Default auto: CUDA when present.' })),
  },
  { additionalProperties: false },
);
export type HyperparametersInput = Static<typeof HyperparametersSchema>;

export interface Hyperparameters {
  epochs: number;
  batch_size: number;
  optimizer: { type: 'SGD' | 'Adam' | 'AdamW' | 'RMSprop'; lr: number; momentum: number; weight_decay: number };
  lr_scheduler: LrSchedulerSpec | null;
  loss: 'mse' | 'l1' | 'huber' | null;
  validation_split: number;
  early_stopping: { monitor: string; patience: number; min_delta: number } | null;
  seed: number;
  max_runtime_seconds: number | null;
  device: 'auto' | 'cpu' | 'cuda';
}

export function resolveHyperparameters(input: HyperparametersInput | undefined, task: Task): Hyperparameters {
  const h = input ?? {};
  const epochs = h.epochs ?? 20;
  return {
    epochs,
    batch_size: h.batch_size ?? 64,
    optimizer: {
      type: h.optimizer?.type ?? 'Adam',
      lr: h.optimizer?.lr ?? 0.001,
      momentum: h.optimizer?.momentum ?? 0,
      weight_decay: h.optimizer?.weight_decay ?? 0,
    },
    lr_scheduler: resolveScheduler(h.lr_scheduler, epochs),
    loss: task === 'regression' ? (h.loss ?? 'mse') : null,
    validation_split: h.validation_split ?? 0.2,
    early_stopping: h.early_stopping
      ? { monitor: h.early_stopping.monitor ?? 'val_loss', patience: h.early_stopping.patience ?? 5, min_delta: h.early_stopping.min_delta ?? 0 }
      : null,
    seed: h.seed ?? 42,
    max_runtime_seconds: h.max_runtime_seconds ?? null,
    device: h.device ?? 'auto',
  };
}
