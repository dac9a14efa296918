import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlobStore } from '../store/blobs/file-blob-store.ts';
import { prepareTrainingData, splitDraw } from './prepare.ts';
import { fitPreprocessing } from '../models/preprocessing.ts';
import { readFloat32Npy } from './npy.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function setup(csv: string) {
  const root = await mkdtemp(join(tmpdir(), 'prepare-'));
  dirs.push(root);
  const blobs = new FileBlobStore(join(root, 'blobs'));
  await blobs.put('data.csv', csv);
  return { root, blobs };
}

const CSV = ['a,b,label', ...Array.from({ length: 100 }, (_, i) => `${i},${i % 3 === 0 ? '' : i * 2},${i === 5 ? '' : i % 2 ? 'yes' : 'no'}`)].join('\n') + '\n';
const columns = [
  { name: 'a', type: 'integer' },
  { name: 'b', type: 'integer' },
  { name: 'label', type: 'string' },
];

describe('splitDraw', () => {
  it('is a uniform draw per row, the same for the same seed and different for another', () => {
    const draws = Array.from({ length: 100_000 }, (_, row) => splitDraw(42, row));
    expect(draws.every((d) => d >= 0 && d < 1)).toBe(true);
    expect(draws.filter((d) => d < 0.2).length / draws.length).toBeCloseTo(0.2, 2);
    expect(splitDraw(42, 12345)).toBe(draws[12345]);
    expect(Array.from({ length: 1000 }, (_, row) => splitDraw(43, row) < 0.2)).not.toEqual(draws.slice(0, 1000).map((d) => d < 0.2));
  });
});

describe('prepareTrainingData', () => {
  it('splits deterministically by seed, leaves out rows without a target, and writes tensors the trainer reads', async () => {
    const { root, blobs } = await setup(CSV);
    const prepare = async (jobDir: string, seed: number) =>
      prepareTrainingData({ blobs, blobKey: 'data.csv', delimiter: ',', rowCount: 100, columns, task: 'binary_classification', target: 'label', features: ['a', 'b'], maxCategories: 10, validationSplit: 0.2, seed, jobDir });
    const first = await prepare(root, 1);
    expect(first).toMatchObject({ trainRows: 82, valRows: 17, droppedMissingTarget: 1, inputDim: 2, outputDim: 1 });
    expect(first.target).toEqual({ name: 'label', kind: 'label', classes: ['no', 'yes'] });
    const x = readFloat32Npy(await readFile(join(root, 'train_x.npy')));
    expect(x.shape).toEqual([82, 2]);
    // Missing b values were imputed with the training mean, so no NaN reaches the trainer.
    expect(x.data.every((v) => Number.isFinite(v))).toBe(true);

    const again = join(root, 'again');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(again);
    await prepare(again, 1);
    expect(await readFile(join(again, 'train_x.npy'))).toEqual(await readFile(join(root, 'train_x.npy')));
  });

  it('refuses a binary task on a target with three values', async () => {
    const { root, blobs } = await setup('x,y\n1,a\n2,b\n3,c\n4,a\n');
    await expect(
      prepareTrainingData({ blobs, blobKey: 'data.csv', delimiter: ',', rowCount: 4, columns: [{ name: 'x', type: 'integer' }, { name: 'y', type: 'string' }], task: 'binary_classification', target: 'y', features: ['x'], maxCategories: 10, validationSplit: 0.25, seed: 1, jobDir: root }),
    ).rejects.toThrow(/exactly 2 distinct values/);
  });
});

describe('prepareTrainingData in chunks', () => {
  const rows = Array.from({ length: 1000 }, (_, i) => ({ x: Math.sin(i) * 100, c: ['red', 'green', 'blue', ''][i % 4], y: i % 7 === 0 ? '' : (i * 13) % 5 }));
  const csv = ['x,c,y', ...rows.map((r) => `${r.x},${r.c},${r.y}`)].join('\n') + '\n';
  const cols = [
    { name: 'x', type: 'number' },
    { name: 'c', type: 'string' },
    { name: 'y', type: 'number' },
  ];

  it('writes the same tensors and fits the same preprocessing whatever the chunk size, as fitting all training rows at once would', async () => {
    const { root, blobs } = await setup(csv);
    const run = async (batchRows: number) => {
      const jobDir = join(root, String(batchRows));
      const { mkdir } = await import('node:fs/promises');
      await mkdir(jobDir);
      const prepared = await prepareTrainingData({ blobs, blobKey: 'data.csv', delimiter: ',', rowCount: 1000, columns: cols, task: 'regression', target: 'y', features: ['x', 'c'], maxCategories: 10, validationSplit: 0.25, seed: 3, jobDir, batchRows });
      return { prepared, files: await Promise.all(['train_x', 'train_y', 'val_x', 'val_y'].map((f) => readFile(join(jobDir, `${f}.npy`)))) };
    };
    const small = await run(7);
    const large = await run(4096);
    expect(small.files).toEqual(large.files);
    expect(small.prepared).toEqual(large.prepared);

    // The split is the per-row draw; the fit is the one-shot fit on exactly those training rows.
    const withTarget = rows.map((r, i) => ({ ...r, i })).filter((r) => r.y !== '');
    const train = withTarget.filter((r) => !(splitDraw(3, r.i) < 0.25));
    expect(small.prepared).toMatchObject({ trainRows: train.length, valRows: withTarget.length - train.length, droppedMissingTarget: 1000 - withTarget.length });
    const x = Float64Array.from(rows, (r) => r.x);
    const c = rows.map((r) => (r.c === '' ? null : r.c));
    expect(small.prepared.preprocessing).toEqual(
      fitPreprocessing([{ name: 'x', kind: 'numeric', values: x }, { name: 'c', kind: 'categorical', values: c }], train.map((r) => r.i), 10),
    );
    const y = readFloat32Npy(small.files[1]);
    expect(Array.from(y.data)).toEqual(train.map((r) => Math.fround(Number(r.y))));
  });

  it('keeps one validation row when the draw gives a tiny dataset none', async () => {
    const { root, blobs } = await setup('x,y\n1,a\n2,b\n3,a\n');
    const prepared = await prepareTrainingData({ blobs, blobKey: 'data.csv', delimiter: ',', rowCount: 3, columns: [{ name: 'x', type: 'integer' }, { name: 'y', type: 'string' }], task: 'binary_classification', target: 'y', features: ['x'], maxCategories: 10, validationSplit: 0.01, seed: 1, jobDir: root });
    expect(prepared).toMatchObject({ trainRows: 2, valRows: 1 });
  });
});
