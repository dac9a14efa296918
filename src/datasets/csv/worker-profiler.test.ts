import { describe, expect, it } from 'vitest';
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
});
