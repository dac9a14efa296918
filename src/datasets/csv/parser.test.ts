import { describe, expect, it } from 'vitest';
import { TrainyardError } from '../../errors.ts';
import { CsvParser, FIELD_DEC, FIELD_INT, fieldText, firstInvalidUtf8, normaliseDelimiter, type RecordSink } from './parser.ts';
import { sniffDelimiter } from './sniff.ts';

interface Parsed {
  header: string[];
  rows: string[][];
  lines: number[];
  delimiter: string | undefined;
}

function collect(chunks: Uint8Array[], options: { delimiter?: string; allowHeaderOnly?: boolean; maxRecordBytes?: number } = {}): Parsed {
  const out: Parsed = { header: [], rows: [], lines: [], delimiter: undefined };
  const sink: RecordSink = {
    header(names) {
      out.header = names;
    },
    records(buf, starts, ends, flags, fields, count, lines) {
      for (let r = 0; r < count; r++) {
        const row: string[] = [];
        for (let i = r * fields; i < (r + 1) * fields; i++) row.push(fieldText(buf, starts[i], ends[i], flags[i]));
        out.rows.push(row);
        out.lines.push(lines[r]);
      }
    },
  };
  const parser = new CsvParser(sink, options);
  for (const chunk of chunks) parser.feed(chunk);
  parser.finish();
  out.delimiter = parser.delimiter;
  return out;
}

/** Parses `input` whole, byte by byte, and split in two at every offset; all must agree. */
function parseEverySplit(input: string | Buffer, options: { delimiter?: string; allowHeaderOnly?: boolean } = {}): Parsed {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const whole = collect([bytes], options);
  const single = collect(
    Array.from(bytes, (b) => Buffer.from([b])),
    options,
  );
  expect(single).toEqual(whole);
  for (let at = 1; at < bytes.length; at++) {
    expect(collect([bytes.subarray(0, at), bytes.subarray(at)], options)).toEqual(whole);
  }
  return whole;
}

function failure(run: () => unknown): TrainyardError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TrainyardError);
    return error as TrainyardError;
  }
  throw new Error('expected a TrainyardError');
}

function failsEverySplit(input: string | Buffer, options: { delimiter?: string } = {}): TrainyardError {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const whole = failure(() => collect([bytes], options));
  for (let at = 1; at < bytes.length; at++) {
    const split = failure(() => collect([bytes.subarray(0, at), bytes.subarray(at)], options));
    expect(split.code).toBe(whole.code);
    expect(split.errors).toEqual(whole.errors);
  }
  return whole;
}

describe('CsvParser', () => {
  it('parses plain LF and CRLF files the same way', () => {
    const lf = parseEverySplit('a,b,c\n1,2,3\n4,5,6\n');
    expect(lf.header).toEqual(['a', 'b', 'c']);
    expect(lf.rows).toEqual([['1', '2', '3'], ['4', '5', '6']]);
    expect(lf.lines).toEqual([2, 3]);
    const crlf = parseEverySplit('a,b,c\r\n1,2,3\r\n4,5,6\r\n');
    expect(crlf.rows).toEqual(lf.rows);
    expect(crlf.lines).toEqual([2, 3]);
    const cr = parseEverySplit('a,b\r1,2\r3,4');
    expect(cr.rows).toEqual([['1', '2'], ['3', '4']]);
  });

  it('handles a missing final newline, blank lines and empty cells', () => {
    const parsed = parseEverySplit('a,b,c\n\n1,,3\n\r\n,,\n7,8,9');
    expect(parsed.rows).toEqual([['1', '', '3'], ['', '', ''], ['7', '8', '9']]);
    expect(parsed.lines).toEqual([3, 5, 6]);
  });

  it('handles quoted fields with delimiters, quotes and line breaks', () => {
    const parsed = parseEverySplit('id,text,n\r\n1,"a, b",2\r\n2,"say ""hi""",3\r\n3,"two\r\nlines\nthree",4\r\n4,"",5\r\n5,"x"y,6\r\n');
    expect(parsed.rows).toEqual([
      ['1', 'a, b', '2'],
      ['2', 'say "hi"', '3'],
      ['3', 'two\r\nlines\nthree', '4'],
      ['4', '', '5'],
      ['5', 'xy', '6'],
    ]);
    expect(parsed.lines).toEqual([2, 3, 4, 7, 8]);
  });

  it('strips a UTF-8 BOM and keeps multi-byte characters intact across chunks', () => {
    const parsed = parseEverySplit('\uFEFFnom,ville\nZoë,Zürich\n李,北京\n😀,"é,è"\n');
    expect(parsed.header).toEqual(['nom', 'ville']);
    expect(parsed.rows).toEqual([['Zoë', 'Zürich'], ['李', '北京'], ['😀', 'é,è']]);
  });

  it('sniffs ; TAB and | and accepts an explicit delimiter', () => {
    expect(parseEverySplit('a;b;c\n1,5;2;3\n').rows).toEqual([['1,5', '2', '3']]);
    expect(parseEverySplit('a\tb\n1\t2\n').delimiter).toBe('\t');
    expect(parseEverySplit('a|b\n"x|y"|2\n').rows).toEqual([['x|y', '2']]);
    expect(parseEverySplit('a;b\n1;2\n', { delimiter: ',' }).rows).toEqual([['1;2']]);
    expect(parseEverySplit('one\n1\n2\n').header).toEqual(['one']);
    expect(parseEverySplit('a-b-c\n1--3\n-2.5-x\n', { delimiter: '-' }).rows).toEqual([['1', '', '3'], ['', '2.5', 'x']]);
    expect(parseEverySplit('a.b\n1.5\n', { delimiter: '.' }).rows).toEqual([['1', '5']]);
  });

  it('rejects ragged rows with the line and the counts', () => {
    const error = failsEverySplit('a,b,c\n1,2,3\n"x\ny",2,3\n1,2\n1,2,3\n');
    expect(error.code).toBe('CSV_RAGGED_ROW');
    expect(error.errors).toEqual([{ field: 'file', line: 5, row: 3, message: 'expected 3 fields, found 2' }]);
    const tooMany = failsEverySplit('a,b\n1,2,3\n');
    expect(tooMany.errors[0]).toMatchObject({ line: 2, message: 'expected 2 fields, found 3' });
  });

  it('rejects an unterminated quote with the line where it opened', () => {
    const error = failsEverySplit('a,b\n1,2\n3,"open\nmore\n');
    expect(error.code).toBe('CSV_UNTERMINATED_QUOTE');
    expect(error.errors).toEqual([{ field: 'file', line: 3, message: 'quoted field is never closed' }]);
  });

  it('rejects empty files, header-only files, NUL bytes and invalid UTF-8', () => {
    expect(failure(() => collect([])).code).toBe('EMPTY_FILE');
    expect(failure(() => collect([Buffer.from('\n\r\n')])).code).toBe('EMPTY_FILE');
    expect(failure(() => collect([Buffer.from('\uFEFF')])).code).toBe('EMPTY_FILE');
    expect(failsEverySplit('a,b\n').code).toBe('CSV_HEADER_ONLY');
    expect(collect([Buffer.from('a,b\n')], { allowHeaderOnly: true }).header).toEqual(['a', 'b']);
    const binary = failsEverySplit(Buffer.from('a,b\n1,2\n3,\u0000\n'));
    expect(binary.code).toBe('BINARY_FILE');
    expect(binary.errors[0].line).toBe(3);
    const latin1 = failsEverySplit(Buffer.concat([Buffer.from('name,city\nx,y\nZo'), Buffer.from([0xeb]), Buffer.from(',Paris\n')]));
    expect(latin1.code).toBe('NOT_UTF8');
    expect(latin1.errors).toEqual([{ field: 'file', line: 3, message: 'is not valid UTF-8' }]);
    const truncated = failure(() => collect([Buffer.from('a,b\n1,'), Buffer.from([0xe2, 0x82])]));
    expect(truncated.code).toBe('NOT_UTF8');
  });

  it('parses records longer than a chunk, and bounds the record size', () => {
    const long = 'x'.repeat(200_000);
    const text = `a,b\n"${long}",1\n2,3\n`;
    const bytes = Buffer.from(text);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 1000) chunks.push(bytes.subarray(at, at + 1000));
    expect(collect(chunks).rows).toEqual([[long, '1'], ['2', '3']]);
    const error = failure(() => collect(chunks, { maxRecordBytes: 50_000 }));
    expect(error.code).toBe('CSV_UNTERMINATED_QUOTE');
    expect(error.errors[0].line).toBe(2);
  });

  it('passes a long file in any chunking', () => {
    let text = 'id,name,value\r\n';
    const rows: string[][] = [];
    for (let i = 0; i < 5000; i++) {
      const name = i % 7 === 0 ? `"n,${i}"` : i % 11 === 0 ? `"q""${i}"` : `n${i}`;
      text += `${i},${name},${i * 0.5}\r\n`;
      rows.push([String(i), i % 7 === 0 ? `n,${i}` : i % 11 === 0 ? `q"${i}` : `n${i}`, String(i * 0.5)]);
    }
    const bytes = Buffer.from(text);
    for (const size of [1, 3, 64, 4096, 65536, 100_000]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      const parsed = collect(chunks);
      expect(parsed.rows).toEqual(rows);
      expect(parsed.lines[4999]).toBe(5001);
    }
  });

  it('lets the caller overwrite a chunk as soon as feed() returns', () => {
    // The off-thread profiler and HTTP streams reuse buffers: nothing of a chunk may be read later.
    let text = '\uFEFFid,note,value\n';
    for (let i = 0; i < 3000; i++) text += `${i},${i % 5 === 0 ? `"line\nbreak, ${i}"` : `é${i}`},${i / 4}\n`;
    const bytes = Buffer.from(text);
    const whole = collect([bytes]);
    for (const size of [1, 7, 100, 4096, 70_000]) {
      const scratch = Buffer.alloc(size);
      const out: Parsed = { header: [], rows: [], lines: [], delimiter: undefined };
      const parser = new CsvParser({
        header: (names) => (out.header = names),
        records(buf, starts, ends, flags, fields, count, lines) {
          for (let r = 0; r < count; r++) {
            out.rows.push(Array.from({ length: fields }, (_, f) => fieldText(buf, starts[r * fields + f], ends[r * fields + f], flags[r * fields + f])));
            out.lines.push(lines[r]);
          }
        },
      });
      for (let at = 0; at < bytes.length; at += size) {
        const n = bytes.copy(scratch, 0, at, at + size);
        parser.feed(scratch.subarray(0, n));
        scratch.fill(0x41); // what a reused buffer would hold next
      }
      parser.finish();
      expect({ ...out, delimiter: parser.delimiter }).toEqual(whole);
    }
  });
});

describe('numbers parsed while tokenizing', () => {
  it('equal Number(text) and are flagged integer or decimal; anything else is left unflagged', () => {
    const cells = ['0', '-0', '7', '-42', '007', '3.25', '-0.5', '.5', '-.5', '5.', '123456789012345', '1234567890123456', '0.1', '17.99', '-', '.', '-.', '1e3', '1.2.3', '--1', '+1', ' 1', 'a1', '', '1-2'];
    const line = cells.map((c) => (c === '' ? '' : c)).join(',');
    const header = cells.map((_, k) => `c${k}`).join(',');
    let seen: { flags: number[]; values: number[] } | null = null;
    const parser = new CsvParser(
      {
        header() {},
        records(_buf, _starts, _ends, flags, fields, _count, _lines, values) {
          seen = { flags: Array.from(flags.subarray(0, fields)), values: Array.from(values.subarray(0, fields)) };
        },
      },
      { delimiter: ',' },
    );
    parser.feed(Buffer.from(`${header}\n${line}\n`));
    parser.finish();
    const { flags, values } = seen as unknown as { flags: number[]; values: number[] };
    cells.forEach((cell, k) => {
      // Integers with a leading zero (`007`, `-0`) are left unflagged: FIELD_INT's text is String(value).
      const simple = /^-?(\d+\.?\d*|\.\d+)$/.test(cell) && cell.replace(/[-.]/g, '').length <= 15 && (cell.includes('.') || String(Number(cell)) === cell);
      if (simple) {
        expect(flags[k], cell).toBe(cell.includes('.') ? FIELD_DEC : FIELD_INT);
        expect(Object.is(values[k], Number(cell)), cell).toBe(true);
      } else {
        expect(flags[k], cell).toBe(0);
      }
    });
  });
});

describe('numbers parsed while tokenizing, randomized', () => {
  it('equal Number(text) for 50,000 random decimal literals', () => {
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const texts: string[] = [];
    for (let k = 0; k < 50_000; k++) {
      const shape = k % 4;
      const v = (random() - 0.5) * 10 ** Math.floor(random() * 12);
      texts.push(shape === 0 ? v.toFixed(Math.floor(random() * 10)) : shape === 1 ? String(Math.round(v)) : shape === 2 ? v.toPrecision(1 + Math.floor(random() * 15)) : String(v));
    }
    const got: number[] = [];
    const kinds: number[] = [];
    const parser = new CsvParser({
      header() {},
      records(_buf, _starts, _ends, flags, _fields, count, _lines, values) {
        for (let r = 0; r < count; r++) {
          got.push(values[r]);
          kinds.push(flags[r]);
        }
      },
    });
    parser.feed(Buffer.from(`x\n${texts.join('\n')}\n`));
    parser.finish();
    let checked = 0;
    texts.forEach((text, k) => {
      if (kinds[k] === 0) return;
      checked++;
      if (!Object.is(got[k], Number(text))) throw new Error(`${text}: got ${got[k]}, expected ${Number(text)}`);
    });
    expect(checked).toBeGreaterThan(30_000);
  });
});

describe('sniffDelimiter', () => {
  it('prefers the delimiter that is consistent across lines', () => {
    expect(sniffDelimiter(Buffer.from('a,b;c\n1,2;3\n4,5;6\n'), true)).toBe(',');
    expect(sniffDelimiter(Buffer.from('a;b;c\n"1;2";2;3\n'), true)).toBe(';');
    expect(sniffDelimiter(Buffer.from('single\n1\n'), true)).toBe(',');
    expect(sniffDelimiter(Buffer.from('a|b|c\n1|2\n'), true)).toBe('|');
  });
});

describe('helpers', () => {
  it('normalises delimiters and rejects bad ones', () => {
    expect(normaliseDelimiter('tab')).toBe('\t');
    expect(normaliseDelimiter(';')).toBe(';');
    expect(() => normaliseDelimiter('"')).toThrow(TrainyardError);
    expect(() => normaliseDelimiter('ab')).toThrow(TrainyardError);
    expect(() => normaliseDelimiter('a')).toThrow(TrainyardError);
  });

  it('finds the first invalid UTF-8 byte', () => {
    expect(firstInvalidUtf8(Buffer.from('héllo'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc3]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1); // surrogate
    expect(firstInvalidUtf8(Buffer.from([0xc0, 0x80]))).toBe(0); // overlong
  });
});
