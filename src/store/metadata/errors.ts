// Dialect-neutral questions about errors thrown by the metadata store. Domain code asks these
// instead of matching driver codes, so the same check works on SQLite and MySQL/MariaDB.
export { isConnectionError, toStoreUnavailable } from '../retry.ts';

interface DriverError {
  code?: unknown;
  errno?: unknown;
  cause?: unknown;
}

/** SQLite extended result codes for a duplicate key (UNIQUE and PRIMARY KEY constraints). */
const SQLITE_UNIQUE = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);

/**
 * True when the error is a duplicate-key violation of a UNIQUE or PRIMARY KEY constraint:
 * better-sqlite3's SQLITE_CONSTRAINT_UNIQUE / SQLITE_CONSTRAINT_PRIMARYKEY, or mysql2's
 * ER_DUP_ENTRY (errno 1062). Looks through `cause` so wrapped errors still answer.
 * Use it to turn a race ("same name created twice") into ALREADY_EXISTS or a retry.
 */
export function isUniqueViolation(error: unknown): boolean {
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as DriverError).cause, depth++) {
    const { code, errno } = e as DriverError;
    if (typeof code === 'string' && (SQLITE_UNIQUE.has(code) || code === 'ER_DUP_ENTRY')) return true;
    // mysql2 sets both; errno alone covers errors re-thrown by other layers.
    if (errno === 1062 && (code === undefined || typeof code === 'string')) return true;
  }
  return false;
}
