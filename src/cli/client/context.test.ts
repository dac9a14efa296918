import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../client/index.ts';
import { followEvents, setClientIO } from './context.ts';

type Event = { event: string; data?: unknown };

async function* events(list: Event[], failWith?: Error): AsyncGenerator<Event> {
  for (const event of list) yield event;
  if (failWith) throw failWith;
}

describe('followEvents', () => {
  afterEach(() => setClientIO(null));

  it('hands every event to the handler, the end event too, and does not poll after it', async () => {
    const seen: string[] = [];
    let polls = 0;
    const followed = await followEvents(
      () => events([{ event: 'status' }, { event: 'epoch' }, { event: 'end' }, { event: 'after-end' }]),
      (e) => seen.push(e.event),
      async () => (++polls, true),
    );
    expect(followed).toBe(true);
    expect(seen).toEqual(['status', 'epoch', 'end']);
    expect(polls).toBe(0);
  });

  it('polls until the job has finished when the server has no stream (404) or the stream closes early', async () => {
    const notFound = new ApiError(404, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no route', code: 'NOT_FOUND', errors: [] });
    for (const stream of [() => events([], notFound), () => events([{ event: 'status' }])]) {
      let polls = 0;
      expect(await followEvents(stream, () => undefined, async () => ++polls === 2)).toBe(true);
      expect(polls).toBe(2);
    }
  });

  it('passes on any other failure of the stream', async () => {
    const refused = new ApiError(403, { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'no scope', code: 'FORBIDDEN', errors: [] });
    await expect(followEvents(() => events([], refused), () => undefined, async () => true)).rejects.toBe(refused);
  });

  it('stops following on Ctrl-C, while streaming or while polling, and says so', async () => {
    let interrupt = () => undefined as void;
    setClientIO({ onInterrupt: (handler) => ((interrupt = handler), () => undefined) });
    const streaming = followEvents(
      (signal) =>
        (async function* () {
          yield { event: 'status' };
          if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve));
          throw new Error('aborted');
        })(),
      () => interrupt(),
      async () => false,
    );
    expect(await streaming).toBe(false);
    let polls = 0;
    const polling = followEvents(() => events([]), () => undefined, async () => (++polls === 1 && interrupt(), false));
    expect(await polling).toBe(false);
    expect(polls).toBe(1);
  });
});
