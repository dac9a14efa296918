// The floor under dataset ingest on this machine: what an upload costs with no profiling and no
// columnar copy. A bare Node HTTP server (a child process, as in bench/ingest.ts) receives the
// same CSV, hashes it (SHA-256) and writes it to a file with fsync, as ingest's CSV blob does; the
// upload uses bench/ingest.ts's client. Whatever ingest does beyond this floor (parsing, profiling,
// the columnar copy) has to fit in the rest of the time budget.
//
//   npx tsx bench/ingest-floor.ts [--rows 1000000] [--runs 3]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBenchCsv, DEFAULT_ROWS } from './ingest-data.ts';
import { ROOT, freePort, upload } from './support.ts';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: String(DEFAULT_ROWS) }, runs: { type: 'string', default: '3' } } });
const rows = Number(args.rows);
const runs = Number(args.runs);

// The server: each request is piped through a SHA-256 tap into its own file (flushed), then it
// answers with the digest and the CPU the process spent on that request (all threads).
const SERVER = `
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
let n = 0;
createServer(async (req, res) => {
  const hash = createHash('sha256');
  const tap = new Transform({ transform(chunk, _e, cb) { hash.update(chunk); cb(null, chunk); } });
  const before = process.cpuUsage();
  await pipeline(req, tap, createWriteStream(process.env.DIR + '/upload-' + n++, { flush: true }));
  const cpu = process.cpuUsage(before);
  res.end(JSON.stringify({ sha256: hash.digest('hex'), cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
`;

const path = await ensureBenchCsv(join(ROOT, 'bench', '.data', `ingest-${rows}x32.csv`), rows);
const dir = await mkdtemp(join(tmpdir(), 'ingest-floor-'));
const port = await freePort();
const server = spawn(process.execPath, ['--input-type=module', '-e', SERVER], { env: { ...process.env, DIR: dir, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
await once(server.stdout!, 'data');
try {
  const { size } = statSync(path);
  console.log(`file: ${path} (${(size / 1e6).toFixed(1)} MB); machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
  const walls: number[] = [];
  for (let run = 1; run <= runs; run++) {
    const result = await upload(`http://127.0.0.1:${port}`, path, `floor-${run}`);
    const { cpuSeconds } = JSON.parse(result.body) as { cpuSeconds: number };
    walls.push(result.seconds);
    console.log(`run ${run}: ${result.seconds.toFixed(2)} s, ${(size / 1e6 / result.seconds).toFixed(1)} MB/s; server CPU ${cpuSeconds.toFixed(2)} s`);
  }
  const median = [...walls].sort((a, b) => a - b)[Math.floor(walls.length / 2)];
  console.log(`\nfloor (receive + SHA-256 + durable write, no profiling): median ${median.toFixed(2)} s = ${(size / 1e6 / median).toFixed(1)} MB/s`);
  console.log(`rerun: npx tsx bench/ingest-floor.ts --rows ${rows} --runs ${runs}`);
} finally {
  server.kill();
  await rm(dir, { recursive: true, force: true });
}
