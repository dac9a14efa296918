// The trainer's input, DIR/job.json: the one document the platform hands the Python trainer. The
// schema is the contract (generated into contracts/trainer-job.schema.json, which the trainer checks
// job.json against); `trainerJob` builds it from a prepared training run.
import { Type, type Static } from 'typebox';
import { ResolvedLayersSchema, type ReadonlyLayerSpec } from '../models/layers.ts';
import { normalizationVectors } from '../models/preprocessing.ts';
import { TaskSchema, type Task } from '../models/spec.ts';
import { ResolvedHyperparametersSchema, type Hyperparameters } from './hyperparameters.ts';
import type { PreparedData } from './prepare.ts';

const FileName = Type.String({ minLength: 1, description: 'A file in the job folder.' });

export const TrainerJobSchema = Type.Object(
  {
    task: TaskSchema,
    layers: ResolvedLayersSchema,
    input_dim: Type.Integer({ minimum: 1, description: 'Width of an encoded input row (the columns of train_x).' }),
    output_dim: Type.Integer({ minimum: 1, description: '1 for binary classification and regression, the number of classes for multiclass.' }),
    normalization: Type.Object(
      {
        mean: Type.Array(Type.Number(), { description: 'Training-split mean of each input (input_dim values).' }),
        std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { description: 'Training-split standard deviation of each input (input_dim values).' }),
      },
      { additionalProperties: false, description: 'Folded into the exported network as (x − mean) / std.' },
    ),
    target_normalization: Type.Union(
      [Type.Object({ mean: Type.Number(), std: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false }), Type.Null()],
      { description: 'Regression: the target is standardised for training and de-standardised by the exported model.' },
    ),
    classes: Type.Union([Type.Array(Type.String(), { minItems: 2 }), Type.Null()], { description: 'Classification: the labels, in output order.' }),
    hyperparameters: Type.Omit(ResolvedHyperparametersSchema, ['device']),
    threads: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'torch.set_num_threads; 0 or null: every core.' }),
    device: ResolvedHyperparametersSchema.properties.device,
    data: Type.Object({ train_x: FileName, train_y: FileName, val_x: FileName, val_y: FileName }, { additionalProperties: false }),
    output_dir: Type.String({ minLength: 1, description: 'Where the artifacts go, relative to the job folder.' }),
    reference_rows: Type.Integer({ minimum: 0, description: 'Validation rows whose outputs are saved for the ONNX parity check.' }),
    checkpoint_dir: Type.String({ minLength: 1, description: 'Where the trainer writes its checkpoints, relative to the job folder (each announced by a `checkpoint` event).' }),
    resume: Type.Array(Type.Object({ file: FileName, sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, { additionalProperties: false }), {
      maxItems: 2,
      description: 'Checkpoints of earlier attempts, newest first: the trainer resumes from the first that verifies (SHA-256) and loads, and starts afresh when none does.',
    }),
    init_weights: Type.Union([FileName, Type.Null()], { description: 'Warm start: a state_dict.pt of an earlier model version whose layers match; training starts from these weights.' }),
  },
  { additionalProperties: false, title: 'TrainerJob', description: 'DIR/job.json, the trainer’s input (trainer/README.md).' },
);
export type TrainerJob = Static<typeof TrainerJobSchema>;

/** Where a run starts from: checkpoints of earlier attempts (resume), and a version's weights (warm start). */
export interface TrainerStart {
  resume: TrainerJob['resume'];
  initWeights: string | null;
}

/** job.json for a prepared training run. */
export function trainerJob(task: Task, h: Hyperparameters, prepared: PreparedData, layers: readonly ReadonlyLayerSpec[], threads: number, start: TrainerStart): TrainerJob {
  const { device, ...hyperparameters } = h;
  return {
    task,
    layers: layers as TrainerJob['layers'],
    input_dim: prepared.inputDim,
    output_dim: prepared.outputDim,
    normalization: normalizationVectors(prepared.preprocessing),
    target_normalization: prepared.target.kind === 'numeric' ? { mean: prepared.target.mean, std: prepared.target.std } : null,
    classes: prepared.target.kind === 'label' ? prepared.target.classes : null,
    hyperparameters: hyperparameters as TrainerJob['hyperparameters'],
    threads,
    device,
    data: prepared.files,
    output_dir: 'artifacts',
    reference_rows: 256,
    checkpoint_dir: 'checkpoints',
    resume: start.resume,
    init_weights: start.initWeights,
  };
}
