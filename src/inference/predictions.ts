// From the network's output to what users read: labels with probabilities for classifiers, values
// for regression, and the summary statistics batch jobs report.
import type { ServedManifest } from '../models/manifest.ts';

export type Prediction =
  | { label: string; probability: number; probabilities: Record<string, number> }
  | { value: number };

/** Index of the predicted class of row `i` (binary: by threshold on the positive probability). */
export function predictedClass(manifest: ServedManifest, output: Float32Array, width: number, i: number, threshold: number): number {
  if (manifest.task === 'binary_classification') return output[i] >= threshold ? 1 : 0;
  let best = 0;
  for (let k = 1; k < width; k++) if (output[i * width + k] > output[i * width + best]) best = k;
  return best;
}

export function formatPredictions(manifest: ServedManifest, output: Float32Array, width: number, rows: number, threshold: number): Prediction[] {
  const predictions: Prediction[] = new Array(rows);
  const target = manifest.target;
  if (target.kind === 'numeric') {
    for (let i = 0; i < rows; i++) predictions[i] = { value: output[i] };
    return predictions;
  }
  const classes = target.classes;
  for (let i = 0; i < rows; i++) {
    const probabilities: Record<string, number> = {};
    if (manifest.task === 'binary_classification') {
      probabilities[classes[0]] = 1 - output[i];
      probabilities[classes[1]] = output[i];
    } else {
      for (let k = 0; k < width; k++) probabilities[classes[k]] = output[i * width + k];
    }
    const label = classes[predictedClass(manifest, output, width, i, threshold)];
    predictions[i] = { label, probability: probabilities[label], probabilities };
  }
  return predictions;
}

/** A number as JSON.stringify writes it (non-finite numbers become null). */
const jsonNumber = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');

/**
 * The JSON text of formatPredictions(…) (byte for byte what JSON.stringify makes of it), written
 * directly: no object per row, labels and keys escaped once per class.
 */
export function predictionsJson(manifest: ServedManifest, output: Float32Array, width: number, rows: number, threshold: number): string {
  const target = manifest.target;
  let text = '[';
  if (target.kind === 'numeric') {
    for (let i = 0; i < rows; i++) text += `${i ? ',' : ''}{"value":${jsonNumber(output[i])}}`;
    return text + ']';
  }
  const classes = target.classes;
  const heads = classes.map((c) => `{"label":${JSON.stringify(c)},"probability":`);
  // The probabilities' keys in the order JSON.stringify lists an object's keys (integer-like first).
  const byKey: Record<string, number> = {};
  classes.forEach((c, k) => (byKey[c] = k));
  const order = Object.keys(byKey).map((key) => byKey[key]);
  const keys = classes.map((c) => `${JSON.stringify(c)}:`);
  // Each probability is formatted once (the label's is written twice).
  const texts = new Array<string>(classes.length);
  for (let i = 0; i < rows; i++) {
    if (manifest.task === 'binary_classification') {
      texts[0] = jsonNumber(1 - output[i]);
      texts[1] = jsonNumber(output[i]);
    } else {
      for (let k = 0; k < width; k++) texts[k] = jsonNumber(output[i * width + k]);
    }
    const label = predictedClass(manifest, output, width, i, threshold);
    text += `${i ? ',' : ''}${heads[label]}${texts[label]},"probabilities":{`;
    for (let o = 0; o < order.length; o++) text += `${o ? ',' : ''}${keys[order[o]]}${texts[order[o]]}`;
    text += '}}';
  }
  return text + ']';
}

export interface InferenceStats {
  rows: number;
  threshold?: number;
  by_label?: Record<string, number>;
  positive_label?: string;
  positive_count?: number;
  positive_rate?: number;
  mean?: number;
  std?: number;
  min?: number;
  max?: number;
}

/** Accumulates batch-inference statistics in constant memory. */
export class StatsAccumulator {
  private rows = 0;
  private readonly byLabel = new Map<string, number>();
  private mean = 0;
  private m2 = 0;
  private min = Infinity;
  private max = -Infinity;

  constructor(
    private readonly manifest: ServedManifest,
    private readonly threshold: number,
  ) {
    if (manifest.target.kind === 'label') for (const c of manifest.target.classes) this.byLabel.set(c, 0);
  }

  add(output: Float32Array, width: number, rows: number): void {
    const target = this.manifest.target;
    for (let i = 0; i < rows; i++) {
      this.rows++;
      if (target.kind === 'label') {
        const label = target.classes[predictedClass(this.manifest, output, width, i, this.threshold)];
        this.byLabel.set(label, (this.byLabel.get(label) ?? 0) + 1);
      } else {
        const v = output[i];
        const d = v - this.mean;
        this.mean += d / this.rows;
        this.m2 += d * (v - this.mean);
        if (v < this.min) this.min = v;
        if (v > this.max) this.max = v;
      }
    }
  }

  result(): InferenceStats {
    const target = this.manifest.target;
    if (target.kind === 'numeric') {
      return this.rows === 0
        ? { rows: 0 }
        : { rows: this.rows, mean: this.mean, std: Math.sqrt(this.m2 / this.rows), min: this.min, max: this.max };
    }
    const stats: InferenceStats = { rows: this.rows, by_label: Object.fromEntries(this.byLabel) };
    if (this.manifest.task === 'binary_classification') {
      const positive = target.classes[1];
      const count = this.byLabel.get(positive) ?? 0;
      Object.assign(stats, { threshold: this.threshold, positive_label: positive, positive_count: count, positive_rate: this.rows ? count / this.rows : 0 });
    }
    return stats;
  }
}
