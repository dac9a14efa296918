// Where an import reads from: an `s3://bucket/key` URL naming one object, a prefix (ending in `/`:
// every object under it), or a glob in the last path segment (`s3://bucket/events/2026/*.parquet`:
// `*` any run of characters but `/`, `?` one character). And the allowlist that decides, at
// submission and again in the worker, which locations may be read at all (TRAINYARD_IMPORT_ALLOW).
//
// Keys are taken literally, as S3 does: `a/../b` is its own key in S3, not `b`. So, rather than
// normalise a key into another object than the one named, a key with an empty, `.` or `..` segment,
// a backslash, `%`, a control character or any character outside a conservative set is refused.
// An allowlist entry is a folder: `s3://b/data` allows `s3://b/data/…` (and an object named exactly
// `data`), never `s3://b/data-secret/…`; a glob is inside an entry only when its folder is.
import { TrainyardError } from '../../errors.ts';

export interface ImportLocation {
  /** The URL as normalised here (what the job records). */
  url: string;
  bucket: string;
  /** What the URL names: one object, every object under a prefix, or the objects a glob matches. */
  kind: 'object' | 'prefix' | 'glob';
  /** object: the key; prefix: the prefix with its trailing `/`; glob: the folder before the pattern, with its trailing `/` ('' at the top). */
  path: string;
  /** glob only: the last segment's pattern. */
  pattern?: string;
}

/** Bucket names as S3 allows them (3–63 lowercase letters, digits, `.` and `-`). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** One key segment: letters, digits and a few punctuation marks (no `/`, `\`, `%`, spaces or controls). */
const SEGMENT = /^[A-Za-z0-9._=+,@!()'-]+$/;
const GLOB_SEGMENT = /^[A-Za-z0-9._=+,@!()'*?-]+$/;

function invalid(field: string, message: string): TrainyardError {
  return new TrainyardError('INVALID_IMPORT_URL', `${field === 'url' ? 'the import URL' : field} ${message}`, { errors: [{ field, message }] });
}

/** Parses an import URL; throws INVALID_IMPORT_URL (400) naming what is wrong. */
export function parseImportUrl(url: string, field = 'url'): ImportLocation {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!match) throw invalid(field, `must look like s3://bucket/key, s3://bucket/prefix/ or s3://bucket/prefix/*.parquet, got "${url.slice(0, 200)}"`);
  const bucket = match[1];
  const rest = match[2] ?? '';
  if (!BUCKET.test(bucket) || bucket.includes('..')) throw invalid(field, `names an invalid bucket "${bucket.slice(0, 100)}"`);
  if (rest.length > 1024) throw invalid(field, 'has a key longer than 1024 characters');
  if (rest === '') return { url: `s3://${bucket}/`, bucket, kind: 'prefix', path: '' };
  const trailing = rest.endsWith('/');
  const segments = (trailing ? rest.slice(0, -1) : rest).split('/');
  const last = segments.length - 1;
  segments.forEach((segment, i) => {
    if (segment === '') throw invalid(field, 'has an empty path segment (`//`)');
    if (segment === '.' || segment === '..') throw invalid(field, 'has a `.` or `..` segment: keys are read literally, so name the object itself');
    const glob = /[*?]/.test(segment);
    if (glob && (i !== last || trailing)) throw invalid(field, 'may have a wildcard (* or ?) only in its last segment');
    if (!(glob ? GLOB_SEGMENT : SEGMENT).test(segment)) {
      throw invalid(field, `has a key segment "${segment.slice(0, 100)}" with characters other than letters, digits and . _ - = + , @ ! ( ) '`);
    }
  });
  const normal = `s3://${bucket}/${rest}`;
  if (trailing) return { url: normal, bucket, kind: 'prefix', path: rest };
  if (/[*?]/.test(segments[last])) {
    const folder = segments.slice(0, last).join('/');
    return { url: normal, bucket, kind: 'glob', path: folder ? `${folder}/` : '', pattern: segments[last] };
  }
  return { url: normal, bucket, kind: 'object', path: rest };
}

/** The prefix to list for a location (an object lists itself, exactly). */
export const listPrefix = (location: ImportLocation): string => location.path;

/** Whether a listed key is one the location names. */
export function matchesLocation(location: ImportLocation, key: string): boolean {
  if (location.kind === 'object') return key === location.path;
  if (!key.startsWith(location.path) || key.endsWith('/')) return false;
  if (location.kind === 'prefix') return true;
  const name = key.slice(location.path.length);
  return !name.includes('/') && globRegExp(location.pattern as string).test(name);
}

function globRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\=!,@'-]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/** One TRAINYARD_IMPORT_ALLOW entry: a bucket and a folder in it ('' for the whole bucket). */
export interface AllowEntry {
  bucket: string;
  folder: string;
}

/** Parses TRAINYARD_IMPORT_ALLOW entries (`s3://bucket` or `s3://bucket/folder`); throws on a malformed one. */
export function parseAllowList(entries: string[]): AllowEntry[] {
  return entries.map((entry) => {
    let location: ImportLocation;
    try {
      location = parseImportUrl(entry.endsWith('/') ? entry : `${entry}/`, 'TRAINYARD_IMPORT_ALLOW');
    } catch (error) {
      throw new Error(`TRAINYARD_IMPORT_ALLOW: "${entry}" is not an s3://bucket/prefix entry (${(error as Error).message})`);
    }
    return { bucket: location.bucket, folder: location.path.replace(/\/$/, '') };
  });
}

/** The folder (or object) a location can reach: every key it can read is this or under `this/`. */
function reach(location: ImportLocation): string {
  return location.kind === 'object' ? location.path : location.path.replace(/\/$/, '');
}

const inside = (path: string, folder: string): boolean => folder === '' || path === folder || path.startsWith(`${folder}/`);

/** Whether the allowlist lets the location (or one key of it) be read. */
export function isAllowed(allow: AllowEntry[], location: ImportLocation, key?: string): boolean {
  return allow.some((entry) => entry.bucket === location.bucket && inside(key ?? reach(location), entry.folder));
}

/** Throws IMPORT_NOT_ALLOWED (403) unless the allowlist lets the location be read. */
export function assertAllowed(allow: AllowEntry[], location: ImportLocation): void {
  if (allow.length === 0) {
    throw new TrainyardError('IMPORT_NOT_ALLOWED', 'imports are disabled on this server: TRAINYARD_IMPORT_ALLOW lists no s3:// locations', {
      errors: [{ field: 'url', message: 'imports are disabled (TRAINYARD_IMPORT_ALLOW is empty)' }],
    });
  }
  if (!isAllowed(allow, location)) {
    throw new TrainyardError('IMPORT_NOT_ALLOWED', `${location.url} is outside the locations this server may import from (TRAINYARD_IMPORT_ALLOW)`, {
      errors: [{ field: 'url', message: 'is not under an allowed s3://bucket/prefix' }],
    });
  }
}
