// The job_metrics table, owned here: a training job's metrics per epoch, written as the trainer
// reports each epoch (a retried attempt overwrites the epochs it repeats) and read by the API.
import type { Db } from '../jobs/jobs.ts';

export interface EpochMetrics {
  epoch: number;
  metrics: Record<string, number>;
  created_at: string;
}

export async function recordEpochMetrics(db: Db, jobId: string, epoch: number, metrics: Record<string, number>, now: string): Promise<void> {
  await db.deleteFrom('job_metrics').where('job_id', '=', jobId).where('epoch', '=', epoch).execute();
  await db.insertInto('job_metrics').values({ job_id: jobId, epoch, metrics_json: JSON.stringify(metrics), created_at: now }).execute();
}

/** Oldest epoch first. */
export async function listEpochMetrics(db: Db, jobId: string): Promise<EpochMetrics[]> {
  const rows = await db.selectFrom('job_metrics').selectAll().where('job_id', '=', jobId).orderBy('epoch').execute();
  return rows.map((r) => ({ epoch: r.epoch, metrics: JSON.parse(r.metrics_json) as Record<string, number>, created_at: r.created_at }));
}
