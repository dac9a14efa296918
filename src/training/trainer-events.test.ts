import { describe, expect, it } from 'vitest';
import { parseTrainerEvent } from './trainer-events.ts';

describe('parseTrainerEvent', () => {
  it('types a line of the contract', () => {
    const parsed = parseTrainerEvent('{"event":"epoch","epoch":1,"epochs":2,"train":{"loss":0.5},"val":{"loss":0.6,"roc_auc":null},"lr":0.001,"seconds":0.2,"train_seconds":0.1}');
    expect('event' in parsed && parsed.event.event === 'epoch' && parsed.event.val.roc_auc).toBeNull();
  });

  it('says why a line is not an event', () => {
    expect(parseTrainerEvent('loading torch')).toEqual({ error: 'not JSON' });
    expect(parseTrainerEvent('{"event":"progress"}')).toMatchObject({ error: expect.stringContaining('"progress" event kind is not one of started, epoch') });
    expect(parseTrainerEvent('{"event":"failed","message":"x"}')).toMatchObject({ error: expect.stringContaining('code') });
    expect(parseTrainerEvent('{"event":"log","level":"info","message":"m","extra":1}')).toMatchObject({ error: expect.stringContaining('"log" event') });
  });
});
