// Submitting a tuning study: the whole space is checked against the model and the dataset before the
// study is queued (a 400 names the parameter and the reason), and each trial is created through the
// same checks a training job gets.
import type { Platform } from '../platform.ts';
import { TrainyardError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { ModelSpec } from '../models/spec.ts';
import { resolveHyperparameters } from '../training/hyperparameters.ts';
import { checkLayersFit, resolveTrainingTarget } from '../training/submit.ts';
import type { TrainingJobSpec } from '../training/run-training.ts';
import { createJob, jobDataset, jobModel, type JobRow } from '../jobs/jobs.ts';
import { isUniqueViolation } from '../store/metadata/errors.ts';
import { applyLayers, gridSize, parsePath, parseSearchSpace, trialInputs, type JsonValue } from './search-space.ts';
import { resolveObjective, resolvePruning, type StudySpec, type TuningJobRequest } from './request.ts';
import { insertTrial, type Trial } from './trials.ts';

/** Attempts of a study driver: each lost driver process costs one, and drivers resume cheaply. */
export const STUDY_MAX_ATTEMPTS = 10;

export interface Fit {
  width: number;
  outputs: number;
  datasetName: string;
}

export async function submitTuningJob(platform: Platform, request: TuningJobRequest): Promise<JobRow> {
  const { model, dataset, width, outputs } = await resolveTrainingTarget(platform, request);
  const fit: Fit = { width, outputs, datasetName: dataset.name };
  checkLayersFit(platform, model.spec, fit);
  const strategy = request.strategy ?? 'tpe';
  const objective = resolveObjective(request.objective, model.spec.task);
  const space = parseSearchSpace(request.search_space, { layers: model.spec.layers, hyperparameters: request.hyperparameters, strategy });
  // Layer values must also fit the data: each bound and choice, with the other layers as defined.
  for (const [path, param] of Object.entries(space)) {
    const parsed = parsePath(path)!;
    if (!('layer' in parsed)) continue;
    for (const value of param.kind === 'choice' ? param.choices : [param.low, param.high]) {
      try {
        checkLayersFit(platform, { ...model.spec, layers: applyLayers(model.spec.layers, [[parsed.layer, parsed.arg, value]]) }, fit);
      } catch (error) {
        if (!(error instanceof TrainyardError)) throw error;
        throw new TrainyardError('INVALID_SEARCH_SPACE', `search_space.${path}: with ${JSON.stringify(value)} the model does not fit the dataset: ${error.message}`, {
          errors: [{ field: `search_space.${path}`, message: `${JSON.stringify(value)} does not fit: ${error.errors[0]?.message ?? error.message}` }],
        });
      }
    }
  }
  checkPruningOptions(request.pruning);
  const maxTrials = strategy === 'grid' ? Math.min(request.max_trials, gridSize(space)) : request.max_trials;
  const spec: StudySpec = {
    study: true,
    model: model.spec,
    base_hyperparameters: request.hyperparameters ?? {},
    search_space: space,
    strategy,
    objective,
    max_trials: maxTrials,
    max_parallel: Math.min(request.max_parallel ?? 1, maxTrials),
    max_runtime_seconds: request.max_runtime_seconds ?? null,
    pruning: resolvePruning(request.pruning),
    seed: request.seed ?? 0,
    alias: request.alias ?? null,
  };
  return createJob(platform.metadata, { kind: 'tuning', id: newId('tun'), model: model.name, datasetId: dataset.id, spec, maxAttempts: STUDY_MAX_ATTEMPTS });
}

function checkPruningOptions(pruning: TuningJobRequest['pruning']): void {
  if (!pruning) return;
  const own = pruning.rule === 'median' ? ['warmup_epochs', 'startup_trials'] : ['min_epochs', 'reduction_factor'];
  const stray = Object.keys(pruning).filter((k) => k !== 'rule' && !own.includes(k));
  if (stray.length > 0) {
    const message = `is not an option of the ${pruning.rule} rule (its options: ${own.join(', ')})`;
    throw new TrainyardError('VALIDATION_FAILED', `pruning.${stray[0]} ${message}`, { errors: stray.map((k) => ({ field: `pruning.${k}`, message })) });
  }
}

/** The training job spec of a trial: the base with the trial's values, through a training job's checks. */
export function trialJobSpec(platform: Platform, spec: StudySpec, params: Record<string, JsonValue>, fit: Fit): TrainingJobSpec {
  const inputs = trialInputs(spec.search_space, params, { layers: spec.model.layers, hyperparameters: spec.base_hyperparameters });
  const model: ModelSpec = { ...spec.model, layers: inputs.layers };
  const hyperparameters = resolveHyperparameters(inputs.hyperparameters, model.task);
  checkLayersFit(platform, model, { ...fit, batchSize: hyperparameters.batch_size });
  return { model, hyperparameters };
}

/**
 * Creates trial `number` with these parameters, idempotently: the trial row (unique per study and
 * number) goes first with the job id chosen up front, then the training job under that id. A driver
 * that dies between the two finds the row on restart and creates exactly that job (ensureTrialJob).
 * Parameters that fail a training job's checks make a `failed` trial with the reason; no job.
 */
export async function createTrial(platform: Platform, study: JobRow, spec: StudySpec, number: number, params: Record<string, JsonValue>, fit: Fit): Promise<Trial> {
  let jobSpec: TrainingJobSpec | undefined;
  let invalid: string | undefined;
  try {
    jobSpec = trialJobSpec(platform, spec, params, fit);
  } catch (error) {
    if (!(error instanceof TrainyardError)) throw error;
    invalid = `these parameters make an invalid training job: ${error.message}`;
  }
  const { trial, created } = await insertTrial(platform.metadata.db, {
    studyId: study.id,
    number,
    jobId: newId('job'),
    params,
    ...(invalid ? { state: 'failed' as const, error: invalid } : {}),
  });
  if (created && jobSpec) await ensureTrialJob(platform, study, trial, jobSpec);
  return trial;
}

/** Creates the trial's training job if it does not exist yet. */
export async function ensureTrialJob(platform: Platform, study: JobRow, trial: Trial, jobSpec: TrainingJobSpec): Promise<void> {
  try {
    await createJob(platform.metadata, {
      kind: 'training',
      id: trial.job_id,
      studyId: study.id,
      model: jobModel(study),
      datasetId: jobDataset(study),
      spec: jobSpec,
      maxAttempts: platform.config.maxAttempts,
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error; // created by an earlier driver: nothing to do
  }
}
