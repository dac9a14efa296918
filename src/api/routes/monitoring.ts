// Model monitoring: settings per model, feedback, drift and live quality per version, traffic.
import { Type, type Static } from 'typebox';
import type { Api, RouteContext } from '../route-context.ts';
import { registerJobRoutes } from '../job-routes.ts';
import { problems } from '../schemas.ts';
import { JobStatusSchema } from './training-jobs.ts';
import { createJob, jobModel, jobSpec, parseJson, type JobRow, type JobStatus } from '../../jobs/jobs.ts';
import { validateName } from '../../datasets/service.ts';
import { ExportJobResultSchema, type ExportJobResult, type ExportJobSpec } from '../../monitoring/export-job.ts';
import { getModel, getVersion } from '../../models/registry.ts';
import { TrainyardError } from '../../errors.ts';
import { applyFeedback, getSettings, labelledPredictions, putSettings } from '../../monitoring/store.ts';
import { hourlyTraffic } from '../../monitoring/traffic.ts';
import { readBaseline } from '../../monitoring/baseline-artifact.ts';
import { computeDrift } from '../../monitoring/drift.ts';
import { liveQuality } from '../../monitoring/quality.ts';
import { parseWindow } from '../../monitoring/window.ts';

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });
const VersionParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), version: Type.Integer({ minimum: 1 }) });
const WindowQuery = Type.String({ default: '24h', description: 'Hours or days back from now, e.g. 24h or 7d (at most 90d); whole hours are counted' });

/** Most feedback items one request may carry. */
export const MAX_FEEDBACK_ITEMS = 10_000;
/** Most labelled predictions live quality scores (the newest in the window). */
export const MAX_QUALITY_ROWS = 100_000;

const MonitoringSettingsSchema = Type.Object(
  {
    model: Type.String(),
    log_sample_rate: Type.Number({ description: 'Share of predicted rows logged, 0 (off, the default) to 1' }),
    retention_days: Type.Integer({ description: 'Logs, feedback and live histograms older than this are deleted' }),
    updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'MonitoringSettings' },
);

const Histogram = Type.Array(Type.Object({ bin: Type.String(), expected: Type.Number(), live: Type.Number() }));
const Share = Type.Object({ expected: Type.Number(), live: Type.Number() });
const Status = Type.Union(['ok', 'warn', 'drift', 'no_data'].map((s) => Type.Literal(s)));

const DriftReportSchema = Type.Object(
  {
    model: Type.String(),
    version: Type.Integer(),
    window: Type.String(),
    from: Type.String({ format: 'date-time' }),
    thresholds: Type.Object({ warn: Type.Number(), drift: Type.Number() }),
    live_rows: Type.Integer(),
    status: Status,
    features: Type.Array(
      Type.Object({
        feature: Type.String({ description: 'The column; a datetime column\'s cyclic parts are `column.month`, `column.day_of_week` and `column.hour`' }),
        kind: Type.Union([Type.Literal('numeric'), Type.Literal('categorical'), Type.Literal('datetime')]),
        column: Type.Optional(Type.String({ description: 'Datetime features: the column' })),
        part: Type.Optional(
          Type.Union([Type.Literal('time'), Type.Literal('month'), Type.Literal('day_of_week'), Type.Literal('hour')], {
            description: 'Datetime features: the instant (binned at the training deciles) or a cyclic part (one bin per month, weekday or hour, UTC)',
          }),
        ),
        psi: Type.Number(),
        status: Status,
        live_rows: Type.Integer(),
        missing_share: Share,
        unseen_share: Type.Optional(Share),
        histogram: Histogram,
      }),
    ),
    prediction: Type.Union([Type.Object({ psi: Type.Number(), status: Status, live_rows: Type.Integer(), histogram: Histogram }), Type.Null()]),
  },
  { $id: 'DriftReport' },
);

const ExportJobSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStatusSchema,
    model: Type.String(),
    name: Type.String({ description: 'The dataset the logs are exported into (its next version)' }),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
    progress: Type.Union([Type.Object({ rows_done: Type.Integer() }), Type.Null()]),
    result: Type.Union([ExportJobResultSchema, Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
    error_code: Type.Union([Type.String(), Type.Null()]),
    attempts: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'ExportJob' },
);

function toExportJob(row: JobRow): Static<typeof ExportJobSchema> {
  const spec = jobSpec<ExportJobSpec>(row);
  return {
    id: row.id,
    status: row.status as JobStatus,
    model: jobModel(row),
    name: spec.name,
    from: spec.from,
    to: spec.to,
    progress: parseJson<{ rows_done: number }>(row.progress_json),
    result: row.status === 'succeeded' ? parseJson<ExportJobResult>(row.stats_json) : null,
    error: row.error,
    error_code: row.error_code,
    attempts: row.attempts,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
  };
}

export async function monitoringRoutes(app: Api, { platform, monitor, executor }: RouteContext): Promise<void> {
  const { db } = platform.metadata;
  const store = platform.metadata;
  const { config } = platform;
  const tags = ['monitoring'];
  app.addSchema(MonitoringSettingsSchema);
  app.addSchema(DriftReportSchema);
  app.addSchema(ExportJobSchema);
  const exportRef = Type.Ref('ExportJob');

  app.get(
    '/v1/models/:name/monitoring',
    { schema: { tags, summary: 'Monitoring settings of a model', params: NameParams, response: { 200: Type.Ref('MonitoringSettings'), ...problems(401, 403, 404) } } },
    async (request) => {
      await getModel(db, request.params.name);
      return { model: request.params.name, ...(await getSettings(store, request.params.name)) };
    },
  );

  app.put(
    '/v1/models/:name/monitoring',
    {
      schema: {
        tags,
        summary: 'Turn prediction logging on or off and set its retention',
        description: 'Off by default: prediction inputs may be personal data. Applies on every server within 5 s.',
        params: NameParams,
        body: Type.Object(
          {
            log_sample_rate: Type.Number({ minimum: 0, maximum: 1, description: 'Share of predicted rows to log (0 = off)' }),
            retention_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, default: 30 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('MonitoringSettings'), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await getModel(db, request.params.name);
      const settings = await putSettings(store, request.params.name, { log_sample_rate: request.body.log_sample_rate, retention_days: request.body.retention_days ?? 30 });
      monitor.invalidate(request.params.name);
      return { model: request.params.name, ...settings };
    },
  );

  app.post(
    '/v1/models/:name/feedback',
    {
      schema: {
        tags,
        summary: 'Attach true labels to logged predictions (all or nothing)',
        description:
          'Each item names a logged prediction by the `x-request-id` of its predict call (or an inference job id) and its 0-based `row`. Feedback for a prediction that was not logged (sampled out, logging off, past retention, or still in the last 2 s buffer) is a 400 naming the item, and nothing is written.',
        params: NameParams,
        body: Type.Array(
          Type.Object(
            {
              request_id: Type.String({ minLength: 1, maxLength: 128 }),
              row: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
              label: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Number(), Type.Boolean()]),
            },
            { additionalProperties: false },
          ),
          { minItems: 1, maxItems: MAX_FEEDBACK_ITEMS },
        ),
        response: { 200: Type.Object({ updated: Type.Integer() }), ...problems(400, 401, 403, 404, 413) },
      },
    },
    async (request) => {
      const model = await getModel(db, request.params.name);
      const regression = model.spec.task === 'regression';
      const items = request.body.map((item, i) => {
        if (regression && (typeof item.label !== 'number' || !Number.isFinite(item.label))) {
          throw new TrainyardError('VALIDATION_FAILED', `feedback [${i}]: a regression model's label must be a number`, { errors: [{ field: `[${i}].label`, message: 'must be a number' }] });
        }
        return { request_id: item.request_id, row: item.row ?? 0, label: String(item.label) };
      });
      const { unknown } = await applyFeedback(store, model.name, items);
      if (unknown.length > 0) {
        throw new TrainyardError('UNKNOWN_PREDICTION', `${unknown.length} of ${items.length} feedback items name no logged prediction of "${model.name}"; nothing was written`, {
          errors: unknown.slice(0, 20).map((i) => ({ field: `[${i}].request_id`, message: `no logged prediction ${items[i].request_id} row ${items[i].row}` })),
        });
      }
      return { updated: items.length };
    },
  );

  app.get(
    '/v1/models/:name/versions/:version/drift',
    {
      schema: {
        tags,
        summary: 'Drift of live inputs and predictions against the training data, per feature (PSI)',
        params: VersionParams,
        querystring: Type.Object(
          {
            window: WindowQuery,
            warn: Type.Optional(Type.Number({ minimum: 0, description: `PSI from which a feature is warn (default TRAINYARD_DRIFT_WARN, ${config.driftWarn})` })),
            drift: Type.Optional(Type.Number({ minimum: 0, description: `PSI from which a feature is drift (default TRAINYARD_DRIFT_ALERT, ${config.driftAlert})` })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('DriftReport'), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { window } = request.query;
      const { from } = parseWindow(window);
      const version = await getVersion(db, request.params.name, request.params.version);
      const baseline = await readBaseline(platform.blobs, version.blob_prefix);
      if (!baseline) {
        throw new TrainyardError('NO_BASELINE', `version ${version.version} of "${version.model}" was trained before drift baselines existed; train a new version to monitor drift`);
      }
      const thresholds = { warn: request.query.warn ?? config.driftWarn, drift: request.query.drift ?? config.driftAlert };
      if (thresholds.warn > thresholds.drift) {
        throw new TrainyardError('VALIDATION_FAILED', 'warn must not be above drift', { errors: [{ field: 'querystring.warn', message: `is above drift (${thresholds.drift})` }] });
      }
      return computeDrift(store, { model: version.model, version: version.version, baseline, window, from, thresholds });
    },
  );

  app.get(
    '/v1/models/:name/versions/:version/quality',
    {
      schema: {
        tags,
        summary: 'Live quality of a version, from the feedback on its logged predictions',
        params: VersionParams,
        querystring: Type.Object({ window: WindowQuery }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            model: Type.String(),
            version: Type.Integer(),
            window: Type.String(),
            labelled_rows: Type.Integer({ description: `Predictions with feedback in the window (the newest ${MAX_QUALITY_ROWS} at most)` }),
            metrics: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()]), { description: 'accuracy, f1, roc_auc (binary) or rmse, mae, r2' }),
          }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { from } = parseWindow(request.query.window);
      const version = await getVersion(db, request.params.name, request.params.version);
      const rows = await labelledPredictions(store, version.model, version.version, from.toISOString(), MAX_QUALITY_ROWS);
      return {
        model: version.model,
        version: version.version,
        window: request.query.window,
        labelled_rows: rows.length,
        metrics: liveQuality(version.signature.output.task, version.signature.output.classes, rows),
      };
    },
  );

  app.get(
    '/v1/models/:name/monitoring/traffic',
    {
      schema: {
        tags,
        summary: 'Logged rows and serving latency per hour and version',
        params: NameParams,
        querystring: Type.Object({ window: WindowQuery }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            model: Type.String(),
            hours: Type.Array(
              Type.Object({
                hour: Type.String({ description: 'YYYY-MM-DDTHH (UTC)' }),
                version: Type.Integer(),
                rows: Type.Integer(),
                latency_ms: Type.Object({ p50: Type.Union([Type.Number(), Type.Null()]), p99: Type.Union([Type.Number(), Type.Null()]) }),
              }),
            ),
          }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { from } = parseWindow(request.query.window);
      await getModel(db, request.params.name);
      return { model: request.params.name, hours: await hourlyTraffic(store, request.params.name, from.toISOString().slice(0, 13)) };
    },
  );

  app.post(
    '/v1/models/:name/prediction-logs/export',
    {
      schema: {
        tags,
        summary: 'Export logged predictions (feedback labels as the target column) into a new dataset version',
        description:
          'A job (kind `export`): the logged inputs of the range become the columns, the feedback labels the model\'s target column (empty where none arrived). The range defaults to everything kept. Ready to train on with POST /v1/training-jobs, from scratch or from the serving version with `init_from` (docs/training.md).',
        params: NameParams,
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200, description: 'Dataset name; an existing name gets its next version' }),
            from: Type.Optional(Type.String({ format: 'date-time', description: 'Start of the range (inclusive); default: the oldest log kept' })),
            to: Type.Optional(Type.String({ format: 'date-time', description: 'End of the range (exclusive); default: now' })),
          },
          { additionalProperties: false },
        ),
        response: { 202: exportRef, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const model = await getModel(db, request.params.name);
      const name = validateName(request.body.name, 'name');
      const to = request.body.to ? new Date(request.body.to) : new Date();
      const from = request.body.from ? new Date(request.body.from) : new Date(0);
      if (!(from < to)) throw new TrainyardError('VALIDATION_FAILED', 'from must be before to', { errors: [{ field: 'from', message: `is not before to (${to.toISOString()})` }] });
      const spec: ExportJobSpec = { target: model.spec.target, name, from: from.toISOString(), to: to.toISOString() };
      const job = await createJob(store, { kind: 'export', model: model.name, spec, maxAttempts: config.maxAttempts });
      executor?.poke();
      return reply.status(202).header('location', `/v1/export-jobs/${job.id}`).send(toExportJob(job));
    },
  );

  registerJobRoutes(app, platform, {
    kind: 'export',
    path: '/v1/export-jobs',
    tags,
    view: { schema: exportRef, of: toExportJob },
    summaries: { get: 'Get a prediction-log export job and, once succeeded, its dataset', cancel: 'Cancel an export job (nothing is kept)' },
  });
}
