import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlobStore } from '../store/blobs/file-blob-store.ts';
import { prepareTrainingData, shuffledIndices } from './prepare.ts';
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

describe('shuffledIndices', () => {
  it('is a permutation, the same for the same seed and different for another', () => {
    const a = shuffledIndices(1000, 42);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(shuffledIndices(1000, 42)).toEqual(a);
    expect(shuffledIndices(1000, 43)).not.toEqual(a);
  });
});

describe('prepareTrainingData', () => {
  it('splits deterministically by seed, leaves out rows without a target, and writes tensors the trainer reads', async () => {
    const { root, blobs } = await setup(CSV);
    const prepare = async (jobDir: string, seed: number) =>
      prepareTrainingData({ blobs, blobKey: 'data.csv', delimiter: ',', rowCount: 100, columns, task: 'binary_classification', target: 'label', features: ['a', 'b'], maxCategories: 10, validationSplit: 0.2, seed, jobDir });
    const first = await prepare(root, 1);
    expect(first).toMatchObject({ trainRows: 79, valRows: 20, droppedMissingTarget: 1, inputDim: 2, outputDim: 1 });
    expect(first.target).toEqual({ name: 'label', kind: 'label', classes: ['no', 'yes'] });
    const x = readFloat32Npy(await readFile(join(root, 'train_x.npy')));
    expect(x.shape).toEqual([79, 2]);
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
