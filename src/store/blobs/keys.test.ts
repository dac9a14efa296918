import { describe, expect, it } from 'vitest';
import { assertSafeKey } from './blob-store.ts';
import { artifactKey, datasetColumnarKey, datasetCsvKey, datasetPrefix, jobLogKey, predictionsKey, trainingAttemptPrefix } from './keys.ts';

describe('blob key layout', () => {
  it('puts each thing where docs/stores.md says, in keys every blob store accepts', () => {
    const keys = {
      [datasetCsvKey('ds_01abc')]: 'datasets/ds_01abc/data.csv',
      [datasetColumnarKey('ds_01abc')]: 'datasets/ds_01abc/columns.bin',
      [artifactKey(trainingAttemptPrefix('churn-mlp', 'job_01xyz', 2), 'model.onnx')]: 'models/churn-mlp/job_01xyz-a2/model.onnx',
      [jobLogKey('job_01xyz')]: 'jobs/job_01xyz/log.txt',
      [predictionsKey('job_01xyz')]: 'jobs/job_01xyz/predictions.csv',
    };
    for (const [built, expected] of Object.entries(keys)) {
      expect(built).toBe(expected);
      expect(() => assertSafeKey(built)).not.toThrow();
    }
  });

  it('keeps a dataset’s blobs under its prefix, so deleting the prefix deletes them all', () => {
    for (const key of [datasetCsvKey('ds_1'), datasetColumnarKey('ds_1')]) expect(key.startsWith(`${datasetPrefix('ds_1')}/`)).toBe(true);
    expect(datasetCsvKey('ds_10').startsWith(`${datasetPrefix('ds_1')}/`)).toBe(false);
  });
});
