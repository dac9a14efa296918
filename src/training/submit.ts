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
import { createJob, type JobRow } from '../jobs/jobs.ts';
import { isNumericType } from './prepare.ts';
import type { TrainingJobSpec } from './run-training.ts';

/** Classification targets with more distinct values than this look continuous. */
const MAX_CLASSES = 1000;

export interface TrainingJobRequest {
  model: string;
  dataset: string;
  hyperparameters?: HyperparametersInput;
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
  // Categorical widths come from the whole dataset's distinct counts; training fits its vocabulary on
  // the training split, which can only be narrower, and inferred sizes adapt to it.
  const width = features.reduce((sum, name) => {
    const column = byName.get(name)!;
    return sum + (isNumericType(column.type) ? 1 : Math.min(maxCategories, Math.max(1, column.distinct_count)));
  }, 0);
  const outputs = spec.task === 'multiclass_classification' ? distinct : 1;
  return { width, outputs, features };
}

export async function submitTrainingJob(platform: Platform, request: TrainingJobRequest): Promise<JobRow> {
  const { db } = platform.metadata;
  const model = await getModel(db, request.model).catch((error: unknown) => {
    if (error instanceof TrainyardError && error.code === 'NOT_FOUND') {
      throw new TrainyardError('NOT_FOUND', `model "${request.model}" does not exist; create it with POST /v1/models`, { errors: [{ field: 'model', message: 'no such model' }] });
    }
    throw error;
  });
  const dataset = await resolveDataset(db, request.dataset);
  if (dataset.status !== 'ready') throw new TrainyardError('DATASET_NOT_READY', `dataset ${dataset.id} is ${dataset.status}`);
  const { width, outputs } = checkModelAgainstDataset(model.spec, datasetColumns(dataset), dataset.name);
  try {
    inferShapes(model.spec.layers, [width], { maxParameters: platform.config.maxModelParameters, expectedOutput: outputs, task: model.spec.task });
  } catch (error) {
    if (error instanceof TrainyardError) {
      const prefix = `model "${model.name}" does not fit dataset "${dataset.name}" (${width} inputs after preprocessing, ${outputs} output${outputs > 1 ? 's' : ''}): `;
      throw new TrainyardError(error.code === 'MODEL_TOO_LARGE' ? 'MODEL_TOO_LARGE' : 'INCOMPATIBLE_DATASET', prefix + error.message, {
        errors: error.errors.map((e) => ({ ...e, field: `model.${e.field}` })),
      });
    }
    throw error;
  }
  const spec: TrainingJobSpec = { model: model.spec, hyperparameters: resolveHyperparameters(request.hyperparameters, model.spec.task) };
  return createJob(platform.metadata, { kind: 'training', model: model.name, datasetId: dataset.id, spec, maxAttempts: platform.config.maxAttempts });
}
