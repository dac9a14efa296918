import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_STORES, type MetadataFixture } from '../../test/support/stores.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';
import { timeOrderedId } from '../api/request-id.ts';
import { applyFeedback, insertRecords, type PredictionRecord } from './store.ts';

const records = (count: number, model = 'cancer'): PredictionRecord[] =>
  Array.from({ length: count }, (_, i) => ({
    model_name: model,
    request_id: timeOrderedId(),
    row_index: i % 3,
    version: 1,
    logged_at: new Date(Date.UTC(2026, 11, 4, 5, 0, i)).toISOString(),
    predicted_label: i % 2 ? 'yes' : null,
    predicted_value: i / 7,
  }));

for (const config of METADATA_STORES) {
  describe.skipIf(config.skip)(`prediction records on ${config.name}${config.skip ? ` (skipped: ${config.skip})` : ''}`, () => {
    let fixture: MetadataFixture;
    let store: MetadataStore;
    beforeAll(async () => {
      fixture = await config.create();
      store = await fixture.open();
      await migrateToLatest(store);
    });
    afterAll(() => fixture?.cleanup());

    it('stores every record of a flush whatever its size, each field intact, and a retried flush adds nothing', async () => {
      // 256 + 16 + 16 + 1: every statement shape, and the remainders between them.
      const written = records(289);
      await insertRecords(store, written);
      await insertRecords(store, written.slice(100, 200));
      const rows = await store.db.selectFrom('prediction_records').selectAll().where('model_name', '=', 'cancer').execute();
      expect(rows).toHaveLength(289);
      const byKey = new Map(rows.map((r) => [`${r.request_id}/${r.row_index}`, r]));
      for (const r of written) {
        expect(byKey.get(`${r.request_id}/${r.row_index}`)).toMatchObject({ ...r, predicted_value: expect.closeTo(r.predicted_value, 12), label: null, labelled_at: null });
      }
      expect(await applyFeedback(store, 'cancer', [{ request_id: written[288].request_id, row: written[288].row_index, label: 'yes' }])).toEqual({ unknown: [] });
    });

    it('writes nothing for an empty flush', async () => {
      await insertRecords(store, []);
      expect(await store.db.selectFrom('prediction_records').select('request_id').where('model_name', '=', 'nothing').execute()).toEqual([]);
    });
  });
}
