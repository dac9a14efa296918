import { Type, type Static } from 'typebox';
import type { Api, RouteContext } from '../route-context.ts';
import { IdParams, problems } from '../schemas.ts';
import { PageQuery, decodeCursor, pageOf, pageSchema } from '../pagination.ts';
import { FINISHED_STATUSES, getJobRow, jobDataset, jobModel, jobSpec, listJobRows, parseJson, requestCancel, type JobRow, type JobStatus } from '../../jobs/jobs.ts';
import { streamJobEvents } from '../../jobs/events-stream.ts';
import { openStream } from '../../auth/streams.ts';
import { TrainyardError } from '../../errors.ts';
import type { Platform } from '../../platform.ts';
import { DistributionSchema, type SearchSpace } from '../../tuning/search-space.ts';
import { TuningJobBody, type StudySpec } from '../../tuning/request.ts';
import { submitTuningJob } from '../../tuning/submit.ts';
import { epochValues, listTrials, TRIAL_STATES, type Trial } from '../../tuning/trials.ts';
import { isBetter, studySummary, trialJobs, type StudySummary, type TrialJob } from '../../tuning/summary.ts';
import { JobStatusSchema } from './training-jobs.ts';

const Nullable = <T extends import('typebox').TSchema>(t: T) => Type.Union([t, Type.Null()]);
const TrialStateSchema = Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('pruned'), Type.Literal('cancelled')], {
  description: `One of ${TRIAL_STATES.join(', ')}`,
});
const Params = Type.Record(Type.String(), Type.Unknown(), { description: 'Parameter path → the value this trial used' });

const SummarySchema = Type.Object({
  best_trial: Nullable(Type.Integer()),
  best_objective: Nullable(Type.Number()),
  best_params: Nullable(Params),
  best_model_version: Nullable(Type.Integer()),
  trials: Type.Object({
    total: Type.Integer(),
    running: Type.Integer(),
    succeeded: Type.Integer(),
    failed: Type.Integer(),
    pruned: Type.Integer(),
    cancelled: Type.Integer(),
  }),
  objective_over_trials: Type.Array(
    Type.Object({ number: Type.Integer(), state: TrialStateSchema, objective: Nullable(Type.Number()), best_so_far: Nullable(Type.Number()), finished_at: Nullable(Type.String()) }),
    { description: 'Trials in the order they ended (running ones last), with the best objective so far.' },
  ),
  trial_seconds: Type.Number({ description: 'Sum of the trials’ run times (compare with the study’s wall time for the parallelism achieved).' }),
  epochs_run: Type.Integer(),
  epochs_saved_by_pruning: Type.Integer({ description: 'Planned epochs the pruned trials did not run.' }),
  stop_reason: Nullable(Type.String({ description: 'completed, or max_runtime_seconds' })),
  param_importance: Nullable(
    Type.Object(
      {
        method: Type.Literal('binned_anova_ranks'),
        trials_used: Type.Integer({ description: 'Succeeded trials the estimate used (pruned and failed ones are left out).' }),
        params: Type.Array(
          Type.Object({
            param: Type.String(),
            importance: Type.Number({ description: 'Share of the summed variance_explained (the params add up to 1, or are all 0).' }),
            variance_explained: Type.Number({ description: 'Chance-corrected share (epsilon squared) of the variance of the objective’s ranks that this parameter’s value groups explain: 0 to 1.' }),
            groups: Type.Integer({ description: 'Value groups: one per value for a choice (or few distinct values), else 2–5 equal-count quantile bins.' }),
          }),
          { description: 'Most important first.' },
        ),
      },
      { description: 'Per-parameter importance: the first-order share of the objective’s variance each parameter explains, from the succeeded trials themselves (docs/tuning.md#parameter-importance). Null with fewer than 6 succeeded trials.' },
    ),
  ),
});

export const TuningJobSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStatusSchema,
    model: Type.String(),
    dataset: Type.String({ description: 'Dataset id' }),
    hyperparameters: Type.Record(Type.String(), Type.Unknown(), { description: 'The trials’ base hyperparameters, as given' }),
    search_space: Type.Record(Type.String(), Type.Ref('Distribution')),
    strategy: Type.String(),
    objective: Type.Object({ metric: Type.String(), direction: Type.Union([Type.Literal('minimize'), Type.Literal('maximize')]) }),
    max_trials: Type.Integer({ description: 'Trials the study runs (a grid’s size when that is smaller than asked).' }),
    max_parallel: Type.Integer(),
    max_runtime_seconds: Nullable(Type.Integer()),
    pruning: Nullable(Type.Record(Type.String(), Type.Unknown())),
    seed: Type.Integer(),
    alias: Nullable(Type.String()),
    summary: SummarySchema,
    model_version: Nullable(Type.Integer({ description: 'The best trial’s model version, once the study succeeded.' })),
    error: Nullable(Type.String()),
    error_code: Nullable(Type.String()),
    attempts: Type.Integer({ description: 'Driver attempts: a lost driver is replaced and the study carries on.' }),
    cancel_requested: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'TuningJob' },
);
type TuningJob = Static<typeof TuningJobSchema>;

const TrialSchema = Type.Object(
  {
    number: Type.Integer(),
    state: TrialStateSchema,
    params: Params,
    objective: Nullable(Type.Number({ description: 'The objective of the trial’s model version; for a pruned trial, its value when it was stopped.' })),
    rank: Nullable(Type.Integer({ description: '1 = best among succeeded trials' })),
    training_job_id: Nullable(Type.String({ description: 'null when the parameters failed a training job’s checks (no job was made)' })),
    model_version: Nullable(Type.Integer()),
    epochs_run: Nullable(Type.Integer()),
    curve: Type.Record(Type.String(), Type.Number(), { description: 'Objective per epoch, as the trial reported it' }),
    error: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'TuningTrial' },
);

/** The space as the request gave it (the stored form is parsed). */
function distributions(space: SearchSpace): Record<string, Static<typeof DistributionSchema>> {
  const out: Record<string, Static<typeof DistributionSchema>> = {};
  for (const [path, p] of Object.entries(space)) {
    if (p.kind === 'choice') out[path] = { choice: p.choices };
    else if (p.kind === 'int') out[path] = { int_uniform: [p.low, p.high], step: p.step };
    else out[path] = p.log ? { log_uniform: [p.low, p.high], points: p.points } : { uniform: [p.low, p.high], points: p.points };
  }
  return out;
}

async function toTuningJob(platform: Platform, row: JobRow): Promise<TuningJob> {
  const spec = jobSpec<StudySpec>(row);
  const finished = FINISHED_STATUSES.includes(row.status as JobStatus);
  // A study that ended before param_importance was added has a stored summary without it: computed again.
  const stored = finished ? parseJson<Partial<StudySummary> & Omit<StudySummary, 'param_importance'>>(row.stats_json) : null;
  const summary = stored?.param_importance !== undefined ? { ...stored, param_importance: stored.param_importance } : studySummary(spec, await listTrials(platform.metadata.db, row.id), await trialJobs(platform, row.id), stored?.stop_reason ?? null);
  return {
    id: row.id,
    status: row.status as JobStatus,
    model: jobModel(row),
    dataset: jobDataset(row),
    hyperparameters: spec.base_hyperparameters,
    search_space: distributions(spec.search_space),
    strategy: spec.strategy,
    objective: spec.objective,
    max_trials: spec.max_trials,
    max_parallel: spec.max_parallel,
    max_runtime_seconds: spec.max_runtime_seconds,
    pruning: spec.pruning,
    seed: spec.seed,
    alias: spec.alias,
    summary,
    model_version: row.model_version,
    error: row.error,
    error_code: row.error_code,
    attempts: row.attempts,
    cancel_requested: row.cancel_requested !== 0,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    updated_at: row.updated_at,
  };
}

/** The leaderboard: succeeded trials best first, then pruned (by their last value), then the rest by number. */
export function leaderboard(spec: StudySpec, trials: Trial[], jobs: Map<string, TrialJob>, curves: Map<string, Record<string, number>>) {
  const group = (t: Trial) => (t.state === 'succeeded' ? 0 : t.state === 'pruned' ? 1 : t.state === 'running' ? 2 : 3);
  const sorted = [...trials].sort((a, b) => {
    if (group(a) !== group(b)) return group(a) - group(b);
    if (group(a) <= 1 && a.objective !== null && b.objective !== null && a.objective !== b.objective) return isBetter(spec.objective.direction, a.objective, b.objective) ? -1 : 1;
    return a.number - b.number;
  });
  let rank = 0;
  return sorted.map((t) => {
    const job = jobs.get(t.job_id);
    return {
      number: t.number,
      state: t.state,
      params: t.params,
      objective: t.objective,
      rank: t.state === 'succeeded' ? ++rank : null,
      training_job_id: job ? t.job_id : null,
      model_version: job?.model_version ?? null,
      epochs_run: t.epochs_run,
      curve: curves.get(t.job_id) ?? {},
      error: t.error,
      created_at: t.created_at,
      finished_at: t.finished_at,
    };
  });
}

const ListQuery = Type.Intersect([PageQuery, Type.Object({ status: Type.Optional(JobStatusSchema), model: Type.Optional(Type.String()) })]);

export async function tuningJobRoutes(app: Api, { platform, executor }: RouteContext): Promise<void> {
  const { db } = platform.metadata;
  app.addSchema(DistributionSchema);
  app.addSchema(TuningJobSchema);
  app.addSchema(TrialSchema);
  const tags = ['tuning-jobs'];
  const ref = Type.Ref('TuningJob');

  app.post(
    '/v1/tuning-jobs',
    {
      schema: {
        tags,
        summary: 'Start a hyperparameter tuning study',
        description:
          'Runs up to `max_parallel` trials at a time as ordinary training jobs (each linked to the study: `GET /v1/training-jobs?study=`), choosing each trial’s parameters from the search space by `strategy` (random, grid, or tpe through Optuna), until `max_trials` have run. The best trial’s model version is the result; `alias` points an alias at it.',
        body: TuningJobBody,
        response: { 202: ref, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const job = await submitTuningJob(platform, request.body);
      executor?.poke();
      return reply.status(202).header('location', `/v1/tuning-jobs/${job.id}`).send(await toTuningJob(platform, job));
    },
  );

  app.get(
    '/v1/tuning-jobs',
    { schema: { tags, summary: 'List tuning studies (newest first)', querystring: ListQuery, response: { 200: pageSchema(ref), ...problems(400, 401, 403) } } },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await listJobRows(db, { kind: 'tuning', status: request.query.status, model: request.query.model, limit, cursor: decodeCursor(request.query.cursor) });
      const page = pageOf(rows, limit, (r) => r.id);
      return { items: await Promise.all(page.items.map((r) => toTuningJob(platform, r))), next_cursor: page.next_cursor };
    },
  );

  app.get(
    '/v1/tuning-jobs/:id',
    { schema: { tags, summary: 'Get a tuning study: status, trial counts, the best so far', params: IdParams, response: { 200: ref, ...problems(401, 403, 404) } } },
    async (request) => toTuningJob(platform, await getJobRow(db, request.params.id, 'tuning')),
  );

  app.get(
    '/v1/tuning-jobs/:id/trials',
    {
      schema: {
        tags,
        summary: 'The leaderboard: every trial with its parameters, training job, objective and state',
        description: 'Succeeded trials best first (with `rank`), then pruned ones, running ones, and the rest. At most max_trials (≤ 1000) rows: not paginated.',
        params: IdParams,
        response: { 200: Type.Object({ study_id: Type.String(), objective: Type.Object({ metric: Type.String(), direction: Type.String() }), items: Type.Array(Type.Ref('TuningTrial')) }), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const row = await getJobRow(db, request.params.id, 'tuning');
      const spec = jobSpec<StudySpec>(row);
      const trials = await listTrials(db, row.id);
      const curves = await epochValues(db, trials.map((t) => t.job_id), spec.objective.metric);
      return { study_id: row.id, objective: spec.objective, items: leaderboard(spec, trials, await trialJobs(platform, row.id), curves) };
    },
  );

  app.get(
    '/v1/tuning-jobs/:id/events',
    {
      schema: {
        tags,
        summary: 'Server-Sent Events: status, trial, log; then end',
        description: 'Events: `status` {status, error?, model_version?}, `trial` {number, state, training_job_id, params?, objective?, error?}, `log` {message, level, source}, and a final `end` {status}. Resume with Last-Event-ID.',
        params: IdParams,
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...problems(401, 403, 404, 429) },
      },
    },
    async (request, reply) => streamJobEvents(db, request, reply, request.params.id, 'tuning', openStream(platform, request)),
  );

  app.post(
    '/v1/tuning-jobs/:id/cancel',
    { schema: { tags, summary: 'Cancel a study and every trial still queued or running', params: IdParams, response: { 202: ref, ...problems(401, 403, 404, 409) } } },
    async (request, reply) => {
      const row = await requestCancel(db, request.params.id, 'tuning');
      // The driver stops its trials when it sees the request; stopping them here too covers a
      // driver that is between lives (lost, not yet replaced).
      const running = await db.selectFrom('jobs').select('id').where('study_id', '=', row.id).where('status', 'in', ['queued', 'running']).execute();
      for (const { id } of running) {
        await requestCancel(db, id, 'training').catch((error: unknown) => {
          if (!(error instanceof TrainyardError && error.code === 'JOB_FINISHED')) throw error;
        });
      }
      return reply.status(202).send(await toTuningJob(platform, row));
    },
  );
}
