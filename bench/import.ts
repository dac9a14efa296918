// Import from S3 against a plain streamed read of the same objects: 10 Parquet parts on the
// S3-protocol server (test/support/s3.ts, s3rver on this machine), imported as one dataset by the
// `import` job kind, run in this process (the engine's runClaimedJob, as a worker runs it) on SQLite
// and the file blob store; next to it, every object read with GetObject and discarded. Reported:
// seconds and MB/s of each, their ratio, and this process's memory while importing (peak of
// RssAnon + RssShmem sampled every 50 ms, against the level before) to show it stays flat.
//
//   npx tsx bench/import.ts [--rows-per-part 100000] [--columns 16]
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { startS3Server } from '../test/support/s3.ts';
import { loadConfig } from '../src/config.ts';
import { openPlatform } from '../src/platform.ts';
import { createJob, getJobRow } from '../src/jobs/jobs.ts';
import { claimNext } from '../src/jobs/queue.ts';
import { runClaimedJob } from '../src/jobs/run-job.ts';
import { JobRunners } from '../src/jobs/runner.ts';
import { importJobRunner } from '../src/datasets/import/import-job.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};
const ROWS = Number(option('rows-per-part', '100000'));
const COLUMNS = Number(option('columns', '16'));
const PARTS = 10;

function anonMb(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => Number(status.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1] ?? 0);
  return (field('RssAnon') + field('RssShmem')) / 1024;
}

function part(index: number): Uint8Array {
  let seed = index * 7919 + 1;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const columnData = [
    { name: 'id', data: Array.from({ length: ROWS }, (_, i) => BigInt(index * ROWS + i)), type: 'INT64' as const },
    ...Array.from({ length: COLUMNS - 2 }, (_, c) => ({ name: `f${c}`, data: Array.from({ length: ROWS }, () => random() * 100 - 50), type: 'DOUBLE' as const })),
    { name: 'label', data: Array.from({ length: ROWS }, () => (random() < 0.3 ? 1 : 0)), type: 'INT32' as const },
  ];
  return new Uint8Array(parquetWriteBuffer({ columnData, rowGroupSize: 50_000 }));
}

async function main(): Promise<void> {
  const s3 = await startS3Server();
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-import-'));
  const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  try {
    let bytes = 0;
    const keys: string[] = [];
    for (let p = 0; p < PARTS; p++) {
      const body = part(p);
      bytes += body.length;
      const key = `data/bench/part-${String(p).padStart(2, '0')}.parquet`;
      keys.push(key);
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
    }
    const mb = bytes / 1e6;
    console.log(`${PARTS} parts × ${ROWS} rows × ${COLUMNS} columns: ${mb.toFixed(1)} MB of Parquet on ${s3.endpoint}`);

    let started = performance.now();
    for (const key of keys) {
      const response = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      for await (const _chunk of response.Body as Readable);
    }
    const plain = (performance.now() - started) / 1000;
    console.log(`plain streamed read: ${plain.toFixed(2)} s, ${(mb / plain).toFixed(1)} MB/s`);

    const config = loadConfig({ ...process.env, TRAINYARD_DATA_DIR: dataDir, TRAINYARD_S3_ENDPOINT: s3.endpoint, TRAINYARD_IMPORT_ALLOW: `s3://${s3.bucket}/data`, TRAINYARD_LOG_LEVEL: 'warn' });
    const platform = await openPlatform(config, { migrate: true });
    try {
      global.gc?.();
      const before = anonMb();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, anonMb())), 50);
      const job = await createJob(platform.metadata, { kind: 'import', spec: { name: 'bench', url: `s3://${s3.bucket}/data/bench/*.parquet` }, maxAttempts: 1 });
      const claimed = await claimNext(platform.metadata, 'bench', 60_000);
      if (!claimed || claimed.id !== job.id) throw new Error('could not claim the import job');
      started = performance.now();
      const end = await runClaimedJob(platform, new JobRunners().register(importJobRunner), claimed, 'bench');
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      const row = await getJobRow(platform.metadata.db, job.id);
      if (end !== 'succeeded') throw new Error(`import ${end}: ${row.error}`);
      console.log(`import job: ${seconds.toFixed(2)} s, ${(mb / seconds).toFixed(1)} MB/s, ${((PARTS * ROWS) / seconds / 1000).toFixed(0)}k rows/s; ${row.stats_json}`);
      console.log(`ratio import / plain read: ${(seconds / plain).toFixed(1)}×`);
      console.log(`memory (RssAnon+RssShmem): ${before.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB (+${(peak - before).toFixed(0)} MB for ${mb.toFixed(0)} MB of input)`);
      console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    } finally {
      await platform.close();
    }
  } finally {
    client.destroy();
    await s3.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
