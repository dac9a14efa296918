// bench/columnar: what the columnar copy of a dataset costs at ingest and saves when reading.
//
//   npx tsx bench/columnar.ts [--rows 1000000]
//
// Uses bench/train.ts's file (bench/.data/train-<rows>x32.csv: 32 decimal features and a 0/1 label;
// run bench/train.ts once to generate it). All in this process, one thread, CPU time measured with
// process.cpuUsage (the machine may be shared):
// 1. ingest's profiling pass over the file, without and with the columnar writer (what the
//    profiling worker thread does per upload);
// 2. reading all 33 columns (32 as numbers, the label as text, as training does) through
//    readDatasetBatches, from the CSV and from the copy;
// 3. prepareTrainingData (binary classification, as bench/train.ts's job) with and without the copy,
//    checking that both write the same bytes.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CsvProfiler, type CsvProfile } from '../src/datasets/csv/profiler.ts';
import { ColumnarWriter, type ColumnarSummary } from '../src/datasets/columnar/writer.ts';
import { COLUMNAR_FORMAT, type ColumnarInfo } from '../src/datasets/columnar/format.ts';
import { datasetColumnarKey, datasetCsvKey } from '../src/store/blobs/keys.ts';
import { readDatasetBatches, datasetReadPath, type DatasetSource } from '../src/datasets/read-dataset.ts';
import { FileBlobStore } from '../src/store/blobs/file-blob-store.ts';
import { prepareTrainingData } from '../src/training/prepare.ts';
import { ROOT } from './support.ts';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } });
const ROWS = Number(args.rows);
const csvPath = join(ROOT, 'bench', '.data', `train-${ROWS}x32.csv`);
if (!existsSync(csvPath)) throw new Error(`${csvPath} is missing: run \`npx tsx bench/train.ts --rows ${ROWS}\` once to generate it`);
const mb = statSync(csvPath).size / 1e6;

async function cpu<T>(what: string, run: () => Promise<T>): Promise<{ value: T; cpu: number; wall: number }> {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const value = await run();
  const used = process.cpuUsage(cpu0);
  const result = { value, cpu: (used.user + used.system) / 1e6, wall: (performance.now() - wall0) / 1000 };
  console.log(`${what}: CPU ${result.cpu.toFixed(2)} s (wall ${result.wall.toFixed(2)} s)`);
  return result;
}

async function profile(withCopy: boolean): Promise<{ profile: CsvProfile; summary: ColumnarSummary | null; parts: Uint8Array[] }> {
  const parts: Uint8Array[] = [];
  const writer = withCopy ? new ColumnarWriter((part) => parts.push(part)) : null;
  const profiler = new CsvProfiler({ delimiter: ',', copy: writer ?? undefined });
  for await (const chunk of createReadStream(csvPath, { highWaterMark: 1024 * 1024 })) profiler.feed(chunk as Buffer);
  return { profile: profiler.finish(), summary: writer?.finish() ?? null, parts };
}

console.log(`file: ${csvPath} (${mb.toFixed(0)} MB), node ${process.version}`);
const root = await mkdtemp(join(tmpdir(), 'trainyard-bench-columnar-'));
try {
  // Warm the page cache and the JIT once.
  await profile(true);
  const plain = [];
  const copy = [];
  for (let run = 0; run < 3; run++) {
    plain.push((await cpu('  profiling pass, CSV only         ', () => profile(false))).cpu);
    copy.push((await cpu('  profiling pass + columnar writer  ', () => profile(true))).cpu);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`ingest profiling pass (median CPU): ${median(plain).toFixed(2)} s → ${median(copy).toFixed(2)} s with the copy (+${(((median(copy) - median(plain)) / median(plain)) * 100).toFixed(0)}%)`);

  const { profile: profiled, summary, parts } = await profile(true);
  const blobs = new FileBlobStore(root);
  const id = 'ds_bench';
  await blobs.put(datasetCsvKey(id), createReadStream(csvPath));
  const stat = await blobs.put(datasetColumnarKey(id), Buffer.concat(parts));
  parts.length = 0;
  const info: ColumnarInfo = { format: COLUMNAR_FORMAT, key: datasetColumnarKey(id), size_bytes: stat.size, row_count: summary!.row_count, groups: summary!.groups, columns: summary!.columns };
  console.log(`copy: ${(stat.size / 1e6).toFixed(0)} MB in ${info.groups} groups (CSV ${mb.toFixed(0)} MB)`);
  const withCopy: DatasetSource = { id, blob_key: datasetCsvKey(id), delimiter: ',', row_count: profiled.row_count, columnar_json: JSON.stringify(info) };
  const withoutCopy: DatasetSource = { ...withCopy, columnar_json: null };
  const requests = [...profiled.columns.slice(0, 32).map((c) => ({ name: c.name, as: 'number' as const })), { name: 'label', as: 'string' as const }];
  const numbersOnly = profiled.columns.map((c) => ({ name: c.name, as: 'number' as const }));
  console.log(`read path for training's request: ${datasetReadPath(withCopy, requests)}`);

  const drain = async (dataset: DatasetSource, columns: typeof requests) => {
    let rows = 0;
    for await (const batch of readDatasetBatches(blobs, dataset, { columns, batchRows: 8192 })) rows += batch.length;
    return rows;
  };
  for (const [name, columns] of [['32 numbers + label as text', requests], ['33 numbers', numbersOnly]] as const) {
    const fromCsv = await cpu(`  read ${name} from the CSV   `, () => drain(withoutCopy, columns));
    const fromCopy = await cpu(`  read ${name} from the copy  `, () => drain(withCopy, columns));
    console.log(`read ${name}: ${(fromCsv.value / fromCsv.cpu / 1e3).toFixed(0)}k rows/CPU-s from the CSV, ${(fromCopy.value / fromCopy.cpu / 1e3).toFixed(0)}k from the copy (${(fromCsv.cpu / fromCopy.cpu).toFixed(1)}×)`);
  }

  const prepare = async (dataset: DatasetSource, jobDir: string) =>
    prepareTrainingData({
      blobs,
      blobKey: dataset.blob_key,
      delimiter: ',',
      rowCount: dataset.row_count,
      datasetId: id,
      columnarJson: dataset.columnar_json,
      columns: profiled.columns,
      task: 'binary_classification',
      target: 'label',
      features: profiled.columns.slice(0, 32).map((c) => c.name),
      maxCategories: 50,
      validationSplit: 0.2,
      seed: 42,
      jobDir,
    });
  const dirs = [join(root, 'job-csv'), join(root, 'job-copy')];
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  const timings: number[][] = [[], []];
  for (let run = 0; run < 2; run++) {
    timings[0].push((await cpu('  prepareTrainingData from the CSV ', () => prepare(withoutCopy, dirs[0]))).wall);
    timings[1].push((await cpu('  prepareTrainingData from the copy', () => prepare(withCopy, dirs[1]))).wall);
  }
  for (const name of (await readdir(dirs[0])).sort()) {
    const same = (await readFile(join(dirs[0], name))).equals(await readFile(join(dirs[1], name)));
    if (!same) throw new Error(`${name} differs between the CSV and the copy`);
  }
  console.log(`prepare (best wall): ${Math.min(...timings[0]).toFixed(2)} s from the CSV → ${Math.min(...timings[1]).toFixed(2)} s from the copy; outputs byte-identical`);
} finally {
  await rm(root, { recursive: true, force: true });
}
