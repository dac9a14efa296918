// trainyard datasets upload|ls|show|rm
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import { Command, InvalidArgumentError } from 'commander';
import type { Dataset, ImportJob } from '../../client/index.ts';
import { JOB_EXIT_CODES, ProgressBar, UsageError, action, fields, formatBytes, formatTime, makeClient, out, printJson, sleep, table } from './context.ts';

interface JsonOption {
  json?: boolean;
}

/** The format a file's extension says: parquet (.parquet, .pq), jsonl (.jsonl, .ndjson), else csv. */
export function formatOfFile(file: string): 'csv' | 'parquet' | 'jsonl' {
  const ext = extname(file).toLowerCase();
  return ext === '.parquet' || ext === '.pq' ? 'parquet' : ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : 'csv';
}

/** Polls an import job until it ends, with a progress bar (files and bytes) on stderr. */
async function followImport(id: string): Promise<ImportJob> {
  const client = makeClient();
  const bar = new ProgressBar('importing', (done, total) => `${formatBytes(done)} / ${formatBytes(total)}`);
  try {
    for (;;) {
      const job = await client.getImportJob(id);
      if (job.progress?.bytes_total) bar.update(job.progress.bytes_done, job.progress.bytes_total);
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
      await sleep(1000);
    }
  } finally {
    bar.clear();
  }
}

function printImport(job: ImportJob): void {
  const progress = job.progress ? `${job.progress.files_done}/${job.progress.files_total ?? '?'} files, ${formatBytes(job.progress.bytes_done)}` : '';
  out(
    fields([
      ['id', job.id],
      ['status', job.status],
      ['url', job.url],
      ['name', job.name],
      ['progress', progress],
      ['dataset', job.result ? `${job.result.dataset_name} v${job.result.dataset_version} (${job.result.dataset_id}): ${job.result.rows} rows from ${job.result.files} object(s)` : ''],
      ['error', job.error ? `${job.error} (${job.error_code})` : ''],
    ]),
  );
}

export function datasetsCommand(): Command {
  const datasets = new Command('datasets').description('Upload, list, inspect and delete datasets');

  datasets
    .command('upload')
    .description('Upload a CSV, Parquet or JSON Lines file (streamed; a progress bar on stderr). The same name again makes a new version.')
    .argument('<file>', 'the file: CSV, Parquet (.parquet, .pq) or JSON Lines (.jsonl, .ndjson)')
    .option('--name <name>', 'dataset name (default: the file name without its extension)')
    .option('--format <format>', 'csv, parquet or jsonl (default: from the file extension, else csv)', (v) => {
      if (v !== 'csv' && v !== 'parquet' && v !== 'jsonl') throw new InvalidArgumentError('must be csv, parquet or jsonl');
      return v;
    })
    .option('--json', 'print the dataset as JSON')
    .action(
      action(async (file: string, options: { name?: string; format?: 'csv' | 'parquet' | 'jsonl' } & JsonOption) => {
        const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
          throw new UsageError(error.code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${error.message}`);
        });
        if (!info.isFile()) throw new UsageError(`not a file: ${file}`);
        const name = options.name ?? basename(file, extname(file));
        const bar = new ProgressBar(`uploading ${basename(file)}`, (done, total) => `${formatBytes(done)} / ${formatBytes(total)}`);
        let sent = 0;
        const source = createReadStream(file, { highWaterMark: 256 * 1024 });
        source.on('data', (chunk) => {
          sent += chunk.length;
          bar.update(sent, info.size);
        });
        let dataset: Dataset;
        try {
          dataset = await makeClient().uploadDataset(Readable.toWeb(source) as ReadableStream<Uint8Array>, { name, size: info.size, format: options.format ?? formatOfFile(file) });
        } finally {
          bar.clear();
          source.destroy();
        }
        if (options.json) return printJson(dataset);
        out(`uploaded ${dataset.name} v${dataset.version} as ${dataset.id}: ${dataset.row_count} rows, ${dataset.columns.length} columns, ${formatBytes(dataset.size_bytes)}`);
      }),
    );

  datasets
    .command('import')
    .description('Import objects from S3 into a dataset version: the server reads them with its own credentials (only under its TRAINYARD_IMPORT_ALLOW). With --follow, wait and exit 0 (succeeded), 1 (failed) or 130 (cancelled).')
    .argument('<url>', 's3://bucket/key, s3://bucket/prefix/ or s3://bucket/folder/*.parquet')
    .requiredOption('--name <name>', 'dataset name (an existing name gets its next version)')
    .option('-f, --follow', 'wait for the import to end, showing files and bytes read')
    .option('--json', 'print the import job as JSON')
    .action(
      action(async (url: string, options: { name: string; follow?: boolean } & JsonOption) => {
        const client = makeClient();
        let job = await client.importDataset({ name: options.name, url });
        if (!options.follow) {
          if (options.json) return printJson(job);
          out(`queued import ${job.id} of ${job.url} into "${job.name}"; follow it with: trainyard datasets import-status ${job.id}`);
          return;
        }
        job = await followImport(job.id);
        if (options.json) printJson(job);
        else printImport(job);
        return JOB_EXIT_CODES[job.status] ?? 1;
      }),
    );

  datasets
    .command('import-status')
    .description('Show an import job (with --follow, wait for it to end)')
    .argument('<id>', 'import job id')
    .option('-f, --follow', 'wait for the import to end')
    .option('--json', 'print the import job as JSON')
    .action(
      action(async (id: string, options: { follow?: boolean } & JsonOption) => {
        const job = options.follow ? await followImport(id) : await makeClient().getImportJob(id);
        if (options.json) printJson(job);
        else printImport(job);
        return options.follow ? (JOB_EXIT_CODES[job.status] ?? 1) : undefined;
      }),
    );

  datasets
    .command('ls')
    .alias('list')
    .description('List datasets (newest first)')
    .option('--name <name>', 'only versions of this dataset')
    .option('--limit <n>', 'at most this many', (v) => positiveInt(v, '--limit'), 50)
    .option('--json', 'print the page as JSON ({items, next_cursor})')
    .action(
      action(async (options: { name?: string; limit: number } & JsonOption) => {
        const page = await makeClient().listDatasets({ limit: options.limit, name: options.name });
        const items = options.name ? page.items.filter((d) => d.name === options.name) : page.items;
        if (options.json) return printJson({ ...page, items });
        if (items.length === 0) return out('no datasets yet: upload one with `trainyard datasets upload FILE`');
        out(
          table(
            ['id', 'name', 'version', 'status', 'rows', 'columns', 'size', 'created'],
            items.map((d) => [d.id, d.name, d.version, d.status, d.row_count, d.column_count, formatBytes(d.size_bytes), formatTime(d.created_at)]),
          ),
        );
        if (page.next_cursor) out(`(more: use --limit to see more than ${options.limit})`);
      }),
    );

  datasets
    .command('show')
    .description('Show a dataset and its column profile (by id, or by name for the latest version)')
    .argument('<dataset>', 'dataset id or name')
    .option('--rows <n>', 'also print the first n rows', (v) => positiveInt(v, '--rows'))
    .option('--json', 'print the dataset as JSON')
    .action(
      action(async (ref: string, options: { rows?: number } & JsonOption) => {
        const client = makeClient();
        const dataset = await client.resolveDataset(ref);
        const preview = options.rows ? await client.previewDataset(dataset.id, options.rows) : undefined;
        if (options.json) return printJson(preview ? { ...dataset, preview } : dataset);
        out(
          fields([
            ['id', dataset.id],
            ['name', `${dataset.name} (version ${dataset.version})`],
            ['status', dataset.status],
            ['format', dataset.format],
            ['rows', dataset.row_count],
            ['size', formatBytes(dataset.size_bytes)],
            ['sha256', dataset.sha256],
            ['created', formatTime(dataset.created_at)],
          ]),
        );
        out();
        out(
          table(
            ['column', 'type', 'missing', 'distinct', 'min', 'max', 'mean', 'std'],
            dataset.columns.map((c) => [c.name, c.type, c.missing_count, c.distinct_count, c.min ?? null, c.max ?? null, c.mean ?? null, c.std ?? null]),
          ),
        );
        if (preview) {
          out();
          const { headers, rows } = previewTable(preview);
          out(table(headers, rows));
        }
      }),
    );

  datasets
    .command('rm')
    .alias('delete')
    .description('Delete datasets')
    .argument('<dataset...>', 'dataset ids')
    .action(
      action(async (ids: string[]) => {
        const client = makeClient();
        for (const id of ids) {
          await client.deleteDataset(id);
          out(`deleted ${id}`);
        }
      }),
    );

  return datasets;
}

/** Rows from the preview endpoint, whether it answers arrays or objects. */
export function previewTable(preview: { columns: unknown[]; rows: unknown[] }): { headers: string[]; rows: unknown[][] } {
  const headers = preview.columns.map((c) => (typeof c === 'string' ? c : String((c as { name?: unknown }).name)));
  const rows = preview.rows.map((row) => (Array.isArray(row) ? row : headers.map((h) => (row as Record<string, unknown>)[h])));
  return { headers, rows: rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '' : typeof cell === 'number' ? cell : String(cell)))) };
}

export function positiveInt(value: string, _flag?: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}
