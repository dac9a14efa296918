// The CSV engine: streaming tokenizer, cell rules, one-pass profiler and readers.
export { CsvParser, normaliseDelimiter, DELIMITER_NAMES, type RecordSink, type CsvParserOptions } from './parser.ts';
export { CsvProfiler, checkHeader, type ColumnProfile, type ColumnType, type CsvProfile } from './profiler.ts';
export { readCsvBatches, readCsvHeader, readCsvRows, type CsvBatch, type CsvColumnRequest, type CellValue } from './reader.ts';
export { isMissingToken, parseNumberToken, parseBooleanToken } from './tokens.ts';
