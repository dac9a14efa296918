// trainyard tune, and trainyard tuning-jobs list|show|cancel
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { FINISHED, type JobStatus, type TuningJob, type TuningJobRequest, type TuningTrial } from '../../client/index.ts';
import { JOB_EXIT_CODES, UsageError, action, duration, err, fields, followEvents, formatNumber, formatTime, makeClient, out, printJson, table } from './context.ts';
import { positiveInt } from './datasets.ts';
import { parseSets } from './train.ts';

const collect = (value: string, previous: string[]) => [...previous, value];
const STATUSES: JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/**
 * `--space 'optimizer.lr=log_uniform:0.0001,0.1'`, `layers[0].out_features=choice:16,32,64`,
 * `batch_size=int_uniform:16,128,16` (low, high, step), or `path={"uniform":[0,0.5]}` (JSON).
 */
export function parseSpace(entries: string[]): Record<string, Record<string, unknown>> {
  const space: Record<string, Record<string, unknown>> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UsageError(`--space expects path=distribution, got "${entry}"`);
    const path = entry.slice(0, eq).trim();
    const text = entry.slice(eq + 1).trim();
    if (text.startsWith('{')) {
      try {
        space[path] = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new UsageError(`--space ${path}: "${text}" is not valid JSON`);
      }
      continue;
    }
    const colon = text.indexOf(':');
    const kind = colon > 0 ? text.slice(0, colon) : '';
    const values = text
      .slice(colon + 1)
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '')
      .map((v) => {
        try {
          return JSON.parse(v) as unknown;
        } catch {
          return v; // a bare word such as Adam
        }
      });
    if (kind === 'choice') space[path] = { choice: values };
    else if (kind === 'uniform' || kind === 'log_uniform') {
      if (values.length !== 2) throw new UsageError(`--space ${path}: ${kind} takes low,high`);
      space[path] = { [kind]: values };
    } else if (kind === 'int_uniform') {
      if (values.length !== 2 && values.length !== 3) throw new UsageError(`--space ${path}: int_uniform takes low,high[,step]`);
      space[path] = { int_uniform: values.slice(0, 2), ...(values.length === 3 ? { step: values[2] } : {}) };
    } else {
      throw new UsageError(`--space ${path}: "${text}" is not uniform:…, log_uniform:…, int_uniform:… or choice:… (or a JSON object)`);
    }
  }
  return space;
}

interface TuneOptions {
  file?: string;
  model?: string;
  dataset?: string;
  set: string[];
  space: string[];
  strategy?: string;
  objective?: string;
  maxTrials?: number;
  maxParallel?: number;
  maxRuntime?: number;
  pruning?: string;
  seed?: number;
  alias?: string;
  follow?: boolean;
  json?: boolean;
}

export function tuneCommand(): Command {
  return new Command('tune')
    .description('Start a hyperparameter tuning study; with --follow, a live table of its trials, then the best (exit 0 succeeded, 1 failed, 130 cancelled)')
    .option('--file <request.json>', 'the whole POST /v1/tuning-jobs body from a file (flags below override its fields)')
    .option('--model <model>', 'model name')
    .option('--dataset <dataset>', 'dataset id, name (its newest version) or name@version')
    .option('--set <key=value>', 'a base hyperparameter, repeatable (as for train): epochs=30', collect, [])
    .option('--space <path=dist>', 'a searched parameter, repeatable: optimizer.lr=log_uniform:0.0001,0.1  layers[0].out_features=choice:16,32,64  batch_size=int_uniform:16,128,16  layers[2].p=uniform:0,0.5', collect, [])
    .addOption(new Option('--strategy <strategy>', 'how trials are chosen (default tpe)').choices(['random', 'grid', 'tpe']))
    .option('--objective <metric[:direction]>', 'e.g. val_loss, val_accuracy, val_rmse:minimize')
    .option('--max-trials <n>', 'trials to run', (v) => positiveInt(v, '--max-trials'))
    .option('--max-parallel <n>', 'trials at once (default 1)', (v) => positiveInt(v, '--max-parallel'))
    .option('--max-runtime <seconds>', 'stop the study after this long', (v) => positiveInt(v, '--max-runtime'))
    .addOption(new Option('--pruning <rule>', 'stop trials that are clearly behind').choices(['median', 'successive_halving']))
    .option('--seed <n>', 'sampler seed (default 0)', (v) => positiveInt(v, '--seed'))
    .option('--alias <alias>', 'point this alias of the model at the best trial’s version')
    .option('-f, --follow', 'follow the study until it ends')
    .option('--json', 'print JSON (the study; with --follow, one JSON event per line, then the study)')
    .action(
      action(async (options: TuneOptions) => {
        const request = (options.file ? JSON.parse(await readFile(options.file, 'utf8')) : {}) as Partial<TuningJobRequest>;
        if (options.model) request.model = options.model;
        if (options.dataset) request.dataset = options.dataset;
        if (options.set.length) request.hyperparameters = { ...request.hyperparameters, ...(parseSets(options.set) as TuningJobRequest['hyperparameters']) };
        if (options.space.length) request.search_space = { ...request.search_space, ...parseSpace(options.space) } as TuningJobRequest['search_space'];
        if (options.strategy) request.strategy = options.strategy as TuningJobRequest['strategy'];
        if (options.objective) {
          const [metric, direction] = options.objective.split(':');
          request.objective = { metric, ...(direction ? { direction: direction as 'minimize' | 'maximize' } : {}) };
        }
        if (options.maxTrials) request.max_trials = options.maxTrials;
        if (options.maxParallel) request.max_parallel = options.maxParallel;
        if (options.maxRuntime) request.max_runtime_seconds = options.maxRuntime;
        if (options.pruning) request.pruning = { rule: options.pruning as 'median' | 'successive_halving' };
        if (options.seed !== undefined) request.seed = options.seed;
        if (options.alias) request.alias = options.alias;
        for (const [key, flag] of [['model', '--model'], ['dataset', '--dataset'], ['search_space', '--space'], ['objective', '--objective'], ['max_trials', '--max-trials']] as const) {
          if (request[key] === undefined) throw new UsageError(`${flag} is required (or give it in --file)`);
        }
        const study = await makeClient().createTuningJob(request as TuningJobRequest);
        if (!options.follow) {
          if (options.json) return printJson(study);
          out(`queued tuning study ${study.id} (model ${study.model}, ${study.max_trials} trials, ${study.strategy})`);
          out(`follow it with: trainyard tuning-jobs show ${study.id} --follow`);
          return;
        }
        if (!options.json) err(`tuning study ${study.id}: ${study.strategy}, ${study.max_trials} trials, ${study.max_parallel} at a time, ${study.objective.direction} ${study.objective.metric}`);
        return followStudy(study.id, { json: options.json });
      }),
    );
}

/** Prints a row per trial as it ends (its objective and the best so far), then the leaderboard's top. */
export async function followStudy(id: string, options: { json?: boolean }): Promise<number> {
  const client = makeClient();
  const rows = new TrialTable((await client.getTuningJob(id)).objective.direction);
  let lastStatus = '';
  const followed = await followEvents(
    (signal) => client.tuningEvents(id, signal),
    (event) => {
      if (options.json) out(JSON.stringify(event));
      const data = (event.data ?? {}) as Record<string, unknown>;
      if (event.event === 'status' && !options.json && data.status !== lastStatus) {
        lastStatus = String(data.status);
        err(`status: ${lastStatus}`);
      } else if (event.event === 'trial' && !options.json && data.state !== 'running') {
        for (const line of rows.add(data)) out(line);
      }
    },
    async () => FINISHED.includes((await client.getTuningJob(id)).status),
  );
  if (!followed) {
    err(`stopped following; the study goes on. Cancel it with: trainyard tuning-jobs cancel ${id}`);
    return 130;
  }
  const study = await client.getTuningJob(id);
  if (options.json) printJson(study);
  else {
    printLeaderboard((await client.tuningTrials(id)).items, 5);
    err(studySummaryLine(study));
  }
  return JOB_EXIT_CODES[study.status] ?? 1;
}

/** One line per ended trial; columns fixed by the first. */
class TrialTable {
  private header = false;
  private best: number | null = null;

  constructor(private readonly direction: 'minimize' | 'maximize') {}

  add(data: Record<string, unknown>): string[] {
    const lines: string[] = [];
    if (!this.header) {
      this.header = true;
      lines.push(['TRIAL'.padStart(5), 'STATE'.padEnd(9), 'OBJECTIVE'.padStart(10), 'BEST'.padStart(10), 'JOB'].join('  '));
    }
    const objective = typeof data.objective === 'number' ? data.objective : null;
    if (data.state === 'succeeded' && objective !== null && (this.best === null || (this.direction === 'minimize' ? objective < this.best : objective > this.best))) this.best = objective;
    lines.push(
      [String(data.number).padStart(5), String(data.state).padEnd(9), formatNumber(objective).padStart(10), formatNumber(this.best).padStart(10), String(data.training_job_id ?? data.error ?? '')].join('  '),
    );
    return lines;
  }
}

function printLeaderboard(trials: TuningTrial[], limit: number): void {
  if (trials.length === 0) return;
  const paths = Object.keys(trials[0].params);
  out(
    table(
      ['rank', 'trial', 'state', 'objective', ...paths, 'version'],
      trials.slice(0, limit).map((t) => [t.rank ?? '', t.number, t.state, t.objective, ...paths.map((p) => t.params[p] as unknown), t.model_version]),
    ),
  );
}

/** The parameters' importance, most important first ("optimizer.lr 0.82, layers[2].p 0.11, …"). */
export function importanceText(report: TuningJob['summary']['param_importance']): string {
  if (!report) return 'not yet (needs 6 succeeded trials)';
  return `${report.params.map((p) => `${p.param} ${p.importance.toFixed(2)}`).join(', ')} (over ${report.trials_used} succeeded trials)`;
}

function studySummaryLine(study: TuningJob): string {
  const took = duration(study.started_at ?? study.created_at, study.finished_at);
  const s = study.summary;
  const counts = `${s.trials.succeeded} succeeded, ${s.trials.pruned} pruned, ${s.trials.failed} failed, ${s.trials.cancelled} cancelled`;
  if (study.status === 'succeeded') {
    return `study ${study.id} succeeded in ${took} (${counts}): best trial ${s.best_trial}, ${study.objective.metric} ${formatNumber(s.best_objective)}, ${study.model} version ${study.model_version}${study.alias ? ` (alias ${study.alias})` : ''}`;
  }
  if (study.status === 'failed') return `study ${study.id} failed after ${took} (${counts}): ${study.error ?? 'no error message'}`;
  if (study.status === 'cancelled') return `study ${study.id} was cancelled (${counts})`;
  return `study ${study.id} is ${study.status} (${counts})`;
}

export function tuningJobsCommand(): Command {
  const jobs = new Command('tuning-jobs').description('List, inspect and cancel hyperparameter tuning studies');

  jobs
    .command('list')
    .alias('ls')
    .description('List tuning studies (newest first)')
    .addOption(new Option('--status <status>', 'only studies with this status').choices(STATUSES))
    .option('--model <model>', 'only studies of this model')
    .option('--limit <n>', 'at most this many', (v) => positiveInt(v, '--limit'), 50)
    .option('--json', 'print the page as JSON ({items, next_cursor})')
    .action(
      action(async (options: { status?: JobStatus; model?: string; limit: number; json?: boolean }) => {
        const page = await makeClient().listTuningJobs({ status: options.status, model: options.model, limit: options.limit });
        if (options.json) return printJson(page);
        if (page.items.length === 0) return out('no tuning studies match');
        out(
          table(
            ['id', 'status', 'model', 'strategy', 'trials', 'best', 'version', 'created', 'took'],
            page.items.map((s) => [
              s.id,
              s.status,
              s.model,
              s.strategy,
              `${s.summary.trials.total - s.summary.trials.running}/${s.max_trials}`,
              s.summary.best_objective,
              s.model_version,
              formatTime(s.created_at),
              duration(s.started_at, s.finished_at),
            ]),
          ),
        );
      }),
    );

  jobs
    .command('show')
    .description('Show a study: status, objective, budget, the best trial and the leaderboard')
    .argument('<id>', 'study id')
    .option('-f, --follow', 'follow it until it ends (exit code as for tune --follow)')
    .option('--json', 'print the study and its trials as JSON')
    .action(
      action(async (id: string, options: { follow?: boolean; json?: boolean }) => {
        const client = makeClient();
        const study = await client.getTuningJob(id);
        if (options.follow && !FINISHED.includes(study.status)) return followStudy(id, { json: options.json });
        const trials = await client.tuningTrials(id);
        if (options.json) return printJson({ ...study, trials: trials.items });
        out(
          fields([
            ['id', study.id],
            ['status', study.status],
            ['model', study.model_version ? `${study.model} → version ${study.model_version}` : study.model],
            ['dataset', study.dataset],
            ['strategy', study.strategy],
            ['objective', `${study.objective.direction} ${study.objective.metric}`],
            ['trials', `${study.summary.trials.total}/${study.max_trials} (${study.summary.trials.running} running, ${study.summary.trials.succeeded} succeeded, ${study.summary.trials.pruned} pruned, ${study.summary.trials.failed} failed)`],
            ['parallel', study.max_parallel],
            ['best', study.summary.best_trial === null ? '' : `trial ${study.summary.best_trial}: ${formatNumber(study.summary.best_objective)} ${JSON.stringify(study.summary.best_params)}`],
            ['importance', importanceText(study.summary.param_importance)],
            ['alias', study.alias ?? ''],
            ['created', formatTime(study.created_at)],
            ['took', duration(study.started_at, study.finished_at)],
            ...(study.error ? [['error', study.error] as [string, unknown]] : []),
          ]),
        );
        out();
        printLeaderboard(trials.items, trials.items.length);
        if (options.follow) return JOB_EXIT_CODES[study.status] ?? 1;
      }),
    );

  jobs
    .command('cancel')
    .description('Cancel a study and every trial still queued or running')
    .argument('<id>', 'study id')
    .option('--json', 'print the study as JSON')
    .action(
      action(async (id: string, options: { json?: boolean }) => {
        const study = await makeClient().cancelTuningJob(id);
        if (options.json) return printJson(study);
        out(`study ${id}: ${study.status === 'cancelled' ? 'cancelled' : `cancel requested (status ${study.status}); its trials are being stopped`}`);
      }),
    );

  return jobs;
}
