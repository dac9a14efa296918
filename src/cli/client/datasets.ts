// trainyard datasets upload|ls|show|rm
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import { Command, InvalidArgumentError } from 'commander';
import type { Dataset } from '../../client/index.ts';
import { ProgressBar, UsageError, action, fields, formatBytes, formatTime, makeClient, out, printJson, table } from './context.ts';

interface JsonOption {
  json?: boolean;
}

/** The format a file's extension says: parquet (.parquet, .pq), jsonl (.jsonl, .ndjson), else csv. */
export function formatOfFile(file: string): 'csv' | 'parquet' | 'jsonl' {
  const ext = extname(file).toLowerCase();
  return ext === '.parquet' || ext === '.pq' ? 'parquet' : ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : 'csv';
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
