// Submitting a training job: everything that can be known to fail is checked here, before the job
// is queued, so a model that cannot fit its data is a 400 now rather than a failed job later.
import type { Platform } from '../platform.ts';
import { TrainyardError } from '../errors.ts';
import { getModel } from '../models/registry.ts';
import { inferShapes } from '../models/shapes.ts';
import type { ModelSpec } from '../models/spec.ts';
import { resolveDataset } from '../datasets/resolve-dataset.ts';
import { datasetColumns } from '../datasets/rows.ts';
import type { ColumnProfile } from '../datasets/csv/profiler.ts';
import { resolveHyperparameters, type HyperparametersInput } from './hyperparameters.ts';
import { resolveInitFrom, type InitFromInput } from './warm-start.ts';
import { createJob, type JobRow } from '../jobs/jobs.ts';
import { isNumericType } from './prepare.ts';
import type { TrainingJobSpec } from './run-training.ts';

/** Classification targets with more distinct values than this look continuous. */
const MAX_CLASSES = 1000;

export interface TrainingJobRequest {
  model: string;
  dataset: string;
  hyperparameters?: HyperparametersInput;
  init_from?: InitFromInput;
}

function incompatible(detail: string, field: string, message = detail): TrainyardError {
  return new TrainyardError('INCOMPATIBLE_DATASET', detail, { errors: [{ field, message }] });
}

/** Checks that the model's task and columns fit the dataset; returns the encoded input width and output size. */
export function checkModelAgainstDataset(spec: ModelSpec, columns: ColumnProfile[], datasetName: string): { width: number; outputs: number; features: string[] } {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const target = byName.get(spec.target);
  if (!target) {
    throw incompatible(`target column "${spec.target}" is not in dataset "${datasetName}" (columns: ${columns.map((c) => c.name).join(', ')})`, 'model.target', 'not a column of the dataset');
  }
  const distinct = target.distinct_count;
  if (spec.task === 'regression' && !isNumericType(target.type)) {
    throw incompatible(`regression needs a numeric target, but "${spec.target}" holds ${target.type} values`, 'model.target', `is ${target.type}, not numeric`);
  }
  if (spec.task === 'binary_classification' && distinct !== 2) {
    throw incompatible(
      `binary_classification needs exactly 2 distinct values in "${spec.target}", found ${distinct}` +
        (target.type === 'number' ? ' (it looks like a continuous number: did you mean regression?)' : ''),
      'model.target',
      `has ${distinct} distinct values`,
    );
  }
  if (spec.task === 'multiclass_classification') {
    if (target.type === 'number') {
      throw incompatible(`"${spec.target}" holds continuous numbers; classify an integer or text column, or use regression`, 'model.target', 'is a continuous number');
    }
    if (distinct < 2 || distinct > MAX_CLASSES) {
      throw incompatible(`multiclass_classification needs 2 to ${MAX_CLASSES} distinct values in "${spec.target}", found ${distinct}`, 'model.target', `has ${distinct} distinct values`);
    }
  }
  const features = spec.features ?? columns.map((c) => c.name).filter((n) => n !== spec.target);
  if (features.length === 0) throw incompatible('the dataset has no feature columns besides the target', 'model.features', 'is empty');
  features.forEach((name, i) => {
    if (!byName.has(name)) throw incompatible(`feature column "${name}" is not in dataset "${datasetName}"`, `model.features[${i}]`, 'not a column of the dataset');
    if (name === spec.target) throw incompatible(`the target "${name}" cannot also be a feature`, `model.features[${i}]`, 'is the target');
  });
  const maxCategories = spec.preprocessing?.max_categories ?? 50;
  // Categorical widths come from the whole dataset's distinct counts, datetime widths are their
  // largest; training fits its vocabulary and cycles on the training split, which can only be
  // narrower, and inferred sizes adapt to it.
  const width = features.reduce((sum, name) => {
    const column = byName.get(name)!;
    // A datetime encodes to its time plus at most three sin/cos pairs (those that vary in training).
    if (column.type === 'datetime') return sum + 7;
    return sum + (isNumericType(column.type) ? 1 : Math.min(maxCategories, Math.max(1, column.distinct_count)));
  }, 0);
  const outputs = spec.task === 'multiclass_classification' ? distinct : 1;
  return { width, outputs, features };
}

/** The model and the ready dataset a request names, and the network's input width and output size on it. */
export async function resolveTrainingTarget(platform: Platform, request: { model: string; dataset: string }) {
  const { db } = platform.metadata;
  const model = await getModel(db, request.model).catch((error: unknown) => {
    if (error instanceof TrainyardError && error.code === 'NOT_FOUND') {
      throw new TrainyardError('NOT_FOUND', `model "${request.model}" does not exist; create it with POST /v1/models`, { errors: [{ field: 'model', message: 'no such model' }] });
    }
    throw error;
  });
  const dataset = await resolveDataset(db, request.dataset);
  if (dataset.status !== 'ready') throw new TrainyardError('DATASET_NOT_READY', `dataset ${dataset.id} is ${dataset.status}`);
  const columns = datasetColumns(dataset);
  const { width, outputs, features } = checkModelAgainstDataset(model.spec, columns, dataset.name);
  return { model, dataset, width, outputs, features, columns };
}

/** Shape inference of the layers on the dataset, with the activation budget of a batch (one row when no batch size is known) (a 400 naming `model.layers[i]…` when they do not fit). */
export function checkLayersFit(platform: Platform, spec: ModelSpec, fit: { width: number; outputs: number; datasetName: string; batchSize?: number }): void {
  try {
    inferShapes(spec.layers, [fit.width], {
      maxParameters: platform.config.maxModelParameters,
      maxActivationElements: platform.config.maxActivationElements,
      batchSize: fit.batchSize ?? 1,
      expectedOutput: fit.outputs,
      task: spec.task,
    });
  } catch (error) {
    if (error instanceof TrainyardError) {
      const prefix = `model "${spec.name}" does not fit dataset "${fit.datasetName}" (${fit.width} inputs after preprocessing, ${fit.outputs} output${fit.outputs > 1 ? 's' : ''}): `;
      const code = error.code === 'MODEL_TOO_LARGE' || error.code === 'ACTIVATIONS_TOO_LARGE' ? error.code : 'INCOMPATIBLE_DATASET';
      throw new TrainyardError(code, prefix + error.message, {
        errors: error.errors.map((e) => ({ ...e, field: `model.${e.field}` })),
      });
    }
    throw error;
  }
}

export async function submitTrainingJob(platform: Platform, request: TrainingJobRequest): Promise<JobRow> {
  const { model, dataset, width, outputs, features, columns } = await resolveTrainingTarget(platform, request);
  const hyperparameters = resolveHyperparameters(request.hyperparameters, model.spec.task);
  checkLayersFit(platform, model.spec, { width, outputs, datasetName: dataset.name, batchSize: hyperparameters.batch_size });
  const initFrom = request.init_from ? await resolveInitFrom(platform, request.init_from, { spec: model.spec, features, columns }) : undefined;
  const spec: TrainingJobSpec = { model: model.spec, hyperparameters, ...(initFrom ? { init_from: initFrom } : {}) };
  return createJob(platform.metadata, { kind: 'training', model: model.name, datasetId: dataset.id, spec, maxAttempts: platform.config.maxAttempts });
}
