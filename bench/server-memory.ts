// bench/server-memory: idle resident memory of `trainyard server` with 1, 2 and 4 HTTP processes.
//
//   npx tsx bench/server-memory.ts [--workers 1,2,4] [--settle 5]
//
// For each TRAINYARD_WORKERS value: a server on a fresh data directory, left idle for --settle
// seconds after every HTTP process listens and one request reached each, then per process VmRSS and
// RssAnon + RssShmem (memory of its own, not the shared pages of node, ONNX Runtime and mapped files
// that VmRSS also counts; see STACK-NOTES). The local executor's warm standby job process is
// reported on its own line (TRAINYARD_JOB_STANDBY; it is there once per server, whatever the count).
import { readdir, readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { request } from 'node:http';
import { startServer } from './support.ts';

const { values: args } = parseArgs({ options: { workers: { type: 'string', default: '1,2,4' }, settle: { type: 'string', default: '5' } } });
const COUNTS = args.workers.split(',').map(Number);

interface Memory {
  rss_mb: number;
  anon_mb: number;
}

async function memory(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rss_mb: Math.round(kb('VmRSS') / 1024), anon_mb: Math.round((kb('RssAnon') + kb('RssShmem')) / 1024) };
}

async function children(pid: number): Promise<Array<{ pid: number; role: string }>> {
  const out = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    out.push({ pid: Number(entry), role: argv.includes('run-job') ? 'standby job process' : 'HTTP process' });
  }
  return out;
}

/** A request on a connection of its own, so that the cluster hands it to the next process. */
const poke = (url: string) =>
  new Promise<void>((resolve, reject) => {
    request(url, { agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject).end();
  });

const results = [];
for (const workers of COUNTS) {
  const server = await startServer({ TRAINYARD_WORKERS: String(workers) });
  try {
    for (let i = 0; i < workers * 2; i++) await poke(`${server.base}/v1/models`);
    await new Promise((r) => setTimeout(r, Number(args.settle) * 1000));
    const primary = { pid: server.child.pid!, role: workers > 1 ? 'primary' : 'server (single process)' };
    const processes = [primary, ...(await children(primary.pid))];
    const measured = await Promise.all(processes.map(async (p) => ({ ...p, ...(await memory(p.pid)) })));
    const serving = measured.filter((p) => p.role !== 'standby job process');
    results.push({
      http_processes: workers,
      total_without_standby: { rss_mb: serving.reduce((a, p) => a + p.rss_mb, 0), anon_mb: serving.reduce((a, p) => a + p.anon_mb, 0) },
      processes: measured.map(({ role, rss_mb, anon_mb }) => ({ role, rss_mb, anon_mb })),
    });
    console.log(JSON.stringify(results.at(-1)));
  } finally {
    await server.stop();
  }
}
console.log(JSON.stringify({ machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}`, date: new Date().toISOString(), loadavg: loadavg().map((l) => Number(l.toFixed(2))), idle: results }, null, 2));
console.log(`rerun: npx tsx bench/server-memory.ts --workers ${COUNTS.join(',')} --settle ${args.settle}`);
