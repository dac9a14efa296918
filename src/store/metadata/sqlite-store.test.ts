import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import SQLite from 'better-sqlite3';
import { cachingStatements, openSqliteStore } from './sqlite-store.ts';

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

describe('cachingStatements', () => {
  it('prepares a text once, keeps the most recently used, and re-prepares one it let go', () => {
    const connection = new SQLite(':memory:');
    let prepared = 0;
    const counting = Object.assign(Object.create(connection) as SQLite.Database, {
      prepare: (text: string) => {
        prepared++;
        return connection.prepare(text);
      },
    });
    const cache = cachingStatements(counting, 2);
    const first = cache.prepare('select 1');
    expect(cache.prepare('select 1')).toBe(first);
    cache.prepare('select 2');
    cache.prepare('select 1'); // now the most recent: 'select 2' goes first
    cache.prepare('select 3');
    expect(prepared).toBe(3);
    expect(cache.prepare('select 1')).toBe(first);
    cache.prepare('select 2');
    expect(prepared).toBe(4);
    cache.close();
  });

  it('lets a query run again after a stream over it stopped early', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trainyard-sqlite-'));
    dirs.push(dir);
    const store = await openSqliteStore(join(dir, 'trainyard.sqlite'));
    await sql`create table numbers (n integer)`.execute(store.db);
    await sql`insert into numbers values (1), (2), (3)`.execute(store.db);
    const query = store.db.selectFrom('numbers' as never).select(sql<number>`n`.as('n'));
    for await (const row of query.stream()) {
      expect(row).toEqual({ n: 1 });
      break;
    }
    expect(await query.execute()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await store.close();
  });
});
