import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDashboard } from '../../domain/campaign-dashboard.js';
import { manualClock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { LetterStore } from '../../domain/letter-store.js';
import { PaceBook } from '../../domain/pace-book.js';
import { SendGuard } from '../../domain/send-guard.js';
import { SendingControl } from '../../domain/sending-control.js';
import { applyRetention } from '../../jobs/retention.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';
import { testRedis, type TestRedis } from '../support/redis.js';

// A campaign runs for months: the keys it writes per hour or per day must not grow with its age.
// Days of sending are simulated with a manual clock on real Redis.

const HOUR = 3_600_000;
const DAY = 86_400_000;
const campaign = fixtureCampaign();
const draft = {
  firstName: 'Ana',
  lastName: 'Lima',
  email: 'ana@example.net',
  country: 'FR',
  recipients: ['gz-psb'],
  subject: 'Subject',
  body: 'A letter long enough to pass.',
};
let t: TestRedis;

beforeAll(() => {
  t = testRedis('bounded-keys');
});
afterAll(() => t.cleanup());

describe("a campaign's hourly and daily stats", () => {
  const clock = manualClock(Date.UTC(2026, 2, 2, 0, 30, 0));
  const retentionDeps = () => ({
    redis: t.redis,
    keys: t.keys,
    campaigns: { list: () => [campaign], get: () => campaign },
    letters: new LetterStore(t.redis, t.keys, clock),
    clock,
    logger: pino({ level: 'silent' }),
    retentionDays: 180,
  });
  const dashboard = () =>
    readDashboard(
      {
        redis: t.redis,
        keys: t.keys,
        log: new DeliveryLog(t.redis, t.keys, clock),
        paceBook: new PaceBook(t.redis, t.keys, clock),
        control: new SendingControl(t.redis, t.keys, clock),
        clock,
        pacing: false,
      },
      campaign,
    );

  it('when a letter is written and sent every hour for 10 days with the hourly retention job running, then the stats keep only the last 48 hours and the dashboard still shows them', async () => {
    const letters = new LetterStore(t.redis, t.keys, clock);
    const log = new DeliveryLog(t.redis, t.keys, clock);
    const start = clock.now();
    for (let hour = 0; hour < 10 * 24; hour++) {
      clock.set(start + hour * HOUR);
      const { letterId } = await letters.create(campaign, { ...draft, email: `w${hour}@example.net` });
      clock.advance(60_000);
      await log.apply(campaign.slug, letterId, 'gz-psb', 'send-started', { attempt: 1 });
      await log.apply(campaign.slug, letterId, 'gz-psb', 'provider-accepted', { messageId: `m${hour}` });
      clock.advance(60_000);
      expect(await applyRetention(retentionDeps())).toEqual({ deleted: 0, kept: 0 });
    }

    const hourNow = Math.floor(clock.now() / HOUR);
    const hours = (await t.redis.hkeys(t.keys.stats(campaign.slug))).filter((f) => f.startsWith('h')).map((f) => Number(/^h(\d+):/.exec(f)![1]));
    expect(Math.min(...hours)).toBe(hourNow - 47);
    // written, sending and sent, for each of the 48 hours shown: not one field for each of the 240 hours sent in.
    expect(hours.length).toBe(48 * 3);

    const data = await dashboard();
    expect(data.hourly).toHaveLength(48);
    expect(data.hourly.every((b) => b.written === 1 && b.sent === 1)).toBe(true);
    expect(data.daily.map((b) => [b.written, b.sent])).toEqual(Array.from({ length: 10 }, () => [24, 24]));
    expect(data.today).toMatchObject({ written: 24, sent: 24, sending: 24 });
  });

  it('when the first days of a campaign drop out of its year-long daily chart, then their fields are deleted and the chart does not change', async () => {
    // The ten days above, 360 days on: the last six of them are still in the chart, the first four not.
    clock.advance(360 * DAY);
    const dayNow = Math.floor(clock.now() / DAY);
    const before = await dashboard();
    await applyRetention(retentionDeps());

    const days = new Set((await t.redis.hkeys(t.keys.stats(campaign.slug))).filter((f) => f.startsWith('d')).map((f) => Number(/^d(\d+):/.exec(f)![1])));
    expect([...days].sort()).toEqual([dayNow - 365, dayNow - 364, dayNow - 363, dayNow - 362, dayNow - 361, dayNow - 360]);
    const after = await dashboard();
    expect(after.daily).toEqual(before.daily);
    expect(after.daily).toHaveLength(366);
    expect(after.daily.slice(0, 6).map((b) => [b.written, b.sent])).toEqual(Array.from({ length: 6 }, () => [24, 24]));
  });
});

describe("a recipient's sends per local day", () => {
  const rule = { perHour: null, perDay: 3, minGapMs: 0 };
  const localDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

  it('when a recipient is sent its daily limit every day for 30 days, then only today and the day before are counted in Redis, and today’s limit still holds', async () => {
    const guard = new SendGuard(t.redis, t.keys);
    const key = t.keys.sendsPerDay(campaign.slug, 'embassy-fr');
    // Days counted before the counts were trimmed: they go with the first send of a new day.
    await t.redis.hset(key, '2025-11-01', '3', '2025-11-02', '3', '2025-11-03', '3');
    const first = Date.UTC(2026, 0, 5, 9, 0, 0);
    let n = 0;
    for (let d = 0; d < 30; d++) {
      for (let k = 0; k < 3; k++) {
        const now = first + d * DAY + k * HOUR;
        expect(await guard.admit(campaign.slug, 'embassy-fr', { ...rule, now, localDay: localDay(now), sendId: `s${n++}` })).toEqual({ ok: true });
      }
    }
    const today = first + 29 * DAY + 5 * HOUR;
    const yesterday = today - DAY;
    expect((await t.redis.hkeys(key)).sort()).toEqual([localDay(yesterday), localDay(today)]);
    expect(await t.redis.pttl(key)).toBeGreaterThan(0);
    // Today's fourth send is refused; so is one for yesterday, from a worker whose clock is behind at midnight.
    expect(await guard.admit(campaign.slug, 'embassy-fr', { ...rule, now: today, localDay: localDay(today), sendId: 'late-1' })).toEqual({
      ok: false,
      limit: 'day',
    });
    expect(await guard.admit(campaign.slug, 'embassy-fr', { ...rule, now: today, localDay: localDay(yesterday), sendId: 'late-2' })).toEqual({
      ok: false,
      limit: 'day',
    });
    // The next day starts from nothing.
    const tomorrow = today + DAY;
    expect(await guard.admit(campaign.slug, 'embassy-fr', { ...rule, now: tomorrow, localDay: localDay(tomorrow), sendId: 'next' })).toEqual({ ok: true });
    expect((await t.redis.hkeys(key)).sort()).toEqual([localDay(today), localDay(tomorrow)]);
  });
});
