// Parquet ingest against CSV ingest of the same data: the 1,000,000 × 32 benchmark CSV (bench/ingest.ts's
// file), and the same rows as Parquet (made by the server itself: GET /v1/datasets/{id}/content?format=parquet,
// cached beside the CSV). Each is uploaded to a fresh `trainyard server` child; reported: wall time, MB/s of
// the file and rows/s, and the server's peak memory (VmHWM, and the peak of RssAnon + RssShmem sampled
// every 50 ms: the memory the data needs, without page cache of files it touched).
//
// Then, in this process, the read that training-data preparation does (all 30 numeric columns as numbers)
// from the columnar copy (columns.bin, the internal format) and from the Parquet file (hyparquet), to
// decide whether the copy could be Parquet (the bar: no more than 1.2× slower).
//
//   npx tsx bench/parquet.ts [--rows 1000000] [--runs 1]
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { cpus } from 'node:os';
import { ensureBenchCsv, DEFAULT_ROWS } from './ingest-data.ts';
import { ROOT, startServer, upload } from './support.ts';
import { readColumnarBatches } from '../src/datasets/columnar/reader.ts';
import { openParquet, readParquetBatches } from '../src/datasets/parquet/reader.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};
const ROWS = Number(option('rows', String(DEFAULT_ROWS)));
const RUNS = Number(option('runs', '1'));

function memoryKb(pid: number): { hwm: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(status.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1] ?? NaN);
  return { hwm: field('VmHWM'), anon: field('RssAnon') + field('RssShmem') };
}

async function ingest(path: string, contentType: string, label: string): Promise<{ id: string; dataDir: string; stop: () => Promise<void>; base: string }> {
  // One process (TRAINYARD_WORKERS=1): with `auto`, the child is the cluster primary, which serves
  // no HTTP, and its memory says nothing about the ingest.
  const server = await startServer({ TRAINYARD_WORKERS: '1' });
  const pid = server.child.pid!;
  let peakAnon = 0;
  const sampler = setInterval(() => (peakAnon = Math.max(peakAnon, memoryKb(pid).anon)), 50);
  const before = memoryKb(pid);
  const result = await upload(server.base, path, label, contentType);
  clearInterval(sampler);
  if (result.status !== 201) throw new Error(`${label}: ${result.status} ${result.body}`);
  const after = memoryKb(pid);
  const mb = statSync(path).size / 1e6;
  console.log(
    `${label.padEnd(8)} ${result.seconds.toFixed(2)} s  ${(mb / result.seconds).toFixed(1)} MB/s of ${mb.toFixed(1)} MB  ${(ROWS / result.seconds / 1e3).toFixed(0)}k rows/s  ` +
      `server VmHWM ${(after.hwm / 1024).toFixed(0)} MB (idle ${(before.hwm / 1024).toFixed(0)}), peak RssAnon+Shmem ${(peakAnon / 1024).toFixed(0)} MB`,
  );
  return { id: (JSON.parse(result.body) as { id: string }).id, dataDir: server.dataDir, stop: server.stop, base: server.base };
}

async function columnsBin(dataDir: string, id: string): Promise<string> {
  const dir = join(dataDir, 'blobs', 'datasets', id);
  const names = await readdir(dir);
  if (!names.includes('columns.bin')) throw new Error(`no columnar copy in ${dir}`);
  return join(dir, 'columns.bin');
}

async function main(): Promise<void> {
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`${new Date().toISOString()}  ${cpus().length} × ${cpus()[0]?.model}  load ${load()}  node ${process.version}`);
  const csvPath = await ensureBenchCsv(join(ROOT, 'bench', '.data', `ingest-${ROWS}x32.csv`), ROWS);
  const parquetPath = csvPath.replace(/\.csv$/, '.parquet');

  for (let run = 0; run < RUNS; run++) {
    const csv = await ingest(csvPath, 'text/csv', 'csv');
    if (!existsSync(parquetPath)) {
      const response = await fetch(`${csv.base}/v1/datasets/${csv.id}/content?format=parquet`);
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(parquetPath));
      console.log(`wrote ${parquetPath} (${(statSync(parquetPath).size / 1e6).toFixed(1)} MB) from the CSV dataset`);
    }
    const copy = await columnsBin(csv.dataDir, csv.id);
    const pq = await ingest(parquetPath, 'application/vnd.apache.parquet', 'parquet');
    await pq.stop();

    // The preparation read: the 30 numeric columns as numbers (id, f01–f28, label).
    const numeric = ['id', ...Array.from({ length: 28 }, (_, k) => `f${String(k + 1).padStart(2, '0')}`), 'label'];
    let started = performance.now();
    let cells = 0;
    for await (const batch of readColumnarBatches(createReadStream(copy, { highWaterMark: 1 << 20 }), { columns: numeric.map((name) => ({ name, as: 'number' as const })), batchRows: 8192 })) cells += batch.length * batch.columns.length;
    const columnar = (performance.now() - started) / 1000;
    started = performance.now();
    let pqCells = 0;
    const table = await openParquet(parquetPath);
    const picked = table.fields.map((f, i) => (f.type === 'integer' || f.type === 'number' ? i : -1)).filter((i) => i >= 0);
    for await (const batch of readParquetBatches(table, picked)) pqCells += batch.length * batch.columns.length;
    const parquet = (performance.now() - started) / 1000;
    console.log(`read for preparation: columnar copy ${columnar.toFixed(2)} s (${cells} cells), Parquet via hyparquet ${parquet.toFixed(2)} s (${pqCells} cells): ${(parquet / columnar).toFixed(1)}× (load ${load()})`);
    await csv.stop();
  }
}

await main();
