// Cursor pagination shared by every list route: the cursor is the last id of the previous page
// (ids sort by creation time), base64url-encoded so clients treat it as opaque.
import { Type, type Static } from 'typebox';
import { TrainyardError } from '../errors.ts';

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Page size (1–500).' })),
  cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
});
export type PageQuery = Static<typeof PageQuery>;

const badCursor = () =>
  new TrainyardError('VALIDATION_FAILED', 'cursor is not one this server issued', {
    errors: [{ field: 'querystring.cursor', message: 'is not a valid cursor' }],
  });

/**
 * The id a cursor carries. Only a cursor this server could have issued is accepted: an id's exact
 * shape, and the same encoding back (garbage used to decode to something and answer an empty page).
 */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[a-z]{2,3}_[0-9a-z]{26}$/.test(decoded) || Buffer.from(decoded).toString('base64url') !== cursor) throw badCursor();
  return decoded;
}

/** The version number a versions-list cursor carries (same rules as decodeCursor). */
export function decodeVersionCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9][0-9]{0,9}$/.test(decoded) || Buffer.from(decoded).toString('base64url') !== cursor) throw badCursor();
  return Number(decoded);
}

export function pageOf<T>(rows: T[], limit: number, idOf: (row: T) => string): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  const more = rows.length > limit;
  return { items, next_cursor: more ? Buffer.from(idOf(items[items.length - 1])).toString('base64url') : null };
}

export const pageSchema = <T extends import('typebox').TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) });
