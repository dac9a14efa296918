// Cell-level rules shared by ingest (profiling), training data preparation and serving: what counts
// as missing, what counts as a number, what counts as a boolean. Each rule exists twice: over bytes
// (the hot path of the CSV engine, no strings created) and over JS strings (JSON inputs, tests).
// The two must agree; tokens.test.ts checks that they do.
//
// Numbers: `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, surrounded by optional
// spaces or tabs. Hex, `Infinity`, `1_000` and the like are not numbers (they stay text). Every
// accepted text parses to exactly `Number(text)`: the fast path uses an integer mantissa of at most
// 15 digits and one multiplication or division by an exact power of ten (correctly
// rounded by IEEE 754), and anything else falls back to `Number()` on the text. A literal that
// overflows to Infinity (`1e309`) is not a number.

const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** Side result of the last parse: whether the text was an integer literal (no point, no exponent). */
export const numberState = { integer: false };

const SPACE = 32;
const TAB = 9;

function isSpace(code: number): boolean {
  return code === SPACE || code === TAB;
}

/**
 * Parses the number in `buf[start, end)`. Returns NaN when the bytes are not a number (a valid
 * number never parses to NaN: the text `NaN` is a missing token, not a number). Sets
 * `numberState.integer`.
 */
export function parseNumberBytes(buf: Uint8Array, start: number, end: number): number {
  // Fast path (small enough to be inlined): -?digits(.digits)? with at most 15 digits.
  let i = start;
  let negative = false;
  if (i < end && buf[i] === 45) {
    negative = true;
    i++;
  }
  const intStart = i;
  let mantissa = 0;
  let d = 0;
  while (i < end && (d = buf[i] - 48) >= 0 && d <= 9) {
    mantissa = mantissa * 10 + d;
    i++;
  }
  const intDigits = i - intStart;
  if (i === end) {
    if (intDigits === 0 || intDigits > 15) return parseNumberSlow(buf, start, end);
    numberState.integer = true;
    return negative ? -mantissa : mantissa;
  }
  if (buf[i] !== 46) return parseNumberSlow(buf, start, end);
  i++;
  const fracStart = i;
  while (i < end && (d = buf[i] - 48) >= 0 && d <= 9) {
    mantissa = mantissa * 10 + d;
    i++;
  }
  const fracDigits = i - fracStart;
  if (i !== end || intDigits + fracDigits === 0 || intDigits + fracDigits > 15) return parseNumberSlow(buf, start, end);
  numberState.integer = false;
  const value = fracDigits === 0 ? mantissa : mantissa / POW10[fracDigits];
  return negative ? -value : value;
}

/** The general case of parseNumberBytes: spaces, `+`, exponents, long mantissas. */
function parseNumberSlow(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  let e = end;
  if (i === e) return NaN;
  if (isSpace(buf[i]) || isSpace(buf[e - 1])) {
    while (i < e && isSpace(buf[i])) i++;
    while (e > i && isSpace(buf[e - 1])) e--;
    if (i === e) return NaN;
  }
  const first = i;
  let negative = false;
  let c = buf[i];
  if (c === 45) {
    negative = true;
    i++;
  } else if (c === 43) {
    i++;
  }
  // Every digit goes into the mantissa; with at most 15 digits in all it is exact (< 2^53).
  let mantissa = 0;
  let exponent = 0;
  let d = 0;
  const intStart = i;
  while (i < e && (d = buf[i] - 48) >= 0 && d <= 9) {
    mantissa = mantissa * 10 + d;
    i++;
  }
  let digits = i - intStart;
  let integer = true;
  if (i < e && buf[i] === 46) {
    integer = false;
    i++;
    const fracStart = i;
    while (i < e && (d = buf[i] - 48) >= 0 && d <= 9) {
      mantissa = mantissa * 10 + d;
      i++;
    }
    exponent = fracStart - i;
    digits += i - fracStart;
  }
  if (digits === 0) return NaN;
  let hard = digits > 15;
  if (i < e) {
    c = buf[i];
    if (c !== 101 && c !== 69) return NaN;
    integer = false;
    i++;
    let expNegative = false;
    if (i < e && (buf[i] === 45 || buf[i] === 43)) {
      expNegative = buf[i] === 45;
      i++;
    }
    if (i === e) return NaN;
    let value = 0;
    while (i < e) {
      d = buf[i] - 48;
      if (d < 0 || d > 9) return NaN;
      if (value < 100000) value = value * 10 + d;
      else hard = true;
      i++;
    }
    exponent += expNegative ? -value : value;
  }
  let result: number;
  if (hard || exponent < -22 || exponent > 22) {
    if (!hard && mantissa === 0) {
      result = 0;
    } else {
      result = Number(asciiString(buf, first, e));
      if (!Number.isFinite(result)) return NaN; // 1e309 overflows: text, not a number
      numberState.integer = integer && Number.isSafeInteger(result);
      return result;
    }
  } else {
    result = exponent === 0 ? mantissa : exponent > 0 ? mantissa * POW10[exponent] : mantissa / POW10[-exponent];
  }
  numberState.integer = integer;
  return negative ? -result : result;
}

function asciiString(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) out += String.fromCharCode(buf[i]);
  return out;
}

/** Whether `buf[start, end)` is a missing token: empty or blank, `NA`, `N/A`, `null`, `NaN` (any case). */
export function isMissingBytes(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  let e = end;
  while (i < e && isSpace(buf[i])) i++;
  while (e > i && isSpace(buf[e - 1])) e--;
  const length = e - i;
  if (length === 0) return true;
  if (length > 4 || length === 1) return false;
  const a = buf[i] | 0x20;
  if (a !== 110) return false; // every token starts with n
  const b = buf[i + 1] | 0x20;
  if (length === 2) return b === 97; // na
  const c = buf[i + 2] | 0x20;
  if (length === 3) return (b === 97 && c === 110) || (buf[i + 1] === 47 && c === 97); // nan, n/a
  return b === 117 && c === 108 && (buf[i + 3] | 0x20) === 108; // null
}

/** 1 for `true`, 0 for `false` (any case, optional surrounding spaces), -1 otherwise. */
export function parseBooleanBytes(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  let e = end;
  while (i < e && isSpace(buf[i])) i++;
  while (e > i && isSpace(buf[e - 1])) e--;
  const length = e - i;
  if (length === 4) {
    return (buf[i] | 0x20) === 116 && (buf[i + 1] | 0x20) === 114 && (buf[i + 2] | 0x20) === 117 && (buf[i + 3] | 0x20) === 101 ? 1 : -1;
  }
  if (length === 5) {
    return (buf[i] | 0x20) === 102 &&
      (buf[i + 1] | 0x20) === 97 &&
      (buf[i + 2] | 0x20) === 108 &&
      (buf[i + 3] | 0x20) === 115 &&
      (buf[i + 4] | 0x20) === 101
      ? 0
      : -1;
  }
  return -1;
}

const MISSING = new Set(['', 'na', 'n/a', 'null', 'nan']);

/** Whether a cell's text means "no value": empty or blank, `NA`, `N/A`, `null`, `NaN` (any case). */
export function isMissingToken(text: string): boolean {
  const trimmed = trimSpaces(text);
  return trimmed.length <= 4 && MISSING.has(trimmed.toLowerCase());
}

/** `true` / `false` (any case) → boolean; anything else → undefined. */
export function parseBooleanToken(text: string): boolean | undefined {
  const lower = trimSpaces(text).toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

/** The number a cell's text denotes, equal to `Number(text)`, or undefined when it is not a number. */
export function parseNumberToken(text: string): number | undefined {
  const length = text.length;
  if (length > 4096) return undefined;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 127) return undefined;
    bytes[i] = code;
  }
  const value = parseNumberBytes(bytes, 0, length);
  return value === value ? value : undefined;
}

function trimSpaces(text: string): string {
  let i = 0;
  let e = text.length;
  while (i < e && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
  while (e > i && (text.charCodeAt(e - 1) === SPACE || text.charCodeAt(e - 1) === TAB)) e--;
  return i === 0 && e === text.length ? text : text.slice(i, e);
}
