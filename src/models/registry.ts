// The model registry: model definitions (immutable values), their trained versions and aliases.
import type { Kysely, Selectable } from 'kysely';
import type { Database, ModelTable, ModelVersionTable } from '../store/metadata/schema.ts';
import type { BlobStore } from '../store/blobs/blob-store.ts';
import { TrainyardError, notFound } from '../errors.ts';
import { newId, nowIso } from '../ids.ts';
import { isUniqueViolation } from '../store/metadata/errors.ts';
import { deleteUnlessInUse } from '../jobs/jobs.ts';
import type { MetadataStore } from '../store/metadata/metadata-store.ts';
import { deepFreeze, type ModelSpec, type ModelSpecInput } from './spec.ts';

export interface ArtifactInfo {
  name: string;
  size_bytes: number;
  sha256: string;
}

export interface SignatureInput {
  name: string;
  type: string;
  kind: 'numeric' | 'categorical' | 'datetime';
  categories?: string[];
}

export interface Signature {
  inputs: SignatureInput[];
  output: { task: string; target: string; classes?: string[] };
}

export interface ModelRecord {
  id: string;
  name: string;
  description: string | null;
  spec: ModelSpec;
  created_at: string;
}

export interface ModelVersionRecord {
  model: string;
  version: number;
  training_job_id: string;
  dataset_id: string;
  metrics: Record<string, number>;
  signature: Signature;
  artifacts: ArtifactInfo[];
  aliases: string[];
  blob_prefix: string;
  /** Lineage of a warm start: the version training began from; null when it began from scratch. */
  init_from: { model: string; version: number } | null;
  created_at: string;
}

// Bumped whenever a model's aliases or versions change in this process, so caches of version
// lookups (predict's hot path) drop what they hold for it at once; other servers catch up by TTL.
const generations = new Map<string, number>();
export const registryGeneration = (model: string): number => generations.get(model) ?? 0;
const changed = (model: string): void => void generations.set(model, registryGeneration(model) + 1);

const toModel = (row: Selectable<ModelTable>): ModelRecord => ({
  id: row.id,
  name: row.name,
  description: row.description,
  spec: deepFreeze(JSON.parse(row.spec_json) as ModelSpecInput) as ModelSpec,
  created_at: row.created_at,
});

export async function createModel(db: Kysely<Database>, spec: ModelSpec): Promise<ModelRecord> {
  const row = { id: newId('mdl'), name: spec.name, description: spec.description ?? null, spec_json: JSON.stringify(spec), created_at: nowIso() };
  try {
    await db.insertInto('models').values(row).execute();
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new TrainyardError('ALREADY_EXISTS', `a model named "${spec.name}" already exists; pick another name or delete it first`, {
        errors: [{ field: 'name', message: 'is already taken' }],
      });
    }
    throw error;
  }
  return toModel(row);
}

export async function getModel(db: Kysely<Database>, name: string): Promise<ModelRecord> {
  const row = await db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) throw notFound('model', name);
  return toModel(row);
}

export async function listModels(db: Kysely<Database>, limit: number, cursor?: string): Promise<ModelRecord[]> {
  let query = db.selectFrom('models').selectAll();
  if (cursor) query = query.where('id', '<', cursor);
  return (await query.orderBy('id', 'desc').limit(limit + 1).execute()).map(toModel);
}

/**
 * Deletes a model with all its versions, aliases and artifacts. 409 while a job uses it, checked in
 * the delete itself (deleteUnlessInUse), within the transaction that removes the versions.
 */
export async function deleteModel(store: MetadataStore, blobs: BlobStore, name: string): Promise<void> {
  const { db } = store;
  await getModel(db, name);
  const versions = await db.selectFrom('model_versions').select('blob_prefix').where('model_name', '=', name).execute();
  await db.transaction().execute(async (trx) => {
    if (!(await deleteUnlessInUse(trx, store.dialect, { model: name }))) throw notFound('model', name);
    await trx.deleteFrom('model_aliases').where('model_name', '=', name).execute();
    await trx.deleteFrom('model_versions').where('model_name', '=', name).execute();
  });
  changed(name);
  // Rows go first so nothing ever points at a deleted object; a failed blob delete leaves only bytes.
  for (const v of versions) await blobs.deletePrefix(v.blob_prefix);
}

async function aliasesByVersion(db: Kysely<Database>, model: string): Promise<Map<number, string[]>> {
  const rows = await db.selectFrom('model_aliases').select(['alias', 'version']).where('model_name', '=', model).orderBy('alias').execute();
  const map = new Map<number, string[]>();
  for (const r of rows) map.set(r.version, [...(map.get(r.version) ?? []), r.alias]);
  return map;
}

const toVersion = (row: Selectable<ModelVersionTable>, aliases: string[]): ModelVersionRecord => ({
  model: row.model_name,
  version: row.version,
  training_job_id: row.training_job_id,
  dataset_id: row.dataset_id,
  metrics: JSON.parse(row.metrics_json) as Record<string, number>,
  signature: JSON.parse(row.signature_json) as Signature,
  artifacts: JSON.parse(row.artifacts_json) as ArtifactInfo[],
  aliases,
  blob_prefix: row.blob_prefix,
  init_from: row.init_from_json ? (JSON.parse(row.init_from_json) as { model: string; version: number }) : null,
  created_at: row.created_at,
});

export async function listVersions(db: Kysely<Database>, model: string, limit: number, beforeVersion?: number): Promise<ModelVersionRecord[]> {
  await getModel(db, model);
  let query = db.selectFrom('model_versions').selectAll().where('model_name', '=', model);
  if (beforeVersion !== undefined) query = query.where('version', '<', beforeVersion);
  const rows = await query.orderBy('version', 'desc').limit(limit + 1).execute();
  const aliases = await aliasesByVersion(db, model);
  return rows.map((r) => toVersion(r, aliases.get(r.version) ?? []));
}

export async function getVersion(db: Kysely<Database>, model: string, version: number): Promise<ModelVersionRecord> {
  const row = await db.selectFrom('model_versions').selectAll().where('model_name', '=', model).where('version', '=', version).executeTakeFirst();
  if (!row) {
    await getModel(db, model);
    throw notFound('model version', `${model}/${version}`);
  }
  return toVersion(row, (await aliasesByVersion(db, model)).get(version) ?? []);
}

/** The version a reference names: a number, an alias, or (undefined) production → else the newest. */
export async function resolveVersion(db: Kysely<Database>, model: string, reference?: string | number): Promise<ModelVersionRecord> {
  if (typeof reference === 'number' || (typeof reference === 'string' && /^\d+$/.test(reference))) {
    return getVersion(db, model, Number(reference));
  }
  const alias = reference ?? 'production';
  const aliased = await db.selectFrom('model_aliases').select('version').where('model_name', '=', model).where('alias', '=', alias).executeTakeFirst();
  if (aliased) return getVersion(db, model, aliased.version);
  if (reference !== undefined) {
    await getModel(db, model);
    throw notFound('alias', `${model}@${reference}`);
  }
  const newest = await db.selectFrom('model_versions').select('version').where('model_name', '=', model).orderBy('version', 'desc').limit(1).executeTakeFirst();
  if (!newest) {
    await getModel(db, model);
    throw notFound('model version', `${model} has no trained versions yet; `.concat('run a training job first'));
  }
  return getVersion(db, model, newest.version);
}

export async function setAlias(db: Kysely<Database>, model: string, alias: string, version: number): Promise<void> {
  await getVersion(db, model, version);
  const now = nowIso();
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('model_aliases').where('model_name', '=', model).where('alias', '=', alias).execute();
    await trx.insertInto('model_aliases').values({ model_name: model, alias, version, updated_at: now }).execute();
  });
  changed(model);
}

export async function deleteAlias(db: Kysely<Database>, model: string, alias: string): Promise<void> {
  const result = await db.deleteFrom('model_aliases').where('model_name', '=', model).where('alias', '=', alias).executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw notFound('alias', `${model}@${alias}`);
  changed(model);
}

/** Deletes a version no alias points at (409 otherwise), then its artifacts. */
export async function deleteVersion(db: Kysely<Database>, blobs: BlobStore, model: string, version: number): Promise<void> {
  const record = await getVersion(db, model, version);
  if (record.aliases.length > 0) {
    throw new TrainyardError('IN_USE', `version ${version} of "${model}" is aliased as ${record.aliases.join(', ')}; move or delete the alias first`);
  }
  await db.deleteFrom('model_versions').where('model_name', '=', model).where('version', '=', version).execute();
  changed(model);
  await blobs.deletePrefix(record.blob_prefix);
}

/**
 * Records a new version inside the caller's transaction. Its number is the next one for the model;
 * the caller retries on a unique violation when two jobs finish at the same moment.
 */
export async function insertVersion(
  db: Kysely<Database>,
  input: Omit<ModelVersionRecord, 'version' | 'aliases' | 'created_at'>,
): Promise<number> {
  const last = await db.selectFrom('model_versions').select('version').where('model_name', '=', input.model).orderBy('version', 'desc').limit(1).executeTakeFirst();
  const version = (last?.version ?? 0) + 1;
  await db
    .insertInto('model_versions')
    .values({
      id: newId('mv'),
      model_name: input.model,
      version,
      training_job_id: input.training_job_id,
      dataset_id: input.dataset_id,
      metrics_json: JSON.stringify(input.metrics),
      signature_json: JSON.stringify(input.signature),
      artifacts_json: JSON.stringify(input.artifacts),
      blob_prefix: input.blob_prefix,
      init_from_json: input.init_from ? JSON.stringify(input.init_from) : null,
      created_at: nowIso(),
    })
    .execute();
  return version;
}

export const ARTIFACT_CONTENT_TYPES: Record<string, string> = {
  'model.onnx': 'application/octet-stream',
  'model.pt': 'application/octet-stream',
  'model.pt2': 'application/octet-stream',
  'state_dict.pt': 'application/octet-stream',
  'manifest.json': 'application/json',
  'baseline.json': 'application/json',
};
