import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { pageDecompressors } from './codecs.ts';

describe('Parquet page decompressors', () => {
  it('refuses a page that claims more than a row group may hold, before making a buffer for it', () => {
    const decompressors = pageDecompressors(1000);
    const page = gzipSync(new Uint8Array(800));
    expect(decompressors.GZIP!(page, 800)).toHaveLength(800);
    for (const codec of ['SNAPPY', 'GZIP', 'BROTLI', 'ZSTD'] as const) {
      expect(() => decompressors[codec]!(page, 2 ** 31), codec).toThrow(/claims 2147483648 bytes uncompressed, more than the 1000/);
    }
  });
});
