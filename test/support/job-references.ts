// The dataset and model rows a job refers to: createJob inserts a job only while both exist, so a
// test that queues jobs directly (not through the API) makes them first.
import type { Db } from '../../src/jobs/jobs.ts';

export async function insertJobReferences(db: Db, refs: { datasetId?: string; model?: string }): Promise<void> {
  const now = new Date().toISOString();
  if (refs.datasetId) {
    await db
      .insertInto('datasets')
      .values({ id: refs.datasetId, name: refs.datasetId, version: 1, status: 'ready', format: 'csv', delimiter: ',', size_bytes: 1, sha256: 'a'.repeat(64), row_count: 1, columns_json: '[]', blob_key: `datasets/${refs.datasetId}`, columnar_json: null, created_at: now })
      .execute();
  }
  if (refs.model) {
    await db.insertInto('models').values({ id: `mdl_${refs.model}`, name: refs.model, description: '', spec_json: '{}', created_at: now }).execute();
  }
}
