// The profile of a typed table (Parquet, JSON Lines): the same ColumnProfile as a CSV's, from the
// same per-column state (csv/profiler.ts ColumnState: Welford/Chan statistics, exact-then-HyperLogLog
// distinct counts), so a dataset profiles the same whatever format it came in. Numbers count as
// integers or decimals, booleans as booleans, non-missing text as text (a JSON string "3" is text:
// only a CSV, which has no types, reads numbers out of text). Where the format declares a column's
// type (Parquet), the declared type is the profile's; else the values decide, by the CSV's rule.
import { Buffer } from 'node:buffer';
import { ColumnState, FALSE_KEY, TRUE_KEY, checkHeader, type ColumnProfile, type ColumnType } from '../csv/profiler.ts';
import { isMissingToken } from '../csv/tokens.ts';
import type { TableBatch, TableField } from './batch.ts';

const EXACT_BUDGET = 1 << 20;
const MAX_EXACT_PER_COLUMN = 16_384;
const MIN_EXACT_PER_COLUMN = 256;

export class TableProfiler {
  private columns: ColumnState[] = [];
  private declared: Array<ColumnType | null> = [];
  private values = new Float64Array(0);
  rows = 0;

  /** Starts (or widens, for JSON Lines keys seen late) the profile to `fields`. */
  fields(fields: TableField[]): void {
    if (this.columns.length === 0) checkHeader(fields.map((f) => f.name), 1);
    const bound = Math.max(MIN_EXACT_PER_COLUMN, Math.min(MAX_EXACT_PER_COLUMN, Math.floor(EXACT_BUDGET / Math.max(1, fields.length))));
    const precision = fields.length <= 1024 ? 14 : 12;
    for (let c = this.columns.length; c < fields.length; c++) {
      const state = new ColumnState(fields[c].name, bound, precision);
      // Rows before the column's first appearance lacked it.
      state.missing = this.rows;
      this.columns.push(state);
      this.declared.push(fields[c].type);
    }
  }

  add(batch: TableBatch): void {
    for (let c = 0; c < this.columns.length; c++) {
      const col = this.columns[c];
      const column = batch.columns[c];
      if (column === undefined) {
        col.missing += batch.length;
        continue;
      }
      if (column.kind === 'numbers') {
        this.numbers(col, column.values, batch.length, this.declared[c] !== 'number');
        continue;
      }
      if (this.values.length < batch.length) this.values = new Float64Array(batch.length);
      const values = this.values;
      let k = 0;
      for (let i = 0; i < batch.length; i++) {
        const v = column.values[i];
        if (v === null) col.missing++;
        else if (typeof v === 'number') {
          if (Number.isInteger(v)) col.integers++;
          else col.decimals++;
          values[k++] = v;
        } else if (typeof v === 'boolean') {
          col.booleans++;
          const key = v ? TRUE_KEY : FALSE_KEY;
          col.distinct.add(key.lo, key.hi);
        } else if (isMissingToken(v)) {
          col.missing++;
        } else {
          col.text = true;
          const bytes = Buffer.from(v, 'utf8');
          col.addText(bytes, 0, bytes.length);
        }
      }
      if (k > 0) col.addValues(values, k);
    }
    this.rows += batch.length;
  }

  private numbers(col: ColumnState, numbers: Float64Array, count: number, integers: boolean): void {
    if (this.values.length < count) this.values = new Float64Array(count);
    const values = this.values;
    let k = 0;
    for (let i = 0; i < count; i++) {
      const v = numbers[i];
      if (v === v) values[k++] = v;
    }
    col.missing += count - k;
    if (integers) col.integers += k;
    else col.decimals += k;
    if (k > 0) col.addValues(values, k);
  }

  profiles(): ColumnProfile[] {
    return this.columns.map((col, c) => col.profile(this.declared[c] ?? col.type()));
  }
}
