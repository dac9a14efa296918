// trainyard predict, and trainyard infer (batch inference jobs)
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { FINISHED, type InferenceJob, type PredictResult } from '../../client/index.ts';
import { JOB_EXIT_CODES, UsageError, action, err, fields, formatBytes, formatNumber, makeClient, out, printJson, sleep, table } from './context.ts';
import { readStdin } from './models.ts';

/** A CSV file as a stream for an upload, with its size; a missing file is a usage error. */
async function streamCsvFile(path: string): Promise<{ body: ReadableStream<Uint8Array>; size: number }> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(error.code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${error.message}`);
  });
  return { body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>, size: info.size };
}

async function readArgOrFile(value: string, what: string): Promise<string> {
  if (value === '-') return readStdin();
  if (value.startsWith('@')) {
    const path = value.slice(1);
    return readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(error.code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path} (${what}): ${error.message}`);
    });
  }
  return value;
}

export function predictCommand(): Command {
  return new Command('predict')
    .description('Predict with a model (its production alias, else its latest version, unless --version)')
    .requiredOption('--model <model>', 'model name')
    .option('--version <version>', 'model version number')
    .option('--json <rows>', 'rows as JSON: an object or an array of objects ({column: value}); @file.json reads a file, - reads stdin')
    .option('--csv <file>', 'rows as a CSV file with a header (- reads stdin)')
    .option('--output-json', 'print the answer as JSON')
    .addHelpText('after', `\nExamples:\n  trainyard predict --model cancer --json '{"mean radius": 14.2, "mean texture": 20.1}'\n  trainyard predict --model cancer --version 2 --csv rows.csv`)
    .action(
      action(async (options: { model: string; version?: string; json?: string; csv?: string; outputJson?: boolean }) => {
        if (Boolean(options.json) === Boolean(options.csv)) throw new UsageError('give the rows with exactly one of --json ROWS or --csv FILE');
        const client = makeClient();
        let result: PredictResult;
        if (options.csv) {
          const csv = options.csv === '-' ? await readStdin() : await readFile(options.csv, 'utf8').catch((error: NodeJS.ErrnoException) => {
            throw new UsageError(error.code === 'ENOENT' ? `no such file: ${options.csv}` : `cannot read ${options.csv}: ${error.message}`);
          });
          result = await client.predict(options.model, { csv }, options.version);
        } else {
          const text = await readArgOrFile(options.json!, '--json');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (error) {
            throw new UsageError(`--json is not valid JSON: ${(error as Error).message}`);
          }
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && Array.isArray((parsed as { inputs?: unknown }).inputs)) parsed = (parsed as { inputs: unknown }).inputs;
          const inputs = Array.isArray(parsed) ? parsed : [parsed];
          if (!inputs.every((row) => row && typeof row === 'object' && !Array.isArray(row))) throw new UsageError('--json must be an object or an array of objects');
          result = await client.predict(options.model, { inputs: inputs as Record<string, unknown>[] }, options.version);
        }
        if (options.outputJson) return printJson(result);
        out(`model ${result.model} version ${result.version}`);
        out(predictionsTable(result));
      }),
    );
}

export function predictionsTable(result: PredictResult): string {
  if (result.predictions.every((p) => 'value' in p)) return table(['row', 'value'], result.predictions.map((p, i) => [i, 'value' in p ? p.value : null]));
  return table(
    ['row', 'label', 'probability', 'probabilities'],
    result.predictions.map((p, i) => ('label' in p ? [i, p.label, p.probability, probabilitiesText(p.probabilities)] : [i, '', null, `value=${formatNumber(p.value)}`])),
  );
}

function probabilitiesText(probabilities: unknown): string {
  if (!probabilities || typeof probabilities !== 'object') return '';
  const entries = Array.isArray(probabilities) ? probabilities.map((v, i) => [String(i), v] as const) : Object.entries(probabilities);
  return entries.map(([label, p]) => `${label}=${formatNumber(p)}`).join(' ');
}

export function inferCommand(): Command {
  return new Command('infer')
    .description('Run a batch inference job over a dataset; with --follow, wait and print its stats')
    .requiredOption('--model <model>', 'model name')
    .option('--dataset <dataset>', 'dataset id, name (its newest version) or name@version')
    .option('--csv <file>', 'a CSV file to predict instead of a dataset (uploaded with the job and kept as a dataset)')
    .option('--version <version>', 'model version number or alias (default: production, else the newest)')
    .option('-f, --follow', 'wait for the job to end and print its stats (exit 0 succeeded, 1 failed, 130 cancelled)')
    .option('-o, --output <file>', 'when it succeeds, download the predictions CSV here (implies --follow)')
    .option('--json', 'print the job as JSON')
    .action(
      action(async (options: { model: string; dataset?: string; csv?: string; version?: string; follow?: boolean; output?: string; json?: boolean }) => {
        if ((options.dataset === undefined) === (options.csv === undefined)) throw new UsageError('give either --dataset or --csv');
        const client = makeClient();
        let version: number | string | undefined;
        if (options.version !== undefined) version = /^\d+$/.test(options.version) ? Number(options.version) : options.version;
        const file = options.csv ? await streamCsvFile(options.csv) : undefined;
        let job = file
          ? await client.createInferenceJobFromCsv(options.model, file.body, { version, size: file.size })
          : await client.createInferenceJob({ model: options.model, dataset: options.dataset!, ...(version !== undefined ? { version } : {}) });
        if (!options.follow && !options.output) {
          if (options.json) return printJson(job);
          out(`queued inference job ${job.id} (model ${job.model} version ${job.version}, dataset ${job.dataset})`);
          return;
        }
        if (!options.json) err(`inference job ${job.id}: model ${job.model} version ${job.version} on dataset ${job.dataset}`);
        let last = '';
        while (!FINISHED.includes(job.status)) {
          if (job.status !== last && !options.json) err(`status: ${job.status}`);
          last = job.status;
          await sleep(500);
          job = await client.getInferenceJob(job.id);
        }
        if (options.json) printJson(job);
        else printInference(job);
        if (job.status === 'succeeded' && options.output) {
          const response = await client.inferenceOutput(job.id);
          if (!response.body) throw new Error('the server sent no output body');
          await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(options.output));
          const size = Number(response.headers.get('content-length') ?? NaN);
          err(`wrote predictions to ${options.output}${Number.isFinite(size) ? ` (${formatBytes(size)})` : ''}`);
        }
        return JOB_EXIT_CODES[job.status] ?? 1;
      }),
    );
}

export function printInference(job: InferenceJob): void {
  const stats = job.stats;
  out(
    fields([
      ['id', job.id],
      ['status', job.status],
      ['model', `${job.model}${job.version ? ` version ${job.version}` : ''}`],
      ['dataset', job.dataset],
      ...(stats ? ([['rows', stats.rows]] as [string, unknown][]) : []),
      ...(stats?.positive_count !== undefined && stats?.positive_count !== null
        ? ([
            ['positive', `${stats.positive_count} (${((stats.positive_rate ?? 0) * 100).toFixed(1)}%)`],
            ...(stats.threshold !== undefined && stats.threshold !== null ? [['threshold', stats.threshold]] : []),
          ] as [string, unknown][])
        : []),
      ...(job.error ? ([['error', job.error]] as [string, unknown][]) : []),
    ]),
  );
  if (stats?.by_label && Object.keys(stats.by_label).length > 0) {
    out();
    const rows = stats.rows || Object.values(stats.by_label).reduce((a, b) => a + b, 0);
    out(table(['label', 'rows', 'share'], Object.entries(stats.by_label).map(([label, n]) => [label, n, `${((n / rows) * 100).toFixed(1)}%`])));
  }
}
