// Jobs name their dataset by id (`ds_…`), by name (its newest version) or by `name@version`.
import type { Kysely } from 'kysely';
import type { Database } from '../store/metadata/schema.ts';
import { TrainyardError } from '../errors.ts';
import type { DatasetRow } from './rows.ts';

export async function resolveDataset(db: Kysely<Database>, reference: string, field = 'dataset'): Promise<DatasetRow> {
  const at = reference.lastIndexOf('@');
  let query = db.selectFrom('datasets').selectAll();
  if (/^ds_[0-9a-z]+$/.test(reference)) query = query.where('id', '=', reference);
  else if (at > 0 && /^\d+$/.test(reference.slice(at + 1))) {
    query = query.where('name', '=', reference.slice(0, at)).where('version', '=', Number(reference.slice(at + 1)));
  } else query = query.where('name', '=', reference).orderBy('version', 'desc').limit(1);
  const row = await query.executeTakeFirst();
  if (!row) {
    throw new TrainyardError('NOT_FOUND', `dataset "${reference}" does not exist (give an id, a name, or name@version)`, {
      errors: [{ field, message: 'no such dataset' }],
    });
  }
  return row;
}
