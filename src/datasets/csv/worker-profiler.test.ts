import { describe, expect, it } from 'vitest';
import { CsvProfiler } from './profiler.ts';
import { acquireWorkerProfiler, warmProfilingWorker, workerStats } from './worker-profiler.ts';

describe('the profiling worker pool', () => {
  it('profiles the first upload on the worker started ahead of time, without starting another', async () => {
    warmProfilingWorker();
    warmProfilingWorker(); // one is enough
    expect(workerStats.spawned).toBe(1);
    const profiler = acquireWorkerProfiler();
    expect(profiler).not.toBeNull();
    profiler!.feed(Buffer.from('a,b\n1,x\n2,y\n3,x\n'));
    const profile = await profiler!.finish();
    expect(profile.row_count).toBe(3);
    expect(profile.columns.map((c) => [c.name, c.type, c.distinct_count])).toEqual([
      ['a', 'integer', 3],
      ['b', 'string', 2],
    ]);
    expect(workerStats).toEqual({ jobs: 1, spawned: 1 });
  });

  it('profiles as inline does, from small chunks (shared slots) and from one chunk larger than all slots together', async () => {
    let text = 'id,x,label\n';
    for (let k = 0; text.length < 13 * 1024 * 1024; k++) text += `${k},${(k % 997) / 8},"l,${k % 5}"\n`;
    const bytes = Buffer.from(text);
    const inline = new CsvProfiler();
    inline.feed(bytes);
    const expected = inline.finish();
    for (const size of [64 * 1024, bytes.length]) {
      const profiler = acquireWorkerProfiler()!;
      for (let at = 0; at < bytes.length; at += size) {
        // Copied, then overwritten once fed: the profiler must not keep the caller's buffer.
        const chunk = Buffer.from(bytes.subarray(at, at + size));
        await profiler.feed(chunk);
        chunk.fill(0x41);
      }
      const profile = await profiler.finish();
      expect(profile.row_count).toBe(expected.row_count);
      // Equal up to the summation order of mean and std (blocks follow chunk boundaries).
      const strip = (p: typeof expected) => p.columns.map(({ mean: _m, std: _s, ...rest }) => rest);
      expect(strip(profile)).toEqual(strip(expected));
    }
    expect(workerStats.spawned).toBe(1);
  });
});
