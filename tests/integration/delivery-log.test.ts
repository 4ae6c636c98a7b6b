import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { LetterStore } from '../../domain/letter-store.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';
import { testRedis, type TestRedis } from '../support/redis.js';

// The delivery log's Lua transitions on real Redis, with a manual clock.

const campaign = fixtureCampaign();
const draft = {
  firstName: 'Ana',
  lastName: 'Lima',
  email: 'ana@example.net',
  country: 'FR',
  recipients: ['gz-psb', 'embassy-fr'],
  subject: 'Subject',
  body: 'A letter long enough to pass.',
};
let t: TestRedis;
const clock = manualClock(Date.UTC(2026, 10, 26, 9, 0, 0));
let letters: LetterStore;
let log: DeliveryLog;

beforeAll(() => {
  t = testRedis('delivery-log');
  letters = new LetterStore(t.redis, t.keys, clock);
  log = new DeliveryLog(t.redis, t.keys, clock, 1000);
});
afterAll(() => t.cleanup());

describe('the delivery log', () => {
  it('when a letter is stored, then each recipient starts queued and the counters count it once', async () => {
    const { letterId } = await letters.create(campaign, draft);
    const letter = (await letters.get(letterId))!;
    expect(letter.deliveries.map((d) => [d.targetId, d.record.state, d.record.changedAt])).toEqual([
      ['gz-psb', 'queued', clock.now()],
      ['embassy-fr', 'queued', clock.now()],
    ]);
    const counts = await log.counts(campaign.slug);
    expect(counts).toMatchObject({ letters: 1, deliveries: 2 });
    expect(counts.byState.queued).toBe(2);
    expect(counts.byTarget['embassy-fr']?.queued).toBe(1);
  });

  it('when a send-started transition is re-sent with its id (its answer lost as Redis restarted), then it is reported applied once and counted once', async () => {
    const { letterId } = await letters.create(campaign, { ...draft, email: 'resent@example.net' });
    const before = await log.counts(campaign.slug);
    const first = await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 1, op: 'run-1' });
    const again = await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 1, op: 'run-1' });
    const other = await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 1, op: 'run-2' });
    expect(first).toEqual({ applied: true, from: 'queued', to: 'sending', at: clock.now() });
    expect(again).toEqual({ applied: true, from: 'sending', to: 'sending', repeated: true, at: clock.now() });
    // Another worker's run (another id) is still refused: only one of them sends.
    expect(other).toEqual({ applied: false, reason: 'not-allowed', from: 'sending' });
    const record = (await log.get(letterId, 'gz-psb'))!;
    expect(record.history.map((h) => h.state)).toEqual(['queued', 'sending']);
    const after = await log.counts(campaign.slug);
    expect(after.byState.sending - before.byState.sending).toBe(1);
  });

  it('when a delivery moves, then its record, the counters and the stream change together, with the time of each step', async () => {
    const { letterId } = await letters.create(campaign, draft);
    const before = await log.counts(campaign.slug);
    clock.advance(60_000);
    // The time it reports is the one its history keeps (a release's job is named by it).
    expect(await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 1 })).toEqual({
      applied: true,
      from: 'queued',
      to: 'sending',
      at: clock.now(),
    });
    clock.advance(2_000);
    await log.apply(campaign.slug, letterId, 'gz-psb', 'provider-accepted', { messageId: 'msg-1', error: '' });
    const record = (await log.get(letterId, 'gz-psb'))!;
    expect(record).toMatchObject({ state: 'sent', attempts: 1, messageId: 'msg-1' });
    expect(record.history).toEqual([
      { state: 'queued', at: Date.UTC(2026, 10, 26, 9, 0, 0) },
      { state: 'sending', at: Date.UTC(2026, 10, 26, 9, 1, 0) },
      { state: 'sent', at: Date.UTC(2026, 10, 26, 9, 1, 2) },
    ]);
    const after = await log.counts(campaign.slug);
    expect(after.byState.queued).toBe(before.byState.queued - 1);
    expect(after.byState.sent).toBe(before.byState.sent + 1);
    expect(after.byTarget['gz-psb']?.sent).toBe(1);
    const recent = await log.recent(campaign.slug, 2);
    expect(recent.map((e) => [e.letterId, e.targetId, e.event, e.from, e.to])).toEqual([
      [letterId, 'gz-psb', 'provider-accepted', 'sending', 'sent'],
      [letterId, 'gz-psb', 'send-started', 'queued', 'sending'],
    ]);
  });

  it('when an event does not start from the current state, then nothing is written', async () => {
    const { letterId } = await letters.create(campaign, draft);
    const before = await log.counts(campaign.slug);
    expect(await log.apply(campaign.slug, letterId, 'embassy-fr', 'provider-accepted', { messageId: 'x' })).toEqual({
      applied: false,
      reason: 'not-allowed',
      from: 'queued',
    });
    expect((await log.get(letterId, 'embassy-fr'))!.messageId).toBeUndefined();
    expect(await log.counts(campaign.slug)).toEqual(before);
  });

  it('when the delivery does not exist, then the transition says so', async () => {
    expect(await log.apply(campaign.slug, 'f'.repeat(32), 'gz-psb', 'send-started')).toEqual({ applied: false, reason: 'missing' });
  });

  it('when a failure is followed by success, then the reason is cleared', async () => {
    const { letterId } = await letters.create(campaign, draft);
    await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 1 });
    await log.apply(campaign.slug, letterId, 'gz-psb', 'transient-error', { error: 'provider had a problem (503)' });
    expect((await log.get(letterId, 'gz-psb'))!.error).toBe('provider had a problem (503)');
    await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 2 });
    await log.apply(campaign.slug, letterId, 'gz-psb', 'provider-accepted', { messageId: 'm', error: '' });
    const r = (await log.get(letterId, 'gz-psb'))!;
    expect(r.error).toBeUndefined();
    expect(r.attempts).toBe(2);
  });

  it('when a letter that could not be queued is discarded, then it leaves no trace in the counters', async () => {
    const before = await log.counts(campaign.slug);
    const { letterId, token } = await letters.create(campaign, draft);
    await letters.discard(campaign.slug, letterId, token);
    expect(await letters.get(letterId)).toBeUndefined();
    expect(await letters.findByToken(token)).toBeUndefined();
    expect(await log.counts(campaign.slug)).toEqual(before);
  });

  it('when a send is taken over before it has been running for the minimum age, then it is refused with the time it started, and allowed after', async () => {
    const { letterId } = await letters.create(campaign, { ...draft, email: 'taken-over@example.net' });
    await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 1, op: 'first' });
    const startedAt = clock.now();
    clock.advance(999);
    const early = await log.apply(campaign.slug, letterId, 'gz-psb', 'send-restarted', { attempt: 1, possibleDuplicate: true, op: 'second', minAgeMs: 1000 });
    expect(early).toEqual({ applied: false, reason: 'too-soon', from: 'sending', since: startedAt });
    expect((await log.get(letterId, 'gz-psb'))!.possibleDuplicate).toBeUndefined();
    clock.advance(1);
    const late = await log.apply(campaign.slug, letterId, 'gz-psb', 'send-restarted', { attempt: 1, possibleDuplicate: true, op: 'second', minAgeMs: 1000 });
    expect(late).toMatchObject({ applied: true, from: 'sending', to: 'sending' });
    // The minimum age is a condition of the move, not part of the record.
    expect(await t.redis.hget(t.keys.letter(letterId), 'd:gz-psb')).not.toContain('"ma"');
    expect((await log.get(letterId, 'gz-psb'))!.possibleDuplicate).toBe(true);
  });
});
