// A study's results, computed from its trial rows and their training jobs: the best trial, the
// objective over trials, trial counts, the parallelism achieved, the epochs pruning saved and the
// parameters' importance (importance.ts). The
// driver stores it on the study when it ends; the API computes it live while the study runs.
import type { Platform } from '../platform.ts';
import { resolveHyperparameters } from '../training/hyperparameters.ts';
import { parseJson } from '../jobs/jobs.ts';
import type { JsonValue } from './search-space.ts';
import type { StudySpec } from './request.ts';
import { TRIAL_STATES, type Trial, type TrialState } from './trials.ts';
import { paramImportance, type ImportanceReport } from './importance.ts';

export interface TrialJob {
  id: string;
  status: string;
  metrics_json: string | null;
  error: string | null;
  model_version: number | null;
  stats_json: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export async function trialJobs(platform: Platform, studyId: string): Promise<Map<string, TrialJob>> {
  const rows = await platform.metadata.db
    .selectFrom('jobs')
    .select(['id', 'status', 'metrics_json', 'error', 'model_version', 'stats_json', 'started_at', 'finished_at'])
    .where('study_id', '=', studyId)
    .execute();
  return new Map(rows.map((r) => [r.id, r]));
}

export interface StudySummary {
  best_trial: number | null;
  best_objective: number | null;
  best_params: Record<string, JsonValue> | null;
  best_model_version: number | null;
  trials: Record<TrialState, number> & { total: number };
  objective_over_trials: Array<{ number: number; state: TrialState; objective: number | null; best_so_far: number | null; finished_at: string | null }>;
  /** Sum of the trials' run times, and that over the study's wall time so far (the parallelism achieved). */
  trial_seconds: number;
  epochs_run: number;
  epochs_saved_by_pruning: number;
  stop_reason: string | null;
  /** Per-parameter importance over the succeeded trials; null with too few of them. */
  param_importance: ImportanceReport | null;
}

export function isBetter(direction: StudySpec['objective']['direction'], a: number, b: number | null): boolean {
  return b === null || (direction === 'minimize' ? a < b : a > b);
}

export function studySummary(spec: StudySpec, trials: Trial[], jobs: Map<string, TrialJob>, stopReason: string | null): StudySummary {
  const counts = Object.fromEntries(TRIAL_STATES.map((s) => [s, 0])) as Record<TrialState, number>;
  let best: Trial | undefined;
  let bestSoFar: number | null = null;
  const over: StudySummary['objective_over_trials'] = [];
  const plannedEpochs = resolveHyperparameters(spec.base_hyperparameters, spec.model.task).epochs;
  let trialSeconds = 0;
  let epochsRun = 0;
  let saved = 0;
  const byFinish = [...trials].sort((a, b) => (a.finished_at ?? '~').localeCompare(b.finished_at ?? '~') || a.number - b.number);
  for (const t of byFinish) {
    counts[t.state]++;
    if (t.state === 'succeeded' && t.objective !== null && isBetter(spec.objective.direction, t.objective, bestSoFar)) {
      bestSoFar = t.objective;
      best = t;
    }
    over.push({ number: t.number, state: t.state, objective: t.objective, best_so_far: bestSoFar, finished_at: t.finished_at });
    const job = jobs.get(t.job_id);
    if (job?.started_at) trialSeconds += ((job.finished_at ? Date.parse(job.finished_at) : Date.now()) - Date.parse(job.started_at)) / 1000;
    const run = t.epochs_run ?? parseJson<{ epochs_run?: number }>(job?.stats_json)?.epochs_run ?? 0;
    epochsRun += run;
    if (t.state === 'pruned') {
      const planned = typeof t.params.epochs === 'number' ? t.params.epochs : plannedEpochs;
      saved += Math.max(0, planned - run);
    }
  }
  return {
    best_trial: best?.number ?? null,
    best_objective: best?.objective ?? null,
    best_params: best?.params ?? null,
    best_model_version: best ? (jobs.get(best.job_id)?.model_version ?? null) : null,
    trials: { ...counts, total: trials.length },
    objective_over_trials: over,
    trial_seconds: Math.round(trialSeconds * 100) / 100,
    epochs_run: epochsRun,
    epochs_saved_by_pruning: saved,
    stop_reason: stopReason,
    param_importance: paramImportance(spec.search_space, trials),
  };
}
