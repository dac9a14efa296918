import { describe, expect, it } from 'vitest';
import { isMissingBytes, isMissingToken, numberState, parseBooleanBytes, parseBooleanToken, parseNumberBytes, parseNumberToken } from './tokens.ts';

const bytes = (text: string) => Buffer.from(text, 'utf8');

function parse(text: string): number {
  const b = bytes(text);
  return parseNumberBytes(b, 0, b.length);
}

describe('parseNumberToken / parseNumberBytes', () => {
  it('parses the usual literals exactly like Number()', () => {
    const cases = ['0', '-0', '+0', '1', '-1', '+7', '42', '3.14', '-2.5', '.5', '-.5', '5.', '1e3', '1E3', '1e-3', '-1.5e+10', '007', '0.000123',
      '123456789012345', '1234567890123456', '12345678901234567890', '9007199254740993', '0.1', '0.2', '0.30000000000000004', '1e22', '1e23', '1e308',
      '2.2250738585072014e-308', '4.9e-324', '1e-400', '17.99', '0.07871', '1001', ' 12 ', '\t3.5', '1.7976931348623157e308', '123.456e-7', '0e5', '000.000'];
    for (const text of cases) {
      expect(parseNumberToken(text), text).toBe(Number(text));
      expect(Object.is(parse(text), Number(text)), text).toBe(true);
    }
  });

  it('rejects what is not a decimal number', () => {
    for (const text of ['', ' ', 'abc', '1a', 'a1', '0x10', 'Infinity', '-Infinity', 'NaN', '1_000', '1,5', '--1', '+-1', '1e', '1e+', '.', '-', '+', 'e5', '1.2.3', '1 2', '1e309', '-1e400', '١٢', '1e5.5']) {
      expect(parseNumberToken(text), text).toBeUndefined();
      expect(Number.isNaN(parse(text)), text).toBe(true);
    }
  });

  it('equals Number(text) for a million random numbers of every shape', () => {
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let k = 0; k < 200_000; k++) {
      const shape = k % 5;
      let text: string;
      if (shape === 0) text = String((random() - 0.5) * 10 ** Math.floor(random() * 40 - 20));
      else if (shape === 1) text = (random() * 1000).toFixed(Math.floor(random() * 12));
      else if (shape === 2) text = String(Math.floor((random() - 0.5) * 2 ** 53));
      else if (shape === 3) text = `${Math.floor(random() * 1e6)}.${Math.floor(random() * 1e9)}e${Math.floor(random() * 60 - 30)}`;
      else text = (random() * 10 ** Math.floor(random() * 30)).toPrecision(1 + Math.floor(random() * 20));
      const expected = Number(text);
      const got = parse(text);
      if (!Object.is(got, expected)) throw new Error(`${text}: got ${got}, expected ${expected}`);
    }
  });

  it('reports integer literals', () => {
    parse('42');
    expect(numberState.integer).toBe(true);
    parse('-7');
    expect(numberState.integer).toBe(true);
    parse('4.0');
    expect(numberState.integer).toBe(false);
    parse('1e3');
    expect(numberState.integer).toBe(false);
    parse('12345678901234567890');
    expect(numberState.integer).toBe(false); // beyond 2^53: not an exact integer
  });
});

describe('missing and boolean tokens', () => {
  it('recognises NA, N/A, null, NaN and empty in any case', () => {
    for (const text of ['', ' ', 'NA', 'na', 'N/A', 'n/a', 'null', 'NULL', 'Null', 'NaN', 'nan', 'NAN', ' NA ']) {
      expect(isMissingToken(text), text).toBe(true);
      const b = bytes(text);
      expect(isMissingBytes(b, 0, b.length), text).toBe(true);
    }
    for (const text of ['0', 'N', 'n', 'none', 'nil', 'NAs', 'N/AA', 'nulls', '-', 'n/b', 'nbn']) {
      expect(isMissingToken(text), text).toBe(false);
      const b = bytes(text);
      expect(isMissingBytes(b, 0, b.length), text).toBe(false);
    }
  });

  it('recognises true and false in any case', () => {
    for (const [text, value] of [['true', 1], ['TRUE', 1], ['True', 1], ['false', 0], ['FALSE', 0], [' false ', 0], ['yes', -1], ['1', -1], ['truth', -1], ['fals', -1]] as const) {
      const b = bytes(text);
      expect(parseBooleanBytes(b, 0, b.length), text).toBe(value);
      expect(parseBooleanToken(text), text).toBe(value === 1 ? true : value === 0 ? false : undefined);
    }
  });
});
