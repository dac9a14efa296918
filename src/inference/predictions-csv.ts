// The predictions CSV a batch inference job writes: one line per input row, bytes written straight
// into a Buffer per batch (no per-row strings). The network's outputs are float32, so each number is
// printed with the shortest decimal text that reads back to the same float32
// (Math.fround(Number(text)) === value, at most 9 significant digits), in JavaScript's number
// notation (0.25, 1.5e-7, NaN). Labels are quoted when they need it (RFC 4180).
import type { ServedManifest } from '../models/manifest.ts';
import { predictedClass } from './predictions.ts';

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The header line: `row,value` for regression, else `row,label,probability,p_<class>…`. */
export function predictionsCsvHeader(manifest: ServedManifest): string {
  const target = manifest.target;
  if (target.kind === 'numeric') return 'row,value\n';
  return ['row', 'label', 'probability', ...target.classes.map((c) => `p_${c}`)].map(csvField).join(',') + '\n';
}

// Exact powers of ten: an integer below 2^53 times or divided by one of these is the correctly
// rounded double of the decimal it stands for (Clinger's fast path), as Number(text) would give.
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
// The longest text a float32 prints as: "-1.2345678e-38" (14 bytes); the slow path can give
// subnormals such as "-1.4012985e-45". NaN/Infinity are shorter.
const MAX_NUMBER_BYTES = 16;
const DIGITS = new Uint8Array(12);

/**
 * The same digits through toPrecision, for magnitudes outside the fast path's exact powers of ten:
 * from 9 significant digits down while the text still reads back (see writeFloat32).
 */
function slowShortest(value: number): string {
  let digits = 9;
  while (digits > 1 && Math.fround(Number(value.toPrecision(digits - 1))) === value) digits--;
  return String(Number(value.toPrecision(digits)));
}

/** magnitude × 10^scale rounded half up (as toPrecision rounds); |scale| <= 22. */
function roundScaled(magnitude: number, scale: number): number {
  return scale >= 0 ? Math.round(magnitude * POW10[scale]) : Math.round(magnitude / POW10[-scale]);
}

/** Whether n × 10^-scale, read as a double (exactly: Clinger's fast path), rounds to `target` as a float32. */
function readsBack(n: number, scale: number, target: number): boolean {
  return Math.fround(scale >= 0 ? n / POW10[scale] : n * POW10[-scale]) === target;
}

/**
 * Writes `value` (a float32, widened) at `at` and returns the position after it. The digits are the
 * fewest significant digits (1…9) whose correctly rounded decimal reads back to the same float32.
 */
export function writeFloat32(buffer: Buffer, at: number, value: number): number {
  if (value === 0) {
    buffer[at] = 0x30; // "0" (also for -0, as String(-0) gives)
    return at + 1;
  }
  if (!Number.isFinite(value)) return at + buffer.write(String(value), at, 'latin1');
  let magnitude = value;
  if (value < 0) {
    buffer[at++] = 0x2d; // "-"
    magnitude = -value;
  }
  // Decimal exponent: 10^d <= magnitude < 10^(d+1).
  let d = Math.floor(Math.log10(magnitude));
  if (!(d >= -13 && d <= 13)) return at + buffer.write(slowShortest(magnitude), at, 'latin1');
  if (d >= 0 ? magnitude < POW10[d] : magnitude * POW10[-d] < 1) d--; // log10 rounding at powers of ten
  else if (d + 1 >= 0 ? magnitude >= POW10[d + 1] : magnitude * POW10[-d - 1] >= 1) d++;
  const target = Math.fround(magnitude);
  // Nine significant digits always read back; then drop digits while the shorter rounding still
  // does. (The nearest k-digit decimal is never closer than the nearest (k+1)-digit one, so the
  // first that fails ends the search.)
  let scale = 8 - d; // value ≈ n × 10^-scale
  let n = roundScaled(magnitude, scale);
  if (!readsBack(n, scale, target)) return at + buffer.write(slowShortest(magnitude), at, 'latin1');
  for (let k = 8; k >= 1; k--) {
    const shorter = roundScaled(magnitude, scale - 1);
    if (shorter === 0 || !readsBack(shorter, scale - 1, target)) break;
    n = shorter;
    scale--;
  }
  while (n % 10 === 0) {
    n /= 10;
    scale--;
  }
  // n's digits, most significant first.
  let length = 0;
  for (let rest = n; rest > 0; rest = (rest / 10) | 0) DIGITS[length++] = 0x30 + (rest % 10); // n < 2^31
  // The number is 0.DIGITS × 10^point, written the way Number.prototype.toString writes it.
  const point = length - scale;
  if (point > 21 || point < -5) {
    buffer[at++] = DIGITS[length - 1];
    if (length > 1) {
      buffer[at++] = 0x2e;
      for (let i = length - 2; i >= 0; i--) buffer[at++] = DIGITS[i];
    }
    buffer[at++] = 0x65; // "e"
    const exponent = point - 1;
    buffer[at++] = exponent < 0 ? 0x2d : 0x2b;
    return at + buffer.write(String(Math.abs(exponent)), at, 'latin1');
  }
  if (point <= 0) {
    buffer[at++] = 0x30;
    buffer[at++] = 0x2e;
    for (let i = point; i < 0; i++) buffer[at++] = 0x30;
    for (let i = length - 1; i >= 0; i--) buffer[at++] = DIGITS[i];
    return at;
  }
  for (let i = length - 1, p = 0; i >= 0; i--, p++) {
    if (p === point) buffer[at++] = 0x2e;
    buffer[at++] = DIGITS[i];
  }
  for (let p = length; p < point; p++) buffer[at++] = 0x30;
  return at;
}

/** Writes a non-negative integer (a row number) at `at`; returns the position after it. */
function writeInteger(buffer: Buffer, at: number, value: number): number {
  let length = 0;
  for (let rest = value; ; rest = Math.floor(rest / 10)) {
    DIGITS[length++] = 0x30 + (rest % 10);
    if (rest < 10) break;
  }
  for (let i = length - 1; i >= 0; i--) buffer[at++] = DIGITS[i];
  return at;
}

/** Formats batches of network output as lines of the predictions CSV. */
export class PredictionsCsvWriter {
  private readonly labels: Buffer[];
  private readonly lineBytes: number;

  constructor(
    private readonly manifest: ServedManifest,
    private readonly threshold: number,
  ) {
    const target = manifest.target;
    this.labels = target.kind === 'label' ? target.classes.map((c) => Buffer.from(csvField(c))) : [];
    const classes = target.kind === 'label' ? target.classes.length : 0;
    const longestLabel = Math.max(0, ...this.labels.map((l) => l.length));
    // row number, label, probability and one per class (or the value), separators and newline.
    this.lineBytes = 17 + longestLabel + (classes + 2) * (MAX_NUMBER_BYTES + 1) + 1;
  }

  header(): Buffer {
    return Buffer.from(predictionsCsvHeader(this.manifest));
  }

  /** Lines for `rows` rows of `output` (`width` values per row); `firstRow` is 0-based (lines say row + 1). */
  lines(output: Float32Array, width: number, rows: number, firstRow: number): Buffer {
    const buffer = Buffer.allocUnsafe(rows * this.lineBytes);
    const { manifest, threshold, labels } = this;
    const binary = manifest.task === 'binary_classification';
    const numeric = manifest.target.kind === 'numeric';
    let at = 0;
    for (let i = 0; i < rows; i++) {
      at = writeInteger(buffer, at, firstRow + i + 1);
      buffer[at++] = 0x2c;
      if (numeric) {
        at = writeFloat32(buffer, at, output[i]);
        buffer[at++] = 0x0a;
        continue;
      }
      const k = predictedClass(manifest, output, width, i, threshold);
      at += labels[k].copy(buffer, at);
      buffer[at++] = 0x2c;
      // The label's probability is printed once and its bytes copied where its column comes again.
      const start = at;
      if (binary) {
        const p = output[i];
        const q = Math.fround(1 - p);
        at = writeFloat32(buffer, at, k === 1 ? p : q);
        const end = at;
        buffer[at++] = 0x2c;
        if (k === 0) {
          for (let b = start; b < end; b++) buffer[at++] = buffer[b];
        } else at = writeFloat32(buffer, at, q);
        buffer[at++] = 0x2c;
        if (k === 1) {
          for (let b = start; b < end; b++) buffer[at++] = buffer[b];
        } else at = writeFloat32(buffer, at, p);
      } else {
        const row = i * width;
        at = writeFloat32(buffer, at, output[row + k]);
        const end = at;
        for (let c = 0; c < width; c++) {
          buffer[at++] = 0x2c;
          if (c === k) {
            for (let b = start; b < end; b++) buffer[at++] = buffer[b];
          } else at = writeFloat32(buffer, at, output[row + c]);
        }
      }
      buffer[at++] = 0x0a;
    }
    return buffer.subarray(0, at);
  }
}
