// The three routes every job kind answers the same way: get one, stream its events, cancel it.
// A kind's own route module adds what differs (submission, listing, outputs) and calls this for
// the rest; kinds whose routes need more (training's event description, a study's trials) write them.
import type { TSchema } from 'typebox';
import { Type } from 'typebox';
import type { Api } from './route-context.ts';
import type { Platform } from '../platform.ts';
import { IdParams, problems } from './schemas.ts';
import { getJobRow, requestCancel, type JobRow } from '../jobs/jobs.ts';
import { streamJobEvents } from '../jobs/events-stream.ts';
import { openStream } from '../auth/streams.ts';

export interface JobRoutesOptions {
  /** The kind, as the engine stores it. */
  kind: string;
  /** e.g. `/v1/import-jobs`. */
  path: string;
  tags: string[];
  /** The view's schema (a Type.Ref to a registered one) and the view of a row. */
  view: { schema: TSchema; of(row: JobRow): unknown };
  summaries: { get: string; cancel: string };
}

export function registerJobRoutes(app: Api, platform: Platform, { kind, path, tags, view, summaries }: JobRoutesOptions): void {
  const { db } = platform.metadata;
  app.get(
    `${path}/:id`,
    { schema: { tags, summary: summaries.get, params: IdParams, response: { 200: view.schema, ...problems(401, 403, 404) } } },
    async (request) => view.of(await getJobRow(db, request.params.id, kind)),
  );

  app.get(
    `${path}/:id/events`,
    { schema: { tags, summary: 'Server-Sent Events: status, log; then end', params: IdParams, produces: ['text/event-stream'], response: { 200: Type.String(), ...problems(401, 403, 404, 429) } } },
    async (request, reply) => streamJobEvents(db, request, reply, request.params.id, kind, openStream(platform, request)),
  );

  app.post(
    `${path}/:id/cancel`,
    { schema: { tags, summary: summaries.cancel, params: IdParams, response: { 202: view.schema, ...problems(401, 403, 404, 409) } } },
    async (request, reply) => reply.status(202).send(view.of(await requestCancel(db, request.params.id, kind))),
  );
}
