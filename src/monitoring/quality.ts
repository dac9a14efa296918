// Live quality of a version: its logged predictions that received feedback, scored against the true
// labels. Classifiers: accuracy, F1 (binary: of the positive class; multiclass: macro) and, for
// binary models, ROC AUC; regression: RMSE, MAE and R².
import type { LabelledPrediction } from './store.ts';

export type QualityMetrics = Record<string, number | null>;

export function liveQuality(task: string, classes: string[] | undefined, rows: readonly LabelledPrediction[]): QualityMetrics {
  if (rows.length === 0) return {};
  if (task === 'regression') return regressionMetrics(rows);
  const correct = rows.filter((r) => r.predicted_label === r.label).length;
  const metrics: QualityMetrics = { accuracy: correct / rows.length };
  const labels = classes ?? [...new Set(rows.flatMap((r) => [r.label, r.predicted_label ?? '']))];
  if (task === 'binary_classification' && labels.length === 2) {
    const positive = labels[1];
    metrics.f1 = f1(rows, positive);
    metrics.roc_auc = rocAuc(rows.map((r) => ({ score: r.predicted_value, positive: r.label === positive })));
  } else {
    const scores = labels.map((label) => f1(rows, label)).filter((x): x is number => x !== null);
    metrics.f1 = scores.length > 0 ? scores.reduce((s, x) => s + x, 0) / scores.length : null;
  }
  return metrics;
}

function f1(rows: readonly LabelledPrediction[], positive: string): number | null {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const r of rows) {
    const predicted = r.predicted_label === positive;
    const actual = r.label === positive;
    if (predicted && actual) tp++;
    else if (predicted) fp++;
    else if (actual) fn++;
  }
  return tp + fp + fn === 0 ? null : (2 * tp) / (2 * tp + fp + fn);
}

/** Mann–Whitney form of ROC AUC, ties counted half; null when one class is absent. */
export function rocAuc(points: ReadonlyArray<{ score: number; positive: boolean }>): number | null {
  const sorted = [...points].sort((a, b) => a.score - b.score);
  const positives = sorted.filter((p) => p.positive).length;
  const negatives = sorted.length - positives;
  if (positives === 0 || negatives === 0) return null;
  let rankSum = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j].score === sorted[i].score) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (sorted[k].positive) rankSum += averageRank;
    i = j;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

function regressionMetrics(rows: readonly LabelledPrediction[]): QualityMetrics {
  const actual = rows.map((r) => Number(r.label));
  const mean = actual.reduce((s, x) => s + x, 0) / actual.length;
  let se = 0;
  let ae = 0;
  let tot = 0;
  rows.forEach((r, i) => {
    const error = r.predicted_value - actual[i];
    se += error * error;
    ae += Math.abs(error);
    tot += (actual[i] - mean) ** 2;
  });
  return { rmse: Math.sqrt(se / rows.length), mae: ae / rows.length, r2: tot > 0 ? 1 - se / tot : null };
}
