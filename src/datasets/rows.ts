// The datasets table's rows, and the one decoder of its JSON column columns_json (columnar_json is
// decoded, and checked, by columnarInfo() in read-dataset.ts).
import type { Selectable } from 'kysely';
import type { DatasetTable } from '../store/metadata/schema.ts';
import type { ColumnProfile } from './csv/profiler.ts';

export type DatasetRow = Selectable<DatasetTable>;

/** The profiled columns of a dataset, as ingest recorded them. */
export const datasetColumns = (row: Pick<DatasetRow, 'columns_json'>): ColumnProfile[] => JSON.parse(row.columns_json) as ColumnProfile[];
