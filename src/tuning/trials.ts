// The tuning_trials table (migration 0006): one row per trial number of a study, its parameters,
// its training job, its state and objective. This module owns the table and decodes its JSON.
import type { Selectable } from 'kysely';
import type { TuningTrialTable } from '../store/metadata/schema.ts';
import { isUniqueViolation } from '../store/metadata/errors.ts';
import { nowIso } from '../ids.ts';
import type { Db } from '../jobs/jobs.ts';
import type { JsonValue } from './search-space.ts';

export const TRIAL_STATES = ['running', 'succeeded', 'failed', 'pruned', 'cancelled'] as const;
export type TrialState = (typeof TRIAL_STATES)[number];

export interface Trial {
  study_id: string;
  number: number;
  job_id: string;
  state: TrialState;
  params: Record<string, JsonValue>;
  objective: number | null;
  epochs_run: number | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

const toTrial = (row: Selectable<TuningTrialTable>): Trial => ({
  study_id: row.study_id,
  number: row.number,
  job_id: row.job_id,
  state: row.state as TrialState,
  params: JSON.parse(row.params_json) as Record<string, JsonValue>,
  objective: row.objective === null ? null : Number(row.objective),
  epochs_run: row.epochs_run,
  error: row.error,
  created_at: row.created_at,
  finished_at: row.finished_at,
});

/**
 * Records trial `number` of a study, or returns the one already recorded under that number (a
 * driver that restarted, or a second one that overlapped): trial numbers are unique per study.
 */
export async function insertTrial(db: Db, input: { studyId: string; number: number; jobId: string; params: Record<string, JsonValue>; state?: TrialState; error?: string | null }): Promise<{ trial: Trial; created: boolean }> {
  const row: Selectable<TuningTrialTable> = {
    study_id: input.studyId,
    number: input.number,
    job_id: input.jobId,
    state: input.state ?? 'running',
    params_json: JSON.stringify(input.params),
    objective: null,
    epochs_run: null,
    error: input.error ?? null,
    created_at: nowIso(),
    finished_at: input.state && input.state !== 'running' ? nowIso() : null,
  };
  try {
    await db.insertInto('tuning_trials').values(row).execute();
    return { trial: toTrial(row), created: true };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const existing = await db.selectFrom('tuning_trials').selectAll().where('study_id', '=', input.studyId).where('number', '=', input.number).executeTakeFirst();
    if (!existing) throw error;
    return { trial: toTrial(existing), created: false };
  }
}

export async function listTrials(db: Db, studyId: string): Promise<Trial[]> {
  return (await db.selectFrom('tuning_trials').selectAll().where('study_id', '=', studyId).orderBy('number').execute()).map(toTrial);
}

/** Moves a running trial to its end state; false when it had already ended (first writer wins). */
export async function finishTrial(db: Db, studyId: string, number: number, end: { state: Exclude<TrialState, 'running'>; objective?: number | null; epochsRun?: number | null; error?: string | null }): Promise<boolean> {
  const result = await db
    .updateTable('tuning_trials')
    .set({ state: end.state, objective: end.objective ?? null, epochs_run: end.epochsRun ?? null, error: end.error ?? null, finished_at: nowIso() })
    .where('study_id', '=', studyId)
    .where('number', '=', number)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Per-epoch values of one metric for the study's trials (from job_metrics), by job id. */
export async function epochValues(db: Db, jobIds: string[], metric: string): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (jobIds.length === 0) return out;
  const rows = await db.selectFrom('job_metrics').select(['job_id', 'epoch', 'metrics_json']).where('job_id', 'in', jobIds).orderBy('epoch').execute();
  for (const row of rows) {
    const value = (JSON.parse(row.metrics_json) as Record<string, number | null>)[metric];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    const curve = out.get(row.job_id) ?? {};
    curve[String(row.epoch)] = value;
    out.set(row.job_id, curve);
  }
  return out;
}
