import { describe, expect, it } from 'vitest';
import { TrainyardError } from '../../errors.ts';
import { assertAllowed, isAllowed, matchesLocation, parseAllowList, parseImportUrl } from './location.ts';

const allow = parseAllowList(['s3://bkt/data', 's3://whole-bucket', 's3://bkt/nested/deep/']);
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as TrainyardError).code;
  }
  return undefined;
};

describe('import locations', () => {
  it('reads an object, a prefix and a glob in the last segment', () => {
    expect(parseImportUrl('s3://bkt/data/x.parquet')).toMatchObject({ kind: 'object', bucket: 'bkt', path: 'data/x.parquet' });
    expect(parseImportUrl('s3://bkt/data/')).toMatchObject({ kind: 'prefix', path: 'data/' });
    expect(parseImportUrl('s3://bkt/data/2026/*.parquet')).toMatchObject({ kind: 'glob', path: 'data/2026/', pattern: '*.parquet' });
    expect(parseImportUrl('s3://bkt/date=2026-01-01/part-?.parquet')).toMatchObject({ kind: 'glob', path: 'date=2026-01-01/' });
  });

  it('refuses odd URLs and keys rather than normalising them into other objects', () => {
    for (const url of ['https://b/x', 's3://', 's3://Bkt/x.csv', 's3://bkt/a/../x.csv', 's3://bkt/./x.csv', 's3://bkt/a//x.csv', 's3://bkt/*/x.csv', 's3://bkt/a%2F..%2Fx.csv', 's3://bkt/a\\x.csv', 's3://bkt/a b.csv', 's3://bkt/a\u0000.csv', `s3://bkt/${'k'.repeat(1025)}`]) {
      expect(code(() => parseImportUrl(url)), url).toBe('INVALID_IMPORT_URL');
    }
  });

  it('matches a glob within its folder only', () => {
    const glob = parseImportUrl('s3://bkt/data/*.parquet');
    expect(matchesLocation(glob, 'data/a.parquet')).toBe(true);
    expect(matchesLocation(glob, 'data/sub/a.parquet')).toBe(false);
    expect(matchesLocation(glob, 'data/a.parquet.bak')).toBe(false);
    expect(matchesLocation(parseImportUrl('s3://bkt/data/'), 'data/sub/a.parquet')).toBe(true);
    expect(matchesLocation(parseImportUrl('s3://bkt/data/x.csv'), 'data/x.csv.old')).toBe(false);
  });

  it('allows by whole path segments: s3://bkt/data never allows s3://bkt/data-secret/', () => {
    expect(isAllowed(allow, parseImportUrl('s3://bkt/data/x.parquet'))).toBe(true);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/data/2026/*.parquet'))).toBe(true);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/data/'))).toBe(true);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/data-secret/x.parquet'))).toBe(false);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/data*'))).toBe(false);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/dat?.csv'))).toBe(false);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/'))).toBe(false);
    expect(isAllowed(allow, parseImportUrl('s3://whole-bucket/any/thing.csv'))).toBe(true);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/nested/deep/x.csv'))).toBe(true);
    expect(isAllowed(allow, parseImportUrl('s3://bkt/nested/x.csv'))).toBe(false);
    expect(code(() => assertAllowed(allow, parseImportUrl('s3://other/data/x.csv')))).toBe('IMPORT_NOT_ALLOWED');
    expect(code(() => assertAllowed([], parseImportUrl('s3://bkt/data/x.csv')))).toBe('IMPORT_NOT_ALLOWED');
  });

  it('refuses a malformed allowlist entry', () => {
    expect(() => parseAllowList(['https://b/data'])).toThrow(/TRAINYARD_IMPORT_ALLOW/);
    expect(() => parseAllowList(['s3://bkt/../x'])).toThrow(/TRAINYARD_IMPORT_ALLOW/);
  });
});
