// Turns prediction inputs (JSON rows or CSV) into the columns the shared encoder takes, checking
// them against the version's features. JSON and CSV type the same way: a numeric feature accepts a
// number or a numeric string; missing tokens (empty, NA, null, NaN…) and JSON null are missing
// values, imputed as the manifest says; a categorical feature accepts any scalar as text; a datetime
// feature accepts ISO 8601 text (datasets/datetime.ts), in JSON as in CSV.
import { TrainyardError, type FieldError } from '../errors.ts';
import { isMissingToken, parseNumberToken } from '../datasets/csv/tokens.ts';
import { readCsvBatches } from '../datasets/csv/reader.ts';
import { datetimeColumn, readAs, type FeatureEncoding, type RawColumn } from '../models/preprocessing.ts';
import { parseDateTime } from '../datasets/datetime.ts';
import { ABSENT, NUMBER, OTHER, type JsonRows } from './json-rows.ts';

const MAX_REPORTED_ERRORS = 20;

function invalid(errors: FieldError[], total: number): TrainyardError {
  const first = errors[0];
  const more = total > 1 ? ` (and ${total - 1} more problem${total > 2 ? 's' : ''})` : '';
  return new TrainyardError('INVALID_INPUT', `row ${first.row}, column "${first.field}": ${first.message}${more}`, { errors });
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function columnsFromJson(inputs: ReadonlyArray<Record<string, unknown>>, features: readonly FeatureEncoding[]): RawColumn[] {
  const errors: FieldError[] = [];
  let total = 0;
  const report = (row: number, field: string, message: string) => {
    total++;
    if (errors.length < MAX_REPORTED_ERRORS) errors.push({ field, row, message });
  };
  const columns: RawColumn[] = features.map((f) => (f.kind === 'categorical' ? new Array<string | null>(inputs.length).fill(null) : new Float64Array(inputs.length)));
  const names = features.map((f) => f.name);
  const numeric = features.map((f) => f.kind === 'numeric');
  const datetime = features.map((f) => f.kind === 'datetime');
  // Row by row, features in order: the errors come out in that order, as the docs show them.
  for (let row = 0; row < inputs.length; row++) {
    const input = inputs[row];
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      report(row, 'inputs', 'must be an object of column → value');
      continue;
    }
    for (let f = 0; f < names.length; f++) {
      const name = names[f];
      const value = input[name];
      if (value === undefined) {
        report(row, name, 'is missing (send null for an unknown value)');
        continue;
      }
      if (datetime[f]) {
        const target = columns[f] as Float64Array;
        if (value === null || (typeof value === 'string' && isMissingToken(value))) target[row] = NaN;
        else {
          const time = typeof value === 'string' ? parseDateTime(value) : NaN;
          if (time !== time) report(row, name, `expected an ISO 8601 date or timestamp (like "2026-03-01" or "2026-03-01T12:30:00Z"), got ${describe(value)}`);
          else target[row] = time;
        }
      } else if (numeric[f]) {
        const target = columns[f] as Float64Array;
        if (typeof value === 'number' && Number.isFinite(value)) target[row] = value;
        else if (value === null) target[row] = NaN;
        else if (typeof value === 'string') {
          if (isMissingToken(value)) target[row] = NaN;
          else {
            const parsed = parseNumberToken(value);
            if (parsed === undefined) report(row, name, `expected a number, got ${describe(value)}`);
            else target[row] = parsed;
          }
        } else report(row, name, `expected a number, got ${describe(value)}`);
      } else {
        const target = columns[f] as (string | null)[];
        if (value === null) target[row] = null;
        else if (typeof value === 'string') target[row] = isMissingToken(value) ? null : value;
        else if (typeof value === 'number' || typeof value === 'boolean') target[row] = String(value);
        else report(row, name, `expected text, a number or a boolean, got ${describe(value)}`);
      }
    }
  }
  if (total > 0) throw invalid(errors, total);
  return columns;
}

/**
 * The same as columnsFromJson for rows read by parseJsonRows (column by column, no row objects).
 * Any problem is reported by columnsFromJson over the materialised rows, so errors read the same.
 */
export function columnsFromRows(rows: JsonRows, features: readonly FeatureEncoding[]): RawColumn[] {
  const n = rows.length;
  const columns: RawColumn[] = [];
  for (const feature of features) {
    const k = rows.column(feature.name);
    if (k < 0 || feature.kind === 'datetime') return columnsFromJson(rows.rows(), features);
    const kinds = rows.kinds[k];
    const numbers = rows.numbers[k];
    const others = rows.others[k];
    if (feature.kind === 'numeric') {
      // All finite numbers (the usual case): the parser's column is the feature's column.
      let r = 0;
      while (r < n && kinds[r] === NUMBER && Number.isFinite(numbers[r])) r++;
      if (r === n) {
        columns.push(numbers.subarray(0, n));
        continue;
      }
      const column = new Float64Array(n);
      column.set(numbers.subarray(0, r));
      for (; r < n; r++) {
        const kind = kinds[r];
        if (kind === NUMBER && Number.isFinite(numbers[r])) column[r] = numbers[r];
        else if (kind === OTHER && others[r] === null) column[r] = NaN;
        else if (kind === OTHER && typeof others[r] === 'string') {
          const text = others[r] as string;
          const parsed = isMissingToken(text) ? NaN : parseNumberToken(text);
          if (parsed === undefined) return columnsFromJson(rows.rows(), features);
          column[r] = parsed;
        } else return columnsFromJson(rows.rows(), features);
      }
      columns.push(column);
    } else {
      const column = new Array<string | null>(n);
      for (let r = 0; r < n; r++) {
        const kind = kinds[r];
        const value = kind === NUMBER ? numbers[r] : others[r];
        if (kind === ABSENT) return columnsFromJson(rows.rows(), features);
        if (value === null) column[r] = null;
        else if (typeof value === 'string') column[r] = isMissingToken(value) ? null : value;
        else column[r] = String(value); // a number or a boolean
      }
      columns.push(column);
    }
  }
  return columns;
}

/** Reads a whole CSV (a request body) into feature columns; at most `maxRows` rows. */
export async function columnsFromCsv(
  source: AsyncIterable<Buffer | Uint8Array>,
  features: readonly FeatureEncoding[],
  maxRows: number,
): Promise<{ columns: RawColumn[]; rows: number }> {
  const parts: RawColumn[][] = features.map(() => []);
  let rows = 0;
  for await (const batch of readCsvBatches(source, { columns: features.map((f) => ({ name: f.name, as: readAs(f.kind) })) })) {
    rows = batch.firstRow + batch.length;
    if (rows > maxRows) {
      throw new TrainyardError('TOO_MANY_ROWS', `the CSV has more than ${maxRows} rows, the limit for one predict request; use POST /v1/inference-jobs for files`);
    }
    datetimeInputs(features, batch.columns, batch.firstRow).forEach((c, i) => parts[i].push(c));
  }
  const columns = features.map((f, i): RawColumn => {
    if (f.kind !== 'categorical') {
      const out = new Float64Array(rows);
      let at = 0;
      for (const part of parts[i] as Float64Array[]) {
        out.set(part, at);
        at += part.length;
      }
      return out;
    }
    return (parts[i] as (string | null)[][]).flat();
  });
  return { columns, rows };
}

/**
 * Columns read as readAs() says, with each datetime feature's text turned into its time. Text that
 * is not a datetime is INVALID_INPUT naming the column and row (`firstRow`: the batch's first row).
 */
export function datetimeInputs(features: readonly FeatureEncoding[], columns: RawColumn[], firstRow: number): RawColumn[] {
  if (!features.some((f) => f.kind === 'datetime')) return columns;
  const errors: FieldError[] = [];
  let total = 0;
  const out = columns.map((column, i) => {
    const feature = features[i];
    if (feature.kind !== 'datetime') return column;
    return datetimeColumn(column as (string | null)[], (index, text) => {
      total++;
      if (errors.length < MAX_REPORTED_ERRORS) errors.push({ field: feature.name, row: firstRow + index + 1, message: `expected an ISO 8601 date or timestamp, got ${describe(text)}` });
    });
  });
  if (total > 0) throw invalid(errors, total);
  return out;
}
