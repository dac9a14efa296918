// The Parquet page codecs besides snappy (which hyparquet reads itself) that writers use: Polars
// writes zstd by default, and pyarrow, Spark and DuckDB can write gzip, brotli or zstd. LZ4 is left
// out (rare, and no decoder at hand says how many bytes it wrote); such a file is refused naming the
// codec.
//
// Each decoder must produce exactly the size the page's header states, never more: a page that
// inflates to less would otherwise read as zeros, and one that inflates to more is a bomb. gzip and
// brotli are Node's own (bounded by maxOutputLength); zstd is fzstd (pure JavaScript; Node 20 has
// no zstd), streamed block by block into a buffer of the stated size. The stated size itself is
// the file's word, so a page that claims more than a row group may hold is refused before any
// buffer is made for it (snappy included, which hyparquet would otherwise allocate as claimed).
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Decompress } from 'fzstd';
import { snappyUncompress, type parquetRead } from 'hyparquet';

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

/** The decoders for pages of at most `maxPageBytes` uncompressed. */
export function pageDecompressors(maxPageBytes: number): Compressors {
  const bounded =
    (codec: string, inflate: (input: Uint8Array, length: number) => Uint8Array) =>
    (input: Uint8Array, length: number): Uint8Array => {
      if (length > maxPageBytes) throw new Error(`a ${codec} page claims ${length} bytes uncompressed, more than the ${maxPageBytes} a row group may hold`);
      return inflate(input, length);
    };
  return {
    SNAPPY: bounded('snappy', (input, length) => {
      const output = new Uint8Array(length);
      snappyUncompress(input, output);
      return output;
    }),
    GZIP: bounded('gzip', (input, length) => exactly('gzip', gunzipSync(input, { maxOutputLength: Math.max(1, length) }), length)),
    BROTLI: bounded('brotli', (input, length) => exactly('brotli', brotliDecompressSync(input, { maxOutputLength: Math.max(1, length) }), length)),
    ZSTD: bounded('zstd', inflateZstd),
  };
}
