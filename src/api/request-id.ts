// Request ids the server makes when a client sends none: UUID version 7 (RFC 9562), a millisecond
// timestamp then random bits. Being time-ordered matters for prediction logging: every logged row's
// record is keyed by its request id, and random (version 4) keys land on random pages of that
// index, which made each insert several times dearer as the table grew (bench/monitoring.ts; the
// figures are in docs/benchmarks.md). Node 20 has no built-in v7 generator.
import { randomUUID } from 'node:crypto';

/** A new UUIDv7: 48 bits of Unix milliseconds, the version, then the random bits of a v4 UUID. */
export function timeOrderedId(now = Date.now()): string {
  const time = now.toString(16).padStart(12, '0');
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx, V already the RFC variant
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}
