// The jobs table as a queue. A claim is one atomic step (SQLite: a single UPDATE … RETURNING, which
// SQLite serialises; MySQL: SELECT … FOR UPDATE SKIP LOCKED inside a transaction), giving the job a
// lease owner and an expiry that the runner renews by heartbeat. A job whose lease runs out (its
// worker died) is re-queued while attempts remain and failed after that: never `running` forever.
import { sql, type Updateable } from 'kysely';
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { together, type MetadataStore } from '../store/metadata/metadata-store.ts';
import { nowIso } from '../ids.ts';
import type { JobTable } from '../store/metadata/schema.ts';
import { appendEvent, type Db, type JobRow } from './jobs.ts';
import type { JobErrorCode } from './errors.ts';

/** Random per process start: names this process in lease owners (a host name and pid can repeat). */
const BOOT_ID = randomBytes(12).toString('base64url');

/**
 * Where this process's pid means something: the kernel's boot id (random per machine boot) and the
 * inode of this PID namespace (one per container), on Linux; null elsewhere. Two containers with the
 * same host name and pid differ here, and so does a machine that rebooted.
 */
const PID_SPACE = ((): string | null => {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '');
    const namespace = /\d+/.exec(readlinkSync('/proc/self/ns/pid'))?.[0];
    return /^[0-9a-f]{32}$/.test(boot) && namespace ? `${boot}.${namespace}` : null;
  } catch {
    return null;
  }
})();

let owners = 0;

/**
 * A lease owner id: role, this process's boot id with a counter, and where its pid is valid with the
 * pid (`worker:Qm9vdElkMTIz-1:<kernel boot id>.<pid namespace>.<pid>`), so isDeadLocalOwner can tell a
 * crashed process from one in another container, and a restarted process never matches its predecessor.
 */
export function newLeaseOwner(role: string): string {
  return `${role}:${BOOT_ID}-${++owners}:${PID_SPACE ? `${PID_SPACE}.${process.pid}` : 'unknown'}`;
}

function claimedFields(store: MetadataStore, owner: string, leaseMs: number) {
  const now = nowIso();
  return {
    status: 'running',
    lease_owner: owner,
    lease_expires_at: sql<number>`${store.nowMs} + ${leaseMs}`,
    attempts: sql<number>`attempts + 1`,
    started_at: sql<string>`coalesce(started_at, ${now})`,
    updated_at: now,
  };
}

/** The row as claimedFields() leaves it, computed from the row read under its lock (the lease read back). */
function afterClaim(row: JobRow, fields: ReturnType<typeof claimedFields>, leaseExpiresAt: number | null): JobRow {
  return {
    ...row,
    status: 'running',
    lease_owner: fields.lease_owner,
    lease_expires_at: leaseExpiresAt,
    attempts: row.attempts + 1,
    started_at: row.started_at ?? fields.updated_at,
    updated_at: fields.updated_at,
  };
}

/**
 * Claims the oldest queued job, or returns undefined when the queue is empty.
 * MySQL: one transaction: SELECT … FOR UPDATE SKIP LOCKED of the whole row, UPDATE, and the
 * `running` status event (one commit per claim, and no claimed job without its event); the claimed
 * row is computed from the locked one rather than read again.
 * SQLite: one UPDATE … RETURNING (SQLite serialises writers), then the event. No multi-statement
 * transaction here: better-sqlite3 is synchronous, so two connections in one process (tests,
 * benchmarks) would deadlock, one holding the write lock while the other blocks the event loop in
 * its busy wait.
 */
export async function claimNext(
  store: MetadataStore,
  owner: string,
  leaseMs: number,
  options: { dispatchedOnly?: boolean; kinds?: { only?: readonly string[]; except?: readonly string[] } } = {},
): Promise<JobRow | undefined> {
  const { db } = store;
  if (options.kinds?.only?.length === 0) return undefined; // no kind to claim (SQL has no empty IN list)
  const queued = (q: Db) => {
    let base = q.selectFrom('jobs').where('status', '=', 'queued');
    if (options.kinds?.only) base = base.where('kind', 'in', options.kinds.only);
    if (options.kinds?.except?.length) base = base.where('kind', 'not in', options.kinds.except);
    // Jobs handed to AWS Batch are claimed by their container (claimById), not by a worker loop.
    return (options.dispatchedOnly ? base.where('external_id', 'is not', null) : base.where('external_id', 'is', null)).orderBy('created_at').orderBy('id').limit(1);
  };
  const fields = claimedFields(store, owner, leaseMs);
  if (store.dialect === 'sqlite') {
    const claimed = await db
      .updateTable('jobs')
      .set(fields)
      .where('id', '=', (eb) => eb.selectFrom(queued(db).select('id').as('next')).select('next.id'))
      .where('status', '=', 'queued')
      .returningAll()
      .executeTakeFirst();
    if (claimed) await appendEvent(db, claimed.id, 'status', { status: 'running', attempt: claimed.attempts });
    return claimed;
  }
  return db.transaction().execute(async (trx) => {
    const next = await queued(trx).selectAll().forUpdate().skipLocked().executeTakeFirst();
    if (!next) return undefined;
    await trx.updateTable('jobs').set(fields).where('id', '=', next.id).execute();
    const lease = await trx.selectFrom('jobs').select('lease_expires_at').where('id', '=', next.id).executeTakeFirst();
    const claimed = afterClaim(next, fields, lease?.lease_expires_at ?? null);
    await appendEvent(trx, claimed.id, 'status', { status: 'running', attempt: claimed.attempts });
    return claimed;
  });
}

/** Claims one specific queued job (`trainyard run-job <id>`, the AWS Batch entrypoint). */
export async function claimById(store: MetadataStore, id: string, owner: string, leaseMs: number): Promise<JobRow | undefined> {
  return together(store, async (q) => {
    const result = await q.updateTable('jobs').set(claimedFields(store, owner, leaseMs)).where('id', '=', id).where('status', '=', 'queued').executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    const job = await q.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    await appendEvent(q, id, 'status', { status: 'running', attempt: job.attempts });
    return job;
  });
}

export interface LeaseState {
  held: boolean;
  cancelRequested: boolean;
}

/** Extends the lease (by the database's clock); reports whether it is still ours and whether a cancel was requested. */
export async function renewLease(store: MetadataStore, id: string, owner: string, leaseMs: number): Promise<LeaseState> {
  const { db } = store;
  const result = await db
    .updateTable('jobs')
    .set({ lease_expires_at: sql<number>`${store.nowMs} + ${leaseMs}` })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) return { held: false, cancelRequested: false };
  const row = await db.selectFrom('jobs').select('cancel_requested').where('id', '=', id).executeTakeFirst();
  return { held: true, cancelRequested: (row?.cancel_requested ?? 0) !== 0 };
}

export interface Finish {
  status: 'succeeded' | 'failed' | 'cancelled';
  error?: string | null;
  errorCode?: JobErrorCode | null;
  modelVersion?: number | null;
  stats?: unknown;
  metrics?: unknown;
}

/**
 * Records the end of a job, only if the caller still holds its lease (and, for success, no cancel was
 * requested meanwhile). Returns false otherwise. The status and its event commit together (see
 * together()): a reader that sees the job ended also sees its last event, which an events stream
 * waits for before it closes.
 */
export function finishJob(store: MetadataStore, id: string, owner: string, finish: Finish): Promise<boolean> {
  return together(store, (q) => finishJobIn(q, id, owner, finish));
}

/** finishJob's statements, for a caller already in a transaction (a training job records its model version with its end). */
export async function finishJobIn(db: Db, id: string, owner: string, finish: Finish): Promise<boolean> {
  const now = nowIso();
  let query = db
    .updateTable('jobs')
    .set({
      status: finish.status,
      error: finish.error ?? null,
      error_code: finish.errorCode ?? null,
      finished_at: now,
      updated_at: now,
      lease_owner: null,
      lease_expires_at: null,
      ...(finish.modelVersion !== undefined ? { model_version: finish.modelVersion } : {}),
      ...(finish.stats !== undefined ? { stats_json: JSON.stringify(finish.stats) } : {}),
      ...(finish.metrics !== undefined ? { metrics_json: JSON.stringify(finish.metrics) } : {}),
    })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running');
  // A cancel requested before the end wins over success: the user asked for no result.
  if (finish.status === 'succeeded') query = query.where('cancel_requested', '=', 0);
  const result = await query.executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) return false;
  await appendEvent(db, id, 'status', { status: finish.status, error: finish.error ?? null, model_version: finish.modelVersion ?? null });
  return true;
}

/** Hands a running job back to the queue (a draining worker, or a lost process with attempts left). */
export async function requeue(store: MetadataStore, id: string, owner: string | null, reason: string, options: { refundAttempt?: boolean } = {}): Promise<boolean> {
  // Together, so the next claim's `running` event cannot come before this `queued` one.
  return together(store, async (q) => {
    let query = q
      .updateTable('jobs')
      .set({
        status: 'queued',
        lease_owner: null,
        lease_expires_at: null,
        external_id: null,
        updated_at: nowIso(),
        ...(options.refundAttempt ? { attempts: sql<number>`attempts - 1` } : {}),
      })
      .where('id', '=', id)
      .where('status', '=', 'running');
    query = owner === null ? query.where('lease_owner', 'is', null) : query.where('lease_owner', '=', owner);
    const result = await query.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
    await appendEvent(q, id, 'status', { status: 'queued', reason });
    return true;
  });
}

/**
 * Re-queues running jobs whose lease has expired by the database's clock (or whose owner is known
 * dead), or fails them once their attempts are used up. Safe to run from every server and worker at
 * once: each update re-checks the lease it saw.
 */
export async function reapLostJobs(store: MetadataStore, options: { deadOwners?: (owner: string) => boolean } = {}): Promise<number> {
  const running = await store.db
    .selectFrom('jobs')
    .select(['id', 'lease_owner', 'lease_expires_at', 'attempts', 'max_attempts', 'cancel_requested'])
    .select(sql<number>`case when lease_expires_at < ${store.nowMs} then 1 else 0 end`.as('expired'))
    .where('status', '=', 'running')
    .execute();
  let reaped = 0;
  for (const job of running) {
    const expired = Number(job.expired) === 1;
    const dead = job.lease_owner !== null && options.deadOwners?.(job.lease_owner) === true;
    if (!expired && !dead) continue;
    const stamp = nowIso();
    let change: { fields: Updateable<JobTable>; event: Record<string, unknown> };
    if (job.cancel_requested) {
      change = { fields: { status: 'cancelled', finished_at: stamp }, event: { status: 'cancelled' } };
    } else if (job.attempts < job.max_attempts) {
      const reason = `worker ${job.lease_owner ?? '?'} was lost; retrying (attempt ${job.attempts + 1} of ${job.max_attempts})`;
      change = { fields: { status: 'queued', external_id: null }, event: { status: 'queued', reason } };
    } else {
      const error = `the process running this job was lost ${job.attempts} time(s) (last worker ${job.lease_owner ?? 'unknown'}); giving up after ${job.max_attempts} attempts`;
      change = { fields: { status: 'failed', error, error_code: 'WORKER_LOST' satisfies JobErrorCode, finished_at: stamp }, event: { status: 'failed', error } };
    }
    // The status and its event commit together, so a worker that claims the re-queued job cannot
    // record `running` before this `queued`.
    const changed = await together(store, async (q) => {
      // Re-check the lease exactly as seen: an owner that renewed it since (a heartbeat that was only
      // late, e.g. after a database blip) keeps its job.
      let update = q
        .updateTable('jobs')
        .set({ ...change.fields, updated_at: stamp, lease_owner: null, lease_expires_at: null })
        .where('id', '=', job.id)
        .where('status', '=', 'running');
      update = job.lease_owner === null ? update.where('lease_owner', 'is', null) : update.where('lease_owner', '=', job.lease_owner);
      update = job.lease_expires_at === null ? update.where('lease_expires_at', 'is', null) : update.where('lease_expires_at', '=', job.lease_expires_at);
      const result = await update.executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await appendEvent(q, job.id, 'status', change.event);
      return true;
    });
    if (changed) reaped++;
  }
  return reaped;
}

const OWNER_FORMAT = /^[^:]+:([^:]+)-\d+:([0-9a-f]{32}\.\d+)\.(\d+)$/;

/** The pid in an owner id (newLeaseOwner), when it records one. */
export function leaseOwnerPid(owner: string): number | undefined {
  const match = OWNER_FORMAT.exec(owner);
  return match ? Number(match[3]) : undefined;
}

/**
 * True when an owner id (newLeaseOwner) names a process in this machine boot and PID namespace that
 * no longer exists (crash recovery). An owner from elsewhere, or of another format, is never judged:
 * its lease expiring is what frees its jobs.
 */
export function isDeadLocalOwner(owner: string): boolean {
  const match = OWNER_FORMAT.exec(owner);
  if (!match || match[1] === BOOT_ID || match[2] !== PID_SPACE) return false;
  try {
    process.kill(Number(match[3]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
