// ONNX Runtime sessions cached per model version, bounded by memory (LRU over the models' sizes).
// A session is loaded once (concurrent first requests share the load), warmed with one run so the
// first real request is not slow, and evicted safely: a session in use is released only when its
// last in-flight run finishes.
import * as ort from 'onnxruntime-node';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import { TrainyardError } from '../errors.ts';
import { parseServingManifest, type ServedManifest } from '../models/manifest.ts';
import { createEncoder, type Encoder } from '../models/preprocessing.ts';
import type { ModelVersionRecord } from '../models/registry.ts';
import { artifactKey } from '../store/blobs/keys.ts';

export interface LoadedModel {
  key: string;
  model: string;
  version: number;
  manifest: ServedManifest;
  encoder: Encoder;
  /** Runs the network on `rows` encoded rows; returns the flat output and its width. */
  run(input: Float32Array, rows: number): Promise<{ output: Float32Array; width: number }>;
}

interface Entry {
  loaded: LoadedModel;
  session: ort.InferenceSession;
  bytes: number;
  inFlight: number;
  evicted: boolean;
}

/** What the cache needs of a version: its name for messages, and where its artifacts are. */
export type CachedVersion = Pick<ModelVersionRecord, 'model' | 'version' | 'blob_prefix'>;

// ONNX Runtime's own memory for a small MLP is a few times the file; count that, not the file alone.
const MEMORY_FACTOR = 4;
const MIN_ENTRY_BYTES = 1024 * 1024;

async function readAll(blobs: BlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class ModelCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  private totalBytes = 0;

  constructor(
    private readonly blobs: BlobStore,
    private readonly maxBytes: number,
    private readonly onLoadFailure?: (model: string, error: unknown) => void,
    private readonly threads = 1,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Runs `fn` with the version's loaded model, keeping it from being released meanwhile. */
  async use<T>(version: CachedVersion, fn: (model: LoadedModel) => Promise<T>): Promise<T> {
    const entry = await this.acquire(version);
    entry.inFlight++;
    try {
      return await fn(entry.loaded);
    } finally {
      entry.inFlight--;
      if (entry.evicted && entry.inFlight === 0) void entry.session.release().catch(() => undefined);
    }
  }

  private async acquire(version: CachedVersion): Promise<Entry> {
    const key = version.blob_prefix;
    const cached = this.entries.get(key);
    if (cached) {
      // Refresh recency: Map iteration order is insertion order, so re-insert at the end.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached;
    }
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.load(version).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  private async load(version: CachedVersion): Promise<Entry> {
    const key = version.blob_prefix;
    const label = `${version.model} version ${version.version}`;
    let session: ort.InferenceSession;
    let manifest: ServedManifest;
    let bytes: number;
    try {
      const [onnx, manifestBytes] = await Promise.all([readAll(this.blobs, artifactKey(key, 'model.onnx')), readAll(this.blobs, artifactKey(key, 'manifest.json'))]);
      manifest = parseServingManifest(manifestBytes.toString('utf8'));
      session = await ort.InferenceSession.create(onnx, {
        executionProviders: ['cpu'],
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
      bytes = Math.max(MIN_ENTRY_BYTES, onnx.length * MEMORY_FACTOR);
    } catch (error) {
      this.onLoadFailure?.(version.model, error);
      const reason = error instanceof TrainyardError && error.code === 'NOT_FOUND' ? 'its artifact is missing from the blob store' : `its artifact could not be loaded (${error instanceof Error ? error.message : String(error)})`;
      throw new TrainyardError('MODEL_UNAVAILABLE', `${label} cannot serve: ${reason}`, { cause: error });
    }
    const encoder = createEncoder({ features: manifest.features, width: manifest.input.shape[1] });
    const inputName = manifest.input.name;
    const outputName = manifest.output.name;
    const loaded: LoadedModel = {
      key,
      model: version.model,
      version: version.version,
      manifest,
      encoder,
      async run(input, rows) {
        const feeds = { [inputName]: new ort.Tensor('float32', input, [rows, encoder.width]) };
        const result = await session.run(feeds);
        const tensor = result[outputName];
        const output = tensor.data as Float32Array;
        return { output, width: rows > 0 ? output.length / rows : 0 };
      },
    };
    // Warm-up: the first run allocates and plans; do it before a user waits on it.
    await loaded.run(new Float32Array(encoder.width), 1);
    const entry: Entry = { loaded, session, bytes, inFlight: 0, evicted: false };
    this.entries.set(key, entry);
    this.totalBytes += bytes;
    this.evictOverBudget(key);
    return entry;
  }

  private evictOverBudget(keep: string): void {
    for (const [key, entry] of this.entries) {
      if (this.totalBytes <= this.maxBytes) break;
      if (key === keep) continue;
      this.entries.delete(key);
      this.totalBytes -= entry.bytes;
      entry.evicted = true;
      if (entry.inFlight === 0) void entry.session.release().catch(() => undefined);
    }
  }

  /** Drops a version (e.g. deleted) from the cache. */
  forget(blobPrefix: string): void {
    const entry = this.entries.get(blobPrefix);
    if (!entry) return;
    this.entries.delete(blobPrefix);
    this.totalBytes -= entry.bytes;
    entry.evicted = true;
    if (entry.inFlight === 0) void entry.session.release().catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const key of [...this.entries.keys()]) this.forget(key);
  }
}
