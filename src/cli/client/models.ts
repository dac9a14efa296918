// trainyard models create|ls|show
import { readFile } from 'node:fs/promises';
import { Argument, Command, InvalidArgumentError } from 'commander';
import type { Model, ModelVersion } from '../../client/index.ts';
import { UsageError, action, fields, formatBytes, formatNumber, formatTime, makeClient, out, printJson, table } from './context.ts';
import { positiveInt } from './datasets.ts';
import { flatMetrics } from '../../client/format.ts';

export function modelsCommand(): Command {
  const models = new Command('models').description('Define models and inspect their trained versions');

  models
    .command('create')
    .description('Define a model from a JSON file ({name, task, target, features?, layers, …}; - reads stdin)')
    .requiredOption('-f, --file <file>', 'model definition (JSON)')
    .option('--name <name>', 'override the name in the file')
    .option('--json', 'print the model as JSON')
    .action(
      action(async (options: { file: string; name?: string; json?: boolean }) => {
        const text = options.file === '-' ? await readStdin() : await readFile(options.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
          throw new UsageError(error.code === 'ENOENT' ? `no such file: ${options.file}` : `cannot read ${options.file}: ${error.message}`);
        });
        let spec: Record<string, unknown>;
        try {
          spec = JSON.parse(text) as Record<string, unknown>;
        } catch (error) {
          throw new UsageError(`${options.file} is not valid JSON: ${(error as Error).message}`);
        }
        if (options.name) spec.name = options.name;
        const model = await makeClient().createModel(spec);
        if (options.json) return printJson(model);
        out(`created model ${model.name} (${model.task}, target ${model.target}, ${model.layers.length} layers${model.parameters ? `, ${model.parameters} parameters` : ''})`);
        if (Array.isArray(model.shapes) && model.shapes.length > 0) {
          out();
          out(layersTable(model));
        }
      }),
    );

  models
    .command('ls')
    .alias('list')
    .description('List model definitions')
    .option('--limit <n>', 'at most this many', (v) => positiveInt(v), 50)
    .option('--json', 'print the page as JSON ({items, next_cursor})')
    .action(
      action(async (options: { limit: number; json?: boolean }) => {
        const page = await makeClient().listModels({ limit: options.limit });
        if (options.json) return printJson(page);
        if (page.items.length === 0) return out('no models yet: define one with `trainyard models create -f model.json`');
        out(
          table(
            ['name', 'task', 'target', 'layers', 'parameters', 'created'],
            page.items.map((m) => [m.name, m.task, m.target, m.layers?.length ?? null, m.parameters ?? null, formatTime(m.created_at)]),
          ),
        );
        if (page.next_cursor) out(`(more: use --limit to see more than ${options.limit})`);
      }),
    );

  models
    .command('show')
    .description('Show a model: its layers (with inferred shapes), versions with their metrics side by side, and aliases')
    .argument('<name>', 'model name')
    .option('--version <version>', 'show one version in detail (signature, artifacts)')
    .option('--json', 'print JSON ({model, versions} or the version)')
    .action(
      action(async (name: string, options: { version?: string; json?: boolean }) => {
        const client = makeClient();
        if (options.version) {
          const version = await client.getVersion(name, options.version);
          if (options.json) return printJson(version);
          return out(versionDetail(version));
        }
        const [model, versions] = await Promise.all([client.getModel(name), client.all<ModelVersion>(`/v1/models/${encodeURIComponent(name)}/versions`)]);
        if (options.json) return printJson({ model, versions });
        out(
          fields([
            ['name', model.name],
            ...(model.description ? [['description', model.description] as [string, unknown]] : []),
            ['task', model.task],
            ['target', model.target],
            ['features', model.features?.length ? model.features.join(', ') : '(every other column)'],
            ['parameters', model.parameters ?? '(inferred when trained)'],
            ['created', formatTime(model.created_at)],
          ]),
        );
        out();
        out(layersTable(model));
        out();
        if (versions.length === 0) return out(`no versions yet: train one with \`trainyard train --model ${model.name} --dataset DATASET\``);
        out(versionsTable(versions));
      }),
    );

  models
    .command('alias')
    .description('Point an alias (e.g. production, staging) at a version of a model, or move it there')
    .argument('<name>', 'model name')
    .argument('<alias>', 'alias name, e.g. production')
    .addArgument(new Argument('<version>', 'version number').argParser((value: string) => positiveInt(value)))
    .option('--json', 'print the version JSON')
    .action(
      action(async (name: string, alias: string, version: number, options: { json?: boolean }) => {
        const updated = await makeClient().setAlias(name, alias, version);
        if (options.json) return printJson(updated);
        out(`${name}@${alias} → version ${version}`);
      }),
    );

  models
    .command('monitoring')
    .description('Show or change prediction logging for a model (off by default; drift and live quality need it)')
    .argument('<name>', 'model name')
    .option('--log-sample-rate <rate>', 'share of predicted rows to log, 0 (off) to 1', (v) => sampleRate(v))
    .option('--retention-days <days>', 'delete logs, feedback and live histograms older than this', (v) => positiveInt(v, '--retention-days'))
    .option('--json', 'print the settings as JSON')
    .action(
      action(async (name: string, options: { logSampleRate?: number; retentionDays?: number; json?: boolean }) => {
        const client = makeClient();
        let settings = await client.getMonitoring(name);
        if (options.logSampleRate !== undefined || options.retentionDays !== undefined) {
          settings = await client.setMonitoring(name, { log_sample_rate: options.logSampleRate ?? settings.log_sample_rate, retention_days: options.retentionDays ?? settings.retention_days });
        }
        if (options.json) return printJson(settings);
        out(
          fields([
            ['model', name],
            ['log sample rate', settings.log_sample_rate > 0 ? settings.log_sample_rate : '0 (off)'],
            ['retention', `${settings.retention_days} days`],
            ['updated', formatTime(settings.updated_at)],
          ]),
        );
      }),
    );

  return models;
}

function sampleRate(value: string): number {
  const rate = Number(value);
  if (value.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new InvalidArgumentError('must be a number from 0 to 1');
  return rate;
}

export function layersTable(model: Model): string {
  const shapes = Array.isArray(model.shapes) ? model.shapes : [];
  return table(
    ['#', 'layer', 'arguments', ...(shapes.length ? ['output shape'] : [])],
    model.layers.map((layer, i) => {
      const { type, ...args } = layer;
      const argText = Object.entries(args)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const shape = shapes[i];
      const shapeText = shape === undefined ? '' : typeof shape === 'object' && shape !== null && 'output' in shape ? JSON.stringify((shape as { output: unknown }).output) : JSON.stringify(shape);
      return [String(i), type, argText, ...(shapes.length ? [shapeText] : [])];
    }),
  );
}


/** The metrics worth a column, most telling first: validation loss and metrics, then training loss. */
export function pickMetrics(names: string[], max: number): string[] {
  const rank = (name: string) =>
    name === 'train_loss' ? 0 : name === 'val_loss' ? 1 : name.startsWith('val_') ? 2 : name.startsWith('train_') ? 4 : /epoch|seconds|lr/.test(name) ? 9 : 3;
  return names
    .map((name, index) => ({ name, index }))
    .filter(({ name }) => rank(name) < 9)
    .sort((a, b) => rank(a.name) - rank(b.name) || a.index - b.index)
    .slice(0, max)
    .map(({ name }) => name);
}

export function versionsTable(versions: ModelVersion[]): string {
  const flats = versions.map((v) => flatMetrics(v.metrics));
  const names = pickMetrics([...new Set(flats.flatMap((f) => Object.keys(f)))], 6);
  return table(
    ['version', 'aliases', ...names, 'dataset', 'job', 'from', 'created'],
    versions.map((v, i) => [v.version, (v.aliases ?? []).join(','), ...names.map((n) => flats[i][n] ?? null), v.dataset_id, v.training_job_id, initFromText(v), formatTime(v.created_at)]),
  );
}

/** A warm start's lineage, `model@version`; blank for a version trained from scratch. */
const initFromText = (v: ModelVersion): string => (v.init_from ? `${v.init_from.model}@${v.init_from.version}` : '');

export function versionDetail(version: ModelVersion): string {
  const parts = [
    fields([
      ['model', version.model],
      ['version', version.version],
      ['aliases', (version.aliases ?? []).join(', ') || '(none)'],
      ['dataset', version.dataset_id],
      ['training job', version.training_job_id],
      ['trained from', initFromText(version) || '(scratch)'],
      ['created', formatTime(version.created_at)],
    ]),
    '',
    table(
      ['metric', 'value'],
      Object.entries(flatMetrics(version.metrics)).map(([k, v]) => [k, typeof v === 'number' ? formatNumber(v) : v]),
    ),
    '',
    table(
      ['input', 'type', 'categories'],
      (version.signature?.inputs ?? []).map((input) => [input.name, input.type, input.categories?.join(', ') ?? '']),
    ),
    '',
    table(
      ['artifact', 'size', 'sha256'],
      (version.artifacts ?? []).map((a) => [a.name, formatBytes(a.size_bytes), a.sha256]),
    ),
  ];
  return parts.join('\n');
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
