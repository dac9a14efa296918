// Any stored dataset as a Parquet file (GET /v1/datasets/{id}/content?format=parquet), written with
// hyparquet-writer while it is sent: the dataset is read in batches (columnar copy or original,
// read-dataset.ts), each batch becomes one row group, and each row group's bytes go out before the
// next batch is read, so memory stays at one batch whatever the dataset's size.
//
// Column types: integer → INT64, number → DOUBLE, boolean → BOOLEAN, string → UTF-8 BYTE_ARRAY,
// datetime → INT64 TIMESTAMP_MILLIS (UTC); all OPTIONAL, missing values null.
import { Readable } from 'node:stream';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { BlobStore } from '../../store/blobs/blob-store.ts';
import { readDatasetBatches, type DatasetSource } from '../read-dataset.ts';
import type { ColumnProfile } from '../csv/profiler.ts';
import { parseBooleanToken } from '../csv/tokens.ts';
import { parseDateTime } from '../datetime.ts';

const ROW_GROUP_ROWS = 65_536;

/** hyparquet-writer's schema element (it depends on its own copy of hyparquet's types). */
type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];
type ColumnSource = Parameters<ParquetWriter['write']>[0]['columnData'][number];

function schemaOf(columns: Pick<ColumnProfile, 'name' | 'type'>[]): SchemaElement[] {
  return [
    { name: 'root', num_children: columns.length },
    ...columns.map((c): SchemaElement => {
      const base = { name: c.name, repetition_type: 'OPTIONAL' as const };
      switch (c.type) {
        case 'integer':
          return { ...base, type: 'INT64' };
        case 'number':
          return { ...base, type: 'DOUBLE' };
        case 'boolean':
          return { ...base, type: 'BOOLEAN' };
        case 'datetime':
          return { ...base, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' };
        default:
          return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8' };
      }
    }),
  ];
}

function valuesOf(column: Pick<ColumnProfile, 'type'>, data: Float64Array | (string | null)[]): unknown[] {
  const n = data.length;
  const out = new Array<unknown>(n);
  switch (column.type) {
    case 'integer':
      for (let i = 0; i < n; i++) {
        const v = (data as Float64Array)[i];
        out[i] = v === v ? BigInt(Math.trunc(v)) : null;
      }
      return out;
    case 'number':
      for (let i = 0; i < n; i++) {
        const v = (data as Float64Array)[i];
        out[i] = v === v ? v : null;
      }
      return out;
    case 'boolean':
      for (let i = 0; i < n; i++) {
        const text = (data as (string | null)[])[i];
        out[i] = text === null ? null : (parseBooleanToken(text) ?? null);
      }
      return out;
    case 'datetime':
      for (let i = 0; i < n; i++) {
        const text = (data as (string | null)[])[i];
        const time = text === null ? NaN : parseDateTime(text);
        out[i] = time === time ? new Date(time) : null;
      }
      return out;
    default:
      return data as (string | null)[];
  }
}

/** Batch columns as read-dataset.ts gives them: numbers for integer and number columns, text (null missing) for the others. */
export type ParquetBatchColumns = Array<Float64Array | (string | null)[]>;

/** The requests that read a dataset's columns in the shape ParquetWriterStream takes. */
export const parquetRequests = (columns: Pick<ColumnProfile, 'name' | 'type'>[]) =>
  columns.map((c) => ({ name: c.name, as: c.type === 'integer' || c.type === 'number' ? ('number' as const) : ('string' as const) }));

/** Writes batches of columns as a Parquet file, one row group per batch, giving back the bytes of each as it goes. */
export class ParquetBatchWriter {
  private readonly writer = new ByteWriter();
  private readonly parquet: ParquetWriter;

  constructor(private readonly columns: Pick<ColumnProfile, 'name' | 'type'>[]) {
    this.parquet = new ParquetWriter({ writer: this.writer, schema: schemaOf(columns), codec: 'SNAPPY' });
  }

  private take(): Uint8Array {
    const out = this.writer.getBytes().slice();
    this.writer.index = 0;
    return out;
  }

  /** One row group; the file's bytes so far. */
  async write(data: ParquetBatchColumns, length: number): Promise<Uint8Array> {
    const columnData = this.columns.map((c, k): ColumnSource => ({ name: c.name, data: valuesOf(c, data[k]) as ColumnSource['data'] }));
    await this.parquet.write({ columnData, rowGroupSize: length });
    return this.take();
  }

  /** The footer. */
  finish(): Uint8Array {
    this.parquet.finish();
    return this.take();
  }
}

/** The dataset as a Parquet byte stream. */
export function datasetAsParquet(blobs: BlobStore, dataset: DatasetSource, columns: ColumnProfile[], logger?: { warn(object: object, message: string): void }): Readable {
  async function* bytes(): AsyncGenerator<Uint8Array> {
    const writer = new ParquetBatchWriter(columns);
    for await (const batch of readDatasetBatches(blobs, dataset, { columns: parquetRequests(columns), batchRows: ROW_GROUP_ROWS, logger })) {
      yield await writer.write(batch.columns, batch.length);
    }
    yield writer.finish();
  }
  return Readable.from(bytes(), { objectMode: false });
}
