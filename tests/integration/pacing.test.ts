import { DateTime } from 'luxon';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryOf } from '../../domain/campaign.js';
import { manualClock } from '../../domain/clock.js';
import { forecastCampaign } from '../../domain/forecast.js';
import { fixtureCampaign, fixtureTarget } from '../support/campaign-fixture.js';
import { createHarness, eventually, type Harness, postLetter, validForm } from '../support/harness.js';
import { recordingTransport, type RecordingTransport } from '../support/recording-transport.js';

// Pacing with real BullMQ delays on real Redis, with short intervals: a recipient paced at one letter
// a second, one unpaced, and one with office hours driven by a manual clock.

const target = fixtureTarget;
const campaign = fixtureCampaign({ pacing: { perHour: null, perDay: null, timezone: 'UTC', officeHours: null, jitter: 0 } }, [
  target('slow', { pacing: { perHour: 3600 } }),
  target('fast'),
  target('office', { timezone: 'Europe/London', officeHours: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00' } }),
]);
const campaigns = registryOf([campaign]);

async function send(h: Harness, email: string, recipients: string[]) {
  const res = await postLetter(h.app, campaign.slug, validForm({ email, recipients }));
  expect(res.status).toBe(303);
  return /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
}

describe('per-recipient pacing without head-of-line blocking', () => {
  let h: Harness;
  let mail: RecordingTransport;
  beforeAll(() => {
    h = createHarness('pacing', { campaigns, env: { PACING: 'on' } });
    mail = recordingTransport();
  });
  afterAll(() => h.close());

  it('when one recipient is paced at one a second and another is unpaced, then the unpaced one drains at the global rate while the paced one keeps its pace', async () => {
    h.startWorker(mail, { ratePerSecond: 50, concurrency: 4 });
    for (let i = 0; i < 4; i++) await send(h, `both${i}@example.net`, ['slow', 'fast']);
    for (let i = 0; i < 16; i++) await send(h, `fast${i}@example.net`, ['fast']);
    await eventually(async () => (mail.sends.length === 24 ? true : undefined), 15_000);

    const slow = mail.to('slow@example.org').map((s) => s.at);
    const fast = mail.to('fast@example.org').map((s) => s.at);
    expect(slow).toHaveLength(4);
    expect(fast).toHaveLength(20);
    for (let i = 1; i < slow.length; i++) expect(slow[i]! - slow[i - 1]!).toBeGreaterThanOrEqual(900);
    // All twenty letters to the unpaced recipient are out before the paced one's second letter.
    expect(Math.max(...fast)).toBeLessThan(slow[1]!);
    expect(Math.max(...fast) - Math.min(...fast)).toBeLessThan(1500);
  });

  it('when the worker was away and letters to a paced recipient are overdue, then they do not go out in a burst', async () => {
    mail.sends.length = 0;
    // Letters are planned while no worker runs (their slots pass), then a worker comes back.
    await h.closeWorkers();
    for (let i = 0; i < 4; i++) await send(h, `late${i}@example.net`, ['slow']);
    await new Promise((r) => setTimeout(r, 4500));
    h.startWorker(mail, { ratePerSecond: 50, concurrency: 4 });
    await eventually(async () => (mail.sends.length === 4 ? true : undefined), 15_000);
    const times = mail.to('slow@example.org').map((s) => s.at);
    // No two closer than half the interval, and the four spread over more than one interval.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(500);
    expect(times[3]! - times[0]!).toBeGreaterThan(1500);
  });
});

describe('the forecast', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('forecast', { campaigns, env: { PACING: 'on' } });
  });
  afterAll(() => h.close());

  it('when letters wait for a paced recipient, then the forecast gives how many and when the last goes', async () => {
    const start = Date.now();
    for (let i = 0; i < 5; i++) await send(h, `f${i}@example.net`, ['slow', 'fast']);
    const f = (await forecastCampaign({ campaigns, log: h.log, paceBook: h.paceBook, control: h.control, clock: { now: () => Date.now() } }, campaign.slug))!;
    const slow = f.targets.find((t) => t.targetId === 'slow')!;
    expect(slow.waiting).toBe(5);
    expect(slow.lastSendAt! - start).toBeGreaterThanOrEqual(4000);
    expect(slow.lastSendAt! - start).toBeLessThan(6000);
    expect(f.waiting).toBe(10);
    expect(f.lastSendAt).toBe(slow.lastSendAt);
    await h.control.hold(campaign.slug, 'slow', 'campaigner', 'checking the address');
    const held = (await forecastCampaign(
      { campaigns, log: h.log, paceBook: h.paceBook, control: h.control, clock: { now: () => Date.now() } },
      campaign.slug,
    ))!;
    expect(held.targets.find((t) => t.targetId === 'slow')).toMatchObject({ blockedBy: 'checking the address', lastSendAt: null });
  });
});

describe('office hours', () => {
  // Saturday 28 November 2026, noon in London (UTC in winter).
  const clock = manualClock(Date.UTC(2026, 10, 28, 12, 0, 0));
  let h: Harness;
  let mail: RecordingTransport;
  beforeAll(() => {
    h = createHarness('office-hours', { campaigns, clock, env: { PACING: 'on' } });
    mail = recordingTransport();
  });
  afterAll(() => h.close());

  it('when a letter is written at the weekend, then it waits for Monday 09:00 in the recipient’s time zone and nothing is sent before', async () => {
    const token = await send(h, 'weekend@example.net', ['office']);
    const letterId = (await h.letters.findByToken(token))!;
    const record = (await h.log.get(letterId, 'office'))!;
    expect(record.state).toBe('waiting');
    expect(DateTime.fromMillis(record.due!, { zone: 'Europe/London' }).toFormat('ccc HH:mm')).toBe('Mon 09:00');
    const page = await request(h.app).get(`/letters/${token}`).expect(200);
    expect(page.text).toContain('Waiting its turn');
    expect(page.text).toContain('Due to be sent: <time datetime="2026-11-30T09:00:00.000Z">');

    // Even if the job came early (e.g. a clock skew, or a job moved by hand), the worker does not send outside office hours.
    h.startWorker(mail, {}, clock);
    const job = (await h.queue.getDelayed()).find((j) => j.id?.startsWith(letterId))!;
    expect(job.opts.delay).toBe(2 * 86_400_000 - 3 * 3_600_000);
    await job.promote();
    const again = await eventually(async () => {
      const r = (await h.log.get(letterId, 'office'))!;
      return r.history.length >= 2 ? r : undefined;
    });
    expect(mail.sends).toHaveLength(0);
    expect(again.state).toBe('waiting');
    expect(DateTime.fromMillis(again.due!, { zone: 'Europe/London' }).toFormat('ccc HH')).toBe('Mon 09');

    // On Monday at 09:00 it goes.
    clock.set(Date.UTC(2026, 10, 30, 9, 0, 0));
    await (await h.queue.getJob(job.id!))!.promote();
    await eventually(async () => (mail.sends.length === 1 ? true : undefined));
    // The worker records "sent" just after the provider answers.
    await eventually(async () => ((await h.log.get(letterId, 'office'))!.state === 'sent' ? true : undefined));
    expect(mail.sends).toHaveLength(1);
  });
});
