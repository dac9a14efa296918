// trainyard train, and trainyard jobs ls|show|cancel|logs
import { Command, Option } from 'commander';
import { ApiError, FINISHED, logLine, toEpochPoint, type EpochPoint, type JobStatus, type TrainingJob } from '../../client/index.ts';

const JOB_STATUSES: JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
import { JOB_EXIT_CODES, ProgressBar, UsageError, action, duration, err, fields, followEvents, formatBytes, formatTime, makeClient, out, printJson, sleep, table } from './context.ts';
import { printInference } from './predict.ts';
import { positiveInt } from './datasets.ts';
import { pickMetrics } from './models.ts';
import { flatMetrics } from '../../client/format.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

/** `--set epochs=20 --set optimizer.lr=0.01` → `{epochs: 20, optimizer: {lr: 0.01}}`. */
export function parseSets(sets: string[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects key=value, got "${set}"`);
    const path = set.slice(0, eq).trim().split('.');
    if (path.some((p) => p === '')) throw new UsageError(`--set has an empty key part in "${set}"`);
    const raw = set.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    // `--set optimizer=Adam` is shorthand for optimizer.type.
    if (path.length === 1 && (path[0] === 'optimizer' || path[0] === 'lr_scheduler') && typeof value === 'string') path.push('type');
    let node = result;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      if (next === undefined || typeof next !== 'object' || next === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]] = value;
  }
  return result;
}

/** `--init-from cancer@3` → `{model: 'cancer', version: 3}`; `cancer@production` → `{model, alias}`. */
export function parseInitFrom(value: string): { model: string; version: number } | { model: string; alias: string } {
  const at = value.lastIndexOf('@');
  const model = value.slice(0, at);
  const ref = value.slice(at + 1);
  if (at <= 0 || ref === '') throw new UsageError(`--init-from expects MODEL@VERSION or MODEL@ALIAS, got "${value}"`);
  return /^[1-9][0-9]*$/.test(ref) ? { model, version: Number(ref) } : { model, alias: ref };
}

export function trainCommand(): Command {
  return new Command('train')
    .description('Start a training job; with --follow, watch it live and exit 0 (succeeded), 1 (failed) or 130 (cancelled)')
    .requiredOption('--model <model>', 'model name')
    .requiredOption('--dataset <dataset>', 'dataset id, name (its newest version) or name@version')
    .option('--set <key=value>', 'a hyperparameter, repeatable: epochs=20, batch_size=64, optimizer.type=Adam, optimizer.lr=0.01, early_stopping.patience=3', collect, [])
    .option('--init-from <model@version>', 'warm start: begin from that version’s weights and fitted preprocessing (MODEL@VERSION or MODEL@ALIAS)')
    .option('-f, --follow', 'follow the job until it ends: a progress bar and one table row per epoch')
    .option('--logs', 'with --follow, also print the trainer’s log lines (stderr)')
    .option('--json', 'print JSON (the job; with --follow, one JSON event per line, then the final job)')
    .action(
      action(async (options: { model: string; dataset: string; set: string[]; initFrom?: string; follow?: boolean; logs?: boolean; json?: boolean }) => {
        const hyperparameters = parseSets(options.set);
        const initFrom = options.initFrom === undefined ? undefined : parseInitFrom(options.initFrom);
        const client = makeClient();
        // The server resolves a dataset id, a name (its newest version) or name@version.
        const job = await client.createTrainingJob({
          model: options.model,
          dataset: options.dataset,
          ...(options.set.length ? { hyperparameters } : {}),
          ...(initFrom ? { init_from: initFrom } : {}),
        });
        if (!options.follow) {
          if (options.json) return printJson(job);
          out(`queued training job ${job.id} (model ${job.model}, dataset ${job.dataset})`);
          out(`follow it with: trainyard jobs show ${job.id} --follow`);
          return;
        }
        if (!options.json) err(`training job ${job.id}: model ${job.model} on dataset ${job.dataset}`);
        return followJob(job.id, { json: options.json, logs: options.logs });
      }),
    );
}

/** Streams a job's events until it ends; returns the exit code for its final status. */
export async function followJob(id: string, options: { json?: boolean; logs?: boolean }): Promise<number> {
  const client = makeClient();
  const bar = new ProgressBar('epoch', (done, total) => `${done}/${total}`);
  const epochs = new EpochTable();
  let lastStatus = '';
  const showStatus = (status: string) => {
    if (status === lastStatus || options.json) return;
    lastStatus = status;
    bar.clear();
    err(`status: ${status}`);
  };
  const showEpoch = (data: EpochPoint) => {
    if (options.json) return;
    bar.clear();
    for (const line of epochs.add(data)) out(line);
    if (data.epochs) bar.update(data.epoch, data.epochs, true);
  };
  let followed: boolean;
  try {
    followed = await followEvents(
      (signal) => client.trainingEvents(id, signal),
      (event) => {
        if (options.json) out(JSON.stringify(event));
        const data = event.data as Record<string, unknown>;
        if (event.event === 'status') showStatus(String(data?.status ?? data));
        else if (event.event === 'epoch') showEpoch(toEpochPoint(data));
        else if ((event.event === 'checkpoint' || event.event === 'resumed') && !options.json) {
          bar.clear();
          err(checkpointLine(event.event, data));
        } else if (event.event === 'log' && options.logs && !options.json) {
          bar.clear();
          err(logLine(data));
        }
      },
      async () => {
        const job = await client.getTrainingJob(id);
        showStatus(job.status);
        if (job.progress?.epoch && job.progress.epoch > epochs.lastEpoch) {
          const history = await client.trainingMetrics(id).catch(() => [] as EpochPoint[]);
          for (const row of history.filter((h) => h.epoch > epochs.lastEpoch)) showEpoch({ epochs: job.progress.epochs, ...row });
        }
        return FINISHED.includes(job.status);
      },
    );
  } finally {
    bar.clear();
  }
  if (!followed) {
    err(`stopped following; the job goes on. Cancel it with: trainyard jobs cancel ${id}`);
    return 130;
  }
  const job = await client.getTrainingJob(id);
  if (options.json) printJson(job);
  else err(summary(job));
  return JOB_EXIT_CODES[job.status] ?? 1;
}

function summary(job: TrainingJob): string {
  const took = duration(job.started_at ?? job.created_at, job.finished_at);
  if (job.status === 'succeeded') return `job ${job.id} succeeded in ${took}: model ${job.model} version ${job.model_version}`;
  if (job.status === 'failed') return `job ${job.id} failed after ${took}: ${job.error ?? 'no error message'}`;
  if (job.status === 'cancelled') return `job ${job.id} was cancelled`;
  return `job ${job.id} is ${job.status}`;
}

/** Prints the epoch table a row at a time; the columns are fixed by the first epoch. */
export class EpochTable {
  private columns: string[] | undefined;
  lastEpoch = 0;

  add(row: EpochPoint): string[] {
    const flat = row.metrics;
    const lines: string[] = [];
    if (!this.columns) {
      this.columns = pickMetrics(Object.keys(flat), 6);
      lines.push(['EPOCH'.padStart(7), ...this.columns.map((c) => c.toUpperCase().padStart(Math.max(12, c.length)))].join('  '));
    }
    this.lastEpoch = Math.max(this.lastEpoch, row.epoch);
    const epochText = row.epochs ? `${row.epoch}/${row.epochs}` : String(row.epoch);
    lines.push(
      [epochText.padStart(7), ...this.columns.map((c) => {
        const value = flat[c];
        return (typeof value === 'number' ? value.toFixed(4) : (value ?? '')).toString().padStart(Math.max(12, c.length));
      })].join('  '),
    );
    return lines;
  }
}

export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('List, inspect, cancel and read the logs of training jobs');

  jobs
    .command('ls')
    .alias('list')
    .description('List training jobs (newest first); --inference lists batch inference jobs')
    .option('--inference', 'list batch inference jobs instead')
    .addOption(new Option('--status <status>', 'only jobs with this status').choices(JOB_STATUSES))
    .option('--model <model>', 'only jobs of this model')
    .option('--dataset <dataset>', 'only jobs on this dataset id')
    .option('--limit <n>', 'at most this many', (v) => positiveInt(v), 50)
    .option('--json', 'print the page as JSON ({items, next_cursor})')
    .action(
      action(async (options: { inference?: boolean; status?: JobStatus; model?: string; dataset?: string; limit: number; json?: boolean }) => {
        const query = { status: options.status, model: options.model, dataset: options.dataset, limit: options.limit };
        if (options.inference) {
          const inference = await makeClient().listInferenceJobs(query);
          if (options.json) return printJson(inference);
          if (inference.items.length === 0) return out('no inference jobs match');
          out(
            table(
              ['id', 'status', 'model', 'version', 'dataset', 'rows', 'positive', 'created', 'took'],
              inference.items.map((j) => [
                j.id,
                j.status,
                j.model,
                j.version,
                j.dataset,
                j.stats?.rows ?? null,
                j.stats?.positive_count ?? null,
                formatTime(j.created_at),
                duration(j.started_at, j.finished_at),
              ]),
            ),
          );
          return;
        }
        const page = await makeClient().listTrainingJobs(query);
        if (options.json) return printJson(page);
        if (page.items.length === 0) return out('no training jobs match');
        out(
          table(
            ['id', 'status', 'model', 'dataset', 'epoch', 'version', 'created', 'took'],
            page.items.map((j) => [
              j.id,
              j.status,
              j.model,
              j.dataset,
              j.progress ? `${j.progress.epoch}/${j.progress.epochs}` : '',
              j.model_version ?? null,
              formatTime(j.created_at),
              duration(j.started_at, j.finished_at),
            ]),
          ),
        );
      }),
    );

  jobs
    .command('show')
    .description('Show a job: status, progress, hyperparameters, metrics, error (training or batch inference)')
    .argument('<id>', 'job id')
    .option('-f, --follow', 'follow it until it ends (exit code as for train --follow)')
    .option('--json', 'print the job as JSON')
    .action(
      action(async (id: string, options: { follow?: boolean; json?: boolean }) => {
        const client = makeClient();
        const job = await client.getTrainingJob(id).catch(async (error: unknown) => {
          // Not a training job: perhaps a batch inference job.
          if (!(error instanceof ApiError && error.status === 404)) throw error;
          const inference = await client.getInferenceJob(id).catch(() => {
            throw error;
          });
          return { inference };
        });
        if ('inference' in job) {
          let current = job.inference;
          while (options.follow && !FINISHED.includes(current.status)) {
            await sleep(500);
            current = await client.getInferenceJob(id);
          }
          if (options.json) printJson(current);
          else printInference(current);
          return options.follow ? (JOB_EXIT_CODES[current.status] ?? 1) : undefined;
        }
        if (options.follow && !FINISHED.includes(job.status)) return followJob(id, { json: options.json });
        if (options.json) return printJson(job);
        out(
          fields([
            ['id', job.id],
            ['status', job.status],
            ['model', job.model_version ? `${job.model} → version ${job.model_version}` : job.model],
            ['dataset', job.dataset],
            ['progress', job.progress ? `epoch ${job.progress.epoch}/${job.progress.epochs}` : ''],
            ['attempts', job.attempts],
            ['created', formatTime(job.created_at)],
            ['started', formatTime(job.started_at)],
            ['finished', formatTime(job.finished_at)],
            ['took', duration(job.started_at, job.finished_at)],
            ['hyperparameters', JSON.stringify(job.hyperparameters ?? {})],
            ...(job.error ? [['error', job.error] as [string, unknown]] : []),
          ]),
        );
        const history = await client.trainingMetrics(id).catch(() => [] as EpochPoint[]);
        if (history.length > 0) {
          out();
          const epochs = new EpochTable();
          for (const row of history) for (const line of epochs.add({ epochs: job.progress?.epochs, ...row })) out(line);
        } else if (job.metrics && Object.keys(job.metrics).length > 0) {
          out();
          out(table(['metric', 'value'], Object.entries(flatMetrics(job.metrics))));
        }
        if (options.follow) return JOB_EXIT_CODES[job.status] ?? 1;
      }),
    );

  jobs
    .command('cancel')
    .description('Cancel a queued or running job (training or batch inference)')
    .argument('<id>', 'job id')
    .option('--json', 'print the job as JSON')
    .action(
      action(async (id: string, options: { json?: boolean }) => {
        const client = makeClient();
        const job = await client.cancelTrainingJob(id).catch((error: unknown) => {
          if (!(error instanceof ApiError && error.status === 404 && /training job/i.test(error.problem.detail))) throw error;
          return client.cancelInferenceJob(id).catch(() => {
            throw error;
          });
        });
        if (options.json) return printJson(job);
        out(`job ${id}: ${job?.status === 'cancelled' ? 'cancelled' : `cancel requested (status ${job?.status ?? 'unknown'})`}`);
      }),
    );

  jobs
    .command('logs')
    .description("Print a training job's logs")
    .argument('<id>', 'job id')
    .option('-f, --follow', 'keep printing new lines until the job ends')
    .action(
      action(async (id: string, options: { follow?: boolean }) => {
        const client = makeClient();
        const job = options.follow ? await client.getTrainingJob(id) : undefined;
        if (!job || FINISHED.includes(job.status)) {
          for (const line of await client.trainingLogs(id)) out(line);
          return;
        }
        // The event stream replays the job's events from the start, then follows it live.
        for await (const event of client.trainingEvents(id)) {
          if (event.event === 'log') out(logLine(event.data));
          else if (event.event === 'end') break;
        }
      }),
    );

  return jobs;
}

/** `checkpoint` and `resumed` events, as `train --follow` prints them (on stderr, beside the status lines). */
function checkpointLine(kind: 'checkpoint' | 'resumed', data: Record<string, unknown>): string {
  if (kind === 'resumed') return `resumed: attempt ${String(data.attempt)} continues after epoch ${String(data.epoch)}`;
  return `checkpoint: after epoch ${String(data.epoch)}${Number(data.batch) > 0 ? ` and ${String(data.batch)} batches` : ''} (${formatBytes(Number(data.bytes))})`;
}
