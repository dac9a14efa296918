import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';

describe('TRAINYARD_WORKERS', () => {
  it('defaults to one HTTP process per core the process may use, also when set to auto', () => {
    expect(loadConfig({}).workers).toBe(availableParallelism());
    expect(loadConfig({ TRAINYARD_WORKERS: 'auto' }).workers).toBe(availableParallelism());
  });

  it('takes a count of at least 1', () => {
    expect(loadConfig({ TRAINYARD_WORKERS: '1' }).workers).toBe(1);
    expect(loadConfig({ TRAINYARD_WORKERS: '6' }).workers).toBe(6);
    for (const bad of ['0', '-2', '1.5', 'all']) expect(() => loadConfig({ TRAINYARD_WORKERS: bad }), bad).toThrow(ConfigError);
  });
});
