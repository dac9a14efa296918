// End to end: the CLI client commands (src/cli/client) against a real `trainyard server` process
// (local executor, so training and inference jobs really run). Commands run in-process with their
// output captured; one check runs the real `trainyard` binary to prove the commands are registered.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCommands, setClientIO } from '../src/cli/client/index.ts';
import { parseInitFrom, parseSets } from '../src/cli/client/train.ts';
import { parseSse } from '../src/client/sse.ts';
import { freePort, startServerProcess, type ServerProcess } from './support/processes.ts';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples');


interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

function exitOverrideAll(command: Command, writeErr: (text: string) => void): void {
  command.exitOverride().configureOutput({ writeOut: writeErr, writeErr });
  for (const sub of command.commands) exitOverrideAll(sub, writeErr);
}

/** Runs `trainyard <args>` in-process with the client commands, capturing output and exit code. */
async function cli(url: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result: CliResult = { stdout: '', stderr: '', code: 0 };
  setClientIO({
    stdout: { write: (text: string) => (result.stdout += text) },
    stderr: { write: (text: string) => (result.stderr += text), isTTY: false },
    env: { TRAINYARD_URL: url, ...env },
    exit: (code) => (result.code = code),
    onInterrupt: () => () => {},
  });
  const program = new Command('trainyard');
  for (const command of clientCommands()) program.addCommand(command);
  exitOverrideAll(program, (text) => (result.stderr += text));
  try {
    await program.parseAsync(['node', 'trainyard', ...args]);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    result.code = error.exitCode;
  } finally {
    setClientIO(null);
  }
  return result;
}

describe('trainyard CLI client', () => {
  let server: ServerProcess;
  let tmp: string;
  const run = (...args: string[]) => cli(server.url, args);

  beforeAll(async () => {
    server = await startServerProcess({ TRAINYARD_AUTH: 'off', TRAINYARD_MONITORING_FLUSH_MS: '100' });
    tmp = await mkdtemp(join(tmpdir(), 'trainyard-cli-files-'));
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  describe('datasets', () => {
    let irisId = '';

    it('uploads a CSV and reports rows and columns', async () => {
      const r = await run('datasets', 'upload', join(EXAMPLES, 'iris.csv'));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^uploaded iris v1 as (\S+): 150 rows, 5 columns/);
      irisId = /as (\S+):/.exec(r.stdout)![1];
    });

    it('uploads the same name again as the next version, with --json for scripts', async () => {
      const r = await run('datasets', 'upload', join(EXAMPLES, 'iris.csv'), '--name', 'iris', '--json');
      expect(r.code).toBe(0);
      const dataset = JSON.parse(r.stdout);
      expect(dataset).toMatchObject({ name: 'iris', version: 2, row_count: 150, status: 'ready' });
      expect(dataset.columns).toHaveLength(5);
    });

    it('lists datasets as a table and as JSON', async () => {
      const table = await run('datasets', 'ls');
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+VERSION\s+STATUS\s+ROWS/);
      expect(table.stdout).toContain(irisId);
      const json = JSON.parse((await run('datasets', 'ls', '--json')).stdout);
      expect(json.items.map((d: { name: string }) => d.name)).toEqual(['iris', 'iris']);
      expect(json).toHaveProperty('next_cursor');
    });

    it('shows the column profile and preview rows, by id or by name', async () => {
      const r = await run('datasets', 'show', irisId, '--rows', '2');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('rows:    150');
      expect(r.stdout).toMatch(/COLUMN\s+TYPE\s+MISSING\s+DISTINCT\s+MIN\s+MAX\s+MEAN\s+STD/);
      expect(r.stdout).toMatch(/sepal_length\s+number\s+0/);
      const byName = JSON.parse((await run('datasets', 'show', 'iris', '--json')).stdout);
      expect(byName.version).toBe(2);
    });

    it('explains a rejected upload with the problem detail and each field', async () => {
      const bad = join(tmp, 'ragged.csv');
      await writeFile(bad, 'a,b\n1,2\n3\n');
      const r = await run('datasets', 'upload', bad);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^trainyard: .*line 3/);
      expect(r.stderr).toMatch(/\n {2}- \S+: .+\(line 3\)/);
    });

    it('says so when the file does not exist (usage error, exit 2)', async () => {
      const r = await run('datasets', 'upload', join(tmp, 'missing.csv'));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('no such file');
    });

    it('uploads Parquet and JSON Lines by their extension, and names the line of a bad JSON Lines file', async () => {
      const { parquetWriteBuffer } = await import('hyparquet-writer');
      const parquet = join(tmp, 'events.parquet');
      await writeFile(parquet, new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'x', data: [1.5, 2.5, null], type: 'DOUBLE' }, { name: 'k', data: ['a', 'b', 'a'], type: 'STRING' }] })));
      let r = await run('datasets', 'upload', parquet, '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ name: 'events', format: 'parquet', row_count: 3 });
      const lines = join(tmp, 'clicks.jsonl');
      await writeFile(lines, '{"x": 1, "k": "a"}\n{"x": 2}\n');
      r = await run('datasets', 'upload', lines, '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ name: 'clicks', format: 'jsonl', row_count: 2 });
      await writeFile(lines, '{"x": 1}\n{"x": {"y": 2}}\n');
      r = await run('datasets', 'upload', lines);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('line 2, key "x"');
      for (const name of ['events', 'clicks']) {
        const id = JSON.parse((await run('datasets', 'show', name, '--json')).stdout).id as string;
        expect((await run('datasets', 'rm', id)).code).toBe(0);
      }
    });

    it('deletes a dataset, after which show is a 404 with a clear message', async () => {
      const rm1 = await run('datasets', 'rm', irisId);
      expect(rm1.code).toBe(0);
      expect(rm1.stdout).toContain(`deleted ${irisId}`);
      const show = await run('datasets', 'show', irisId);
      expect(show.code).toBe(1);
      expect(show.stderr).toMatch(/^trainyard: .*not found|does not exist/i);
    });
  });

  describe('errors', () => {
    let stub: Server;
    let stubUrl = '';
    const seen: (string | undefined)[] = [];

    beforeAll(async () => {
      stub = createHttpServer((request, response) => {
        seen.push(request.headers.authorization);
        const forbidden = request.headers.authorization === 'Bearer read-only';
        const status = forbidden ? 403 : 401;
        response.writeHead(status, { 'content-type': 'application/problem+json' });
        response.end(
          JSON.stringify({
            type: `urn:trainyard:problem:${forbidden ? 'forbidden' : 'unauthorized'}`,
            title: forbidden ? 'The token does not allow this' : 'Authentication required',
            status,
            detail: forbidden ? 'this token has scope read; DELETE /v1/datasets/{id} needs write' : 'the API token is not valid',
            code: forbidden ? 'FORBIDDEN' : 'UNAUTHORIZED',
            errors: [],
          }),
        );
      });
      await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
      const address = stub.address();
      stubUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    });
    afterAll(() => new Promise<void>((r) => stub.close(() => r())));

    it('reports a bad token (401) and sends TRAINYARD_TOKEN as a Bearer token', async () => {
      const r = await cli(stubUrl, ['datasets', 'ls'], { TRAINYARD_TOKEN: 'wrong' });
      expect(r.code).toBe(1);
      expect(seen.at(-1)).toBe('Bearer wrong');
      expect(r.stderr).toContain('authentication failed (401): the API token is not valid');
      expect(r.stderr).toContain('TRAINYARD_TOKEN');
    });

    it('reports a token without the needed scope (403)', async () => {
      const r = await cli(stubUrl, ['datasets', 'rm', 'ds_1'], { TRAINYARD_TOKEN: 'read-only' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('permission denied (403): this token has scope read');
    });

    it('says when the server cannot be reached (the real binary)', async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const error = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/trainyard.mjs'), 'datasets', 'ls'], { cwd: ROOT, env: { ...process.env, TRAINYARD_URL: url } }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(error?.code).toBe(1);
      expect(error?.stderr).toContain(`cannot reach Trainyard at ${url}: connection refused`);
    });

    it('rejects a malformed --set (usage error, exit 2)', async () => {
      const r = await run('train', '--model', 'm', '--dataset', 'd', '--set', 'epochs');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--set expects key=value');
      expect(parseSets(['epochs=20', 'optimizer.lr=0.01', 'optimizer=Adam', 'early_stopping.monitor=val_loss'])).toEqual({
        epochs: 20,
        optimizer: { lr: 0.01, type: 'Adam' },
        early_stopping: { monitor: 'val_loss' },
      });
    });

    it('reads --init-from as a version or an alias, and rejects one without either (usage error, exit 2)', async () => {
      expect(parseInitFrom('cancer@3')).toEqual({ model: 'cancer', version: 3 });
      expect(parseInitFrom('cancer@production')).toEqual({ model: 'cancer', alias: 'production' });
      const r = await run('train', '--model', 'm', '--dataset', 'd', '--init-from', 'cancer');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--init-from expects MODEL@VERSION or MODEL@ALIAS');
    });
  });

  describe('models, training and inference', () => {
    let jobId = '';

    beforeAll(async () => {
      const r = await run('datasets', 'upload', join(EXAMPLES, 'breast_cancer.csv'), '--name', 'cancer');
      expect(r.code).toBe(0);
    });

    it('creates a model from a JSON file and shows its inferred shapes', async () => {
      const file = join(tmp, 'model.json');
      await writeFile(
        file,
        JSON.stringify({ name: 'cancer', task: 'binary_classification', target: 'diagnosis', layers: [{ type: 'Linear', out_features: 8 }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }] }),
      );
      const r = await run('models', 'create', '-f', file);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('created model cancer (binary_classification, target diagnosis, 3 layers');
      expect(r.stdout).toMatch(/OUTPUT SHAPE[\s\S]*Linear\s+out_features=8\s+\[8\]/);
      const ls = await run('models', 'ls');
      expect(ls.stdout).toMatch(/cancer\s+binary_classification\s+diagnosis\s+3/);
    });

    it('shows the API validation errors of a bad model, one per layer field', async () => {
      const file = join(tmp, 'bad-model.json');
      await writeFile(file, JSON.stringify({ name: 'bad', task: 'binary_classification', target: 'diagnosis', layers: [{ type: 'Linear', out_features: -1 }, { type: 'Nope' }] }));
      const r = await run('models', 'create', '-f', file);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ {2}- layers\[0\]\.out_features: /);
      expect(r.stderr).toMatch(/ {2}- layers\[1\]\.type: .*Nope/);
    });

    it('trains with --follow: an epoch table, then exit code 0', async () => {
      const r = await run('train', '--model', 'cancer', '--dataset', 'cancer', '--set', 'epochs=3', '--set', 'optimizer.lr=0.01', '--follow');
      expect(r.code, r.stderr + server.output()).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/EPOCH\s+TRAIN_LOSS\s+VAL_LOSS/);
      expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(['1/3', '2/3', '3/3']);
      expect(r.stderr).toMatch(/succeeded in .*: model cancer version 1/);
      jobId = /training job (\S+):/.exec(r.stderr)![1];
    }, 180_000);

    it('lists, shows and prints the logs of training jobs', async () => {
      const ls = await run('jobs', 'ls', '--status', 'succeeded');
      expect(ls.stdout).toMatch(new RegExp(`${jobId}\\s+succeeded\\s+cancer`));
      const show = await run('jobs', 'show', jobId);
      expect(show.stdout).toMatch(/status:\s+succeeded/);
      expect(show.stdout).toMatch(/3\/3/);
      const json = JSON.parse((await run('jobs', 'show', jobId, '--json')).stdout);
      expect(json).toMatchObject({ id: jobId, status: 'succeeded', model_version: 1, hyperparameters: { epochs: 3 } });
      const logs = await run('jobs', 'logs', jobId);
      expect(logs.code).toBe(0);
      expect(logs.stdout).toContain('trainer started');
    });

    it('shows the model with its versions and metrics side by side', async () => {
      const r = await run('models', 'show', 'cancer');
      expect(r.stdout).toMatch(/VERSION\s+ALIASES\s+TRAIN_LOSS\s+VAL_LOSS/);
      const version = JSON.parse((await run('models', 'show', 'cancer', '--version', '1', '--json')).stdout);
      expect(version.artifacts.map((a: { name: string }) => a.name)).toContain('model.onnx');
    });

    it('predicts from --csv and --json rows', async () => {
      const csv = join(tmp, 'rows.csv');
      const text = await readFile(join(EXAMPLES, 'breast_cancer.csv'), 'utf8');
      const [header, first, second] = text.split('\n');
      await writeFile(csv, [header, first, second].join('\n') + '\n');
      const r = await run('predict', '--model', 'cancer', '--csv', csv);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^model cancer version 1\nROW\s+LABEL\s+PROBABILITY/);
      expect(r.stdout.trim().split('\n')).toHaveLength(4);

      const names = header.split(',');
      const values = first.split(',');
      const row = Object.fromEntries(names.filter((n) => n !== 'diagnosis').map((n) => [n, Number(values[names.indexOf(n)])]));
      const json = await run('predict', '--model', 'cancer', '--version', '1', '--json', JSON.stringify(row), '--output-json');
      expect(json.code, json.stderr).toBe(0);
      const answer = JSON.parse(json.stdout);
      expect(answer).toMatchObject({ model: 'cancer', version: 1 });
      expect(['0', '1']).toContain(answer.predictions[0].label);
    });

    it('points an alias at a version, and refuses a malformed or unknown version', async () => {
      const r = await run('models', 'alias', 'cancer', 'production', '1');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('cancer@production → version 1');
      const shown = await run('models', 'show', 'cancer', '--json');
      expect(JSON.stringify(JSON.parse(shown.stdout).versions)).toContain('production');
      const bad = await run('models', 'alias', 'cancer', 'production', 'one');
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/positive integer/);
      const missing = await run('models', 'alias', 'cancer', 'staging', '99');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/99/);
    });

    it('turns prediction logging on and shows drift per feature with `monitor`', async () => {
      const bad = await run('models', 'monitoring', 'cancer', '--log-sample-rate', '2');
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/from 0 to 1/);
      const on = await run('models', 'monitoring', 'cancer', '--log-sample-rate', '1', '--retention-days', '3');
      expect(on.code, on.stderr).toBe(0);
      expect(on.stdout).toMatch(/log sample rate:?\s+1\b/);
      expect(on.stdout).toMatch(/retention:?\s+3 days/);
      const csv = join(tmp, 'served.csv');
      const lines = (await readFile(join(EXAMPLES, 'breast_cancer.csv'), 'utf8')).split('\n');
      await writeFile(csv, lines.slice(0, 41).join('\n') + '\n');
      expect((await run('predict', '--model', 'cancer', '--csv', csv)).code).toBe(0);
      let monitor: CliResult | undefined;
      for (let i = 0; i < 50 && !/live rows:?\s+40\b/.test(monitor?.stdout ?? ''); i++) {
        await new Promise((r) => setTimeout(r, 100));
        monitor = await run('monitor', 'cancer', '--window', '1h');
      }
      expect(monitor!.code, monitor!.stderr).toBe(0);
      expect(monitor!.stdout).toMatch(/live rows:?\s+40\b/);
      expect(monitor!.stdout).toMatch(/FEATURE\s+PSI\s+STATUS\s+MISSING\s+UNSEEN/);
      expect(monitor!.stdout).toMatch(/radius_mean\s+\S+\s+(ok|warn|drift)/);
      expect(monitor!.stdout).toMatch(/\(prediction\)/);
    });

    it('runs a batch inference job over a local CSV file', async () => {
      const csv = join(tmp, 'batch.csv');
      const lines = (await readFile(join(EXAMPLES, 'breast_cancer.csv'), 'utf8')).split('\n');
      await writeFile(csv, lines.slice(0, 21).join('\n') + '\n');
      const out = join(tmp, 'batch-out.csv');
      const r = await run('infer', '--model', 'cancer', '--csv', csv, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(21);
      const both = await run('infer', '--model', 'cancer', '--csv', csv, '--dataset', 'x');
      expect(both.code).not.toBe(0);
      expect(both.stderr).toContain('either --dataset or --csv');
    });

    it('names the missing column of a bad predict row', async () => {
      const r = await run('predict', '--model', 'cancer', '--json', '{"radius_mean": 14}');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ {2}- texture_mean: .*missing/);
    });

    it('runs a batch inference job and downloads its output', async () => {
      const out = join(tmp, 'predictions.csv');
      const r = await run('infer', '--model', 'cancer', '--dataset', 'cancer', '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/rows:\s+569/);
      expect(r.stdout).toMatch(/LABEL\s+ROWS\s+SHARE/);
      const csv = await readFile(out, 'utf8');
      expect(csv.split('\n')[0]).toMatch(/^row,label,probability/);
      expect(csv.trim().split('\n')).toHaveLength(570);

      const id = /inference job (\S+):/.exec(r.stderr)![1];
      expect((await run('jobs', 'ls', '--inference')).stdout).toMatch(new RegExp(`${id}\\s+succeeded\\s+cancer\\s+1`));
      expect((await run('jobs', 'show', id)).stdout).toMatch(/rows:\s+569/);
    }, 120_000);

    it('exits 1 when a followed job fails, with the error a user can act on', async () => {
      const r = await run('train', '--model', 'cancer', '--dataset', 'cancer', '--set', 'epochs=2', '--set', 'optimizer.type=SGD', '--set', 'optimizer.lr=1e30', '--follow');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/job \S+ failed after .*: .*NaN/);
    }, 120_000);

    it('cancels a job; following a cancelled job exits 130', async () => {
      const queued = JSON.parse((await run('train', '--model', 'cancer', '--dataset', 'cancer', '--set', 'epochs=500', '--json')).stdout);
      const cancel = await run('jobs', 'cancel', queued.id);
      expect(cancel.code, cancel.stderr).toBe(0);
      const follow = await run('jobs', 'show', queued.id, '--follow');
      expect(follow.code).toBe(130);
      expect(JSON.parse((await run('jobs', 'show', queued.id, '--json')).stdout).status).toBe('cancelled');
      const again = await run('jobs', 'cancel', queued.id);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^trainyard: /);
    }, 120_000);
  });
});

describe('SSE parser', () => {
  const stream = (chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });
  const all = async (chunks: string[]) => {
    const events = [];
    for await (const event of parseSse(stream(chunks))) events.push(event);
    return events;
  };

  it('reads named events, ids, multi-line data and comments across chunk boundaries', async () => {
    const events = await all(['retry: 1000\n\n: keep-alive\n\nid: 1\nevent: ep', 'och\ndata: {"epoch":1}\n\nid: 2\r\nevent: log\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\n\n']);
    expect(events).toEqual([
      { event: 'epoch', data: '{"epoch":1}', id: '1' },
      { event: 'log', data: 'a\nb', id: '2' },
      { event: 'message', data: 'plain', id: '2' },
    ]);
  });

  it('delivers a last event that has no trailing blank line', async () => {
    expect(await all(['event: end\ndata: {"status":"succeeded"}'])).toEqual([{ event: 'end', data: '{"status":"succeeded"}', id: undefined }]);
  });
});
