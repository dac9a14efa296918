// The version's drift baseline (src/monitoring/baseline.ts), written at publish time next to
// manifest.json: the training split's feature histograms (counted by preparation) and the histogram
// of the trained model's outputs on (up to PREDICTION_SAMPLE_ROWS of) the validation split, run
// through the exported ONNX model exactly as serving runs it.
import { open } from 'node:fs/promises';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import { ModelCache } from '../inference/model-cache.ts';
import { fitPredictionBaseline, type DriftBaseline, type FeatureBaseline } from '../monitoring/baseline.ts';
import { BASELINE_ARTIFACT } from '../monitoring/baseline-artifact.ts';
import { artifactKey } from '../store/blobs/keys.ts';

const PREDICTION_SAMPLE_ROWS = 20_000;

/** The first `maxRows` rows of a float32 [rows, width] .npy (the validation rows are a random subset already). */
export async function readNpyRows(path: string, maxRows: number): Promise<{ rows: number; width: number; data: Float32Array }> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(12);
    await file.read(head, 0, 12, 0);
    if (head.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path} is not an .npy file`);
    const headerStart = head[6] === 1 ? 10 : 12;
    const headerLength = head[6] === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
    const header = Buffer.alloc(headerLength);
    await file.read(header, 0, headerLength, headerStart);
    const shape = (/'shape': \(([^)]*)\)/.exec(header.toString('latin1'))?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    const [total, width = 1] = shape;
    const rows = Math.min(total ?? 0, maxRows);
    const data = new Float32Array(rows * width);
    if (data.byteLength > 0) await file.read(new Uint8Array(data.buffer), 0, data.byteLength, headerStart + headerLength);
    return { rows, width, data };
  } finally {
    await file.close();
  }
}

export async function publishDriftBaseline(input: {
  blobs: BlobStore;
  /** The version's blob prefix, with model.onnx and manifest.json already stored. */
  prefix: string;
  model: string;
  features: { rows: number; features: FeatureBaseline[] };
  task: string;
  classes: string[] | undefined;
  /** The encoded validation split (val_x.npy). */
  validationPath: string;
  threads: number;
}): Promise<{ bytes: number; text: string }> {
  const validation = await readNpyRows(input.validationPath, PREDICTION_SAMPLE_ROWS);
  let prediction: DriftBaseline['prediction'] = null;
  if (validation.rows > 0) {
    const cache = new ModelCache(input.blobs, Number.MAX_SAFE_INTEGER, undefined, input.threads);
    try {
      const version = { model: input.model, version: 0, blob_prefix: input.prefix };
      prediction = await cache.use(version, async (loaded) => {
        const { output, width } = await loaded.run(validation.data, validation.rows);
        return fitPredictionBaseline(input.task, input.classes, output, width, validation.rows);
      });
    } finally {
      await cache.close();
    }
  }
  const baseline: DriftBaseline = { format_version: 1, rows: input.features.rows, features: input.features.features, prediction };
  const text = JSON.stringify(baseline);
  await input.blobs.put(artifactKey(input.prefix, BASELINE_ARTIFACT), text, { contentType: 'application/json' });
  return { bytes: Buffer.byteLength(text), text };
}
