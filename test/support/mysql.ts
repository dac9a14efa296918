// MariaDB/MySQL for tests. Set TRAINYARD_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test;
// .ci/run does) to run the MySQL variants of the suites; each test file then gets a database of
// its own, created fresh and dropped afterwards. Without it those suites are skipped:
//
//   describe.skipIf(!MYSQL_URL)(`on MariaDB${MYSQL_SKIP_NOTE}`, () => {
//     let db: TestDatabase;
//     beforeAll(async () => { db = await createTestDatabase(); });
//     afterAll(() => db?.drop());
//     … openMetadataStore(db.url) …
//   });
import { randomBytes } from 'node:crypto';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createConnection, type Connection } from 'mysql2/promise';
import { listenSwitchable } from './switchable-server.ts';

/** The server to create test databases on, or undefined when MariaDB tests are off. */
export const MYSQL_URL: string | undefined = process.env.TRAINYARD_TEST_MYSQL_URL || undefined;

/** Appended to a describe title so a skipped MariaDB suite says why. */
export const MYSQL_SKIP_NOTE = MYSQL_URL ? '' : ' (skipped: set TRAINYARD_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test to run)';

/** Databases this module creates are named `<PREFIX><unix seconds>_<random>`. */
const PREFIX = 'trainyard_t';
/** Test databases older than this were left by a killed run and are dropped by the next one. */
const STALE_SECONDS = 6 * 3600;

export interface TestDatabase {
  /** `mysql://…/<name>`, with the query string of TRAINYARD_TEST_MYSQL_URL kept. */
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

async function admin(): Promise<Connection> {
  if (!MYSQL_URL) throw new Error('TRAINYARD_TEST_MYSQL_URL is not set');
  const url = new URL(MYSQL_URL);
  url.pathname = '/';
  return createConnection({ uri: url.toString(), connectTimeout: 5000 });
}

async function dropStale(connection: Connection): Promise<void> {
  const [rows] = await connection.query(`SHOW DATABASES LIKE '${PREFIX}%'`);
  const now = Math.floor(Date.now() / 1000);
  for (const row of rows as Record<string, string>[]) {
    const name = Object.values(row)[0] ?? '';
    const created = Number(/^trainyard_t(\d+)_[0-9a-f]+$/.exec(name)?.[1]);
    if (Number.isFinite(created) && now - created > STALE_SECONDS) {
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
  }
}

/** Creates an empty database (server defaults for character set and collation) on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!MYSQL_URL) throw new Error('TRAINYARD_TEST_MYSQL_URL is not set');
  const name = `${PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  const connection = await admin();
  try {
    await dropStale(connection).catch(() => {});
    // The server's default character set and collation, as a user's database would have: the
    // migrations must not depend on them.
    await connection.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await connection.end();
  }
  const url = new URL(MYSQL_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = await admin();
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TcpProxy {
  /** `host:port` to connect to instead of the target. */
  readonly host: string;
  readonly port: number;
  /** Replaces host and port of a URL (e.g. a mysql:// URL) with the proxy's. */
  via(url: string): string;
  /** Refuse new connections and cut the open ones: the server looks stopped. */
  down(): Promise<void>;
  /** Accept connections again on the same port: the server is back. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `target` (`host:port`). Taking it down looks, from the
 * client, exactly like the database restarting (connections reset, then refused) without
 * stopping a server other tests share.
 */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const [targetHost, targetPort] = [target.replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(target)?.[1] ?? 3306)];
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = createNetServer((client) => {
    track(client);
    const upstream = connect(targetPort, targetHost);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const { port, down, up } = await listenSwitchable(server, sockets);
  return {
    host: '127.0.0.1',
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    down,
    up,
    close: down,
  };
}

/** Runs one query against a database on its own connection (a fleet under test owns the pools). */
export async function queryDatabase<T = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const connection = await createConnection({ uri: url });
  try {
    const [rows] = await connection.query(text, params);
    return rows as T[];
  } finally {
    await connection.end();
  }
}
