import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * Another process opens `file` and holds a write transaction on it for `holdMs`, as a second
 * server does while it creates or migrates the database. Resolves once the lock is held.
 */
async function holdWriteLock(file: string, holdMs: number): Promise<{ released: Promise<unknown> }> {
  const script = `
    const SQLite = require('better-sqlite3');
    const connection = new SQLite(process.env.DB_FILE);
    connection.exec('BEGIN IMMEDIATE; CREATE TABLE held (x)');
    process.stdout.write('held\\n');
    setTimeout(() => { connection.exec('COMMIT'); connection.close(); }, Number(process.env.HOLD_MS));
  `;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, DB_FILE: file, HOLD_MS: String(holdMs) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const released = once(child, 'exit');
  await once(child.stdout, 'data');
  return { released };
}

describe('openSqliteStore', () => {
  it('waits for another process that holds the write lock on a new database file instead of failing with SQLITE_BUSY', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trainyard-sqlite-'));
    dirs.push(dir);
    const file = join(dir, 'trainyard.sqlite');
    const holder = await holdWriteLock(file, 400);

    const started = Date.now();
    const store = await openSqliteStore(file);
    try {
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
      expect(rows[0]?.journal_mode).toBe('wal');
      // The other process's committed work is there: it was waited for, not overwritten.
      const tables = await sql<{ name: string }>`select name from sqlite_master where name = 'held'`.execute(store.db);
      expect(tables.rows).toHaveLength(1);
    } finally {
      await store.close();
      await holder.released;
    }
  });
});
