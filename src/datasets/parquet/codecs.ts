// The Parquet page codecs besides snappy (which hyparquet reads itself) that writers use: Polars
// writes zstd by default, and pyarrow, Spark and DuckDB can write gzip, brotli or zstd. LZ4 is left
// out (rare, and no decoder at hand says how many bytes it wrote); such a file is refused naming the
// codec.
//
// Each decoder must produce exactly the size the page's header states, never more: a page that
// inflates to less would otherwise read as zeros, and one that inflates to more is a bomb. gzip and
// brotli are Node's own (bounded by maxOutputLength); zstd is fzstd (pure JavaScript; Node 20 has
// no zstd), streamed block by block into a buffer of the stated size.
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Decompress } from 'fzstd';
import type { parquetRead } from 'hyparquet';

type Compressors = NonNullable<Parameters<typeof parquetRead>[0]['compressors']>;

function exactly(codec: string, page: Uint8Array, length: number): Uint8Array {
  if (page.length !== length) throw new Error(`a ${codec} page inflates to ${page.length} bytes, not the ${length} its header states`);
  return page;
}

function inflateZstd(input: Uint8Array, length: number): Uint8Array {
  const output = new Uint8Array(length);
  let written = 0;
  const stream = new Decompress((chunk) => {
    if (written + chunk.length > length) throw new Error(`a zstd page inflates past the ${length} bytes its header states`);
    output.set(chunk, written);
    written += chunk.length;
  });
  stream.push(input, true);
  return exactly('zstd', output.subarray(0, written), length);
}

export const PAGE_DECOMPRESSORS: Compressors = {
  GZIP: (input, length) => exactly('gzip', gunzipSync(input, { maxOutputLength: Math.max(1, length) }), length),
  BROTLI: (input, length) => exactly('brotli', brotliDecompressSync(input, { maxOutputLength: Math.max(1, length) }), length),
  ZSTD: inflateZstd,
};
