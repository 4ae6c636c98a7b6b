import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Parking } from '../../jobs/parking.js';
import { createSendingSwitches, type SendingSwitches } from '../../jobs/sending-switches.js';
import { createSendGridTransport } from '../../jobs/transports/sendgrid-transport.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// What the provider and the campaigners can do to a drain: 429 pauses the queue without costing an
// attempt, 401 pauses all sending, holds park letters, and an interrupted send is flagged.

let h: Harness;
let fake: FakeSendGrid;
let switches: SendingSwitches;
let n = 0;

beforeAll(async () => {
  fake = await startFakeSendGrid();
  h = createHarness('delivery-faults');
  const parking = new Parking({ ...h.deps, redis: h.t.redis, clock: h.deps.clock! });
  switches = createSendingSwitches(h.control, { queue: h.supporterQueue, parking, campaigns: h.campaigns });
  h.startWorker(createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 5000, sandbox: false }));
});
afterAll(async () => {
  await h.close();
  await fake.close();
});
afterEach(() => {
  fake.requests.length = 0;
});

async function send(recipients: string[], extra: Record<string, string> = {}) {
  n += 1;
  const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: `writer${n}@example.net`, recipients, ...extra })), 303);
  const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
  return { token, letterId: (await h.letters.findByToken(token))! };
}

const stateOf = async (letterId: string, target: string) => (await h.log.get(letterId, target))!;

describe('the provider answering 429', () => {
  it('then the whole queue waits until its reset time, the attempt is not counted, and the letters still go', async () => {
    fake.script({ status: 429, headers: { 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1) } });
    const a = await send(['gz-psb']);
    await fake.waitForRequests(1);
    // Sends already in flight when the 429 arrives finish; every send started after it waits.
    const b = await send(['gz-procuratorate']);
    await eventually(async () =>
      (await stateOf(a.letterId, 'gz-psb')).state === 'sent' && (await stateOf(b.letterId, 'gz-procuratorate')).state === 'sent' ? true : undefined,
    );
    const [first, ...rest] = fake.requests;
    expect(rest).toHaveLength(2);
    for (const r of rest) expect(r.at - first!.at).toBeGreaterThanOrEqual(900);
    expect(first!.body.custom_args!.letter).toBe(a.letterId);
    const record = await stateOf(a.letterId, 'gz-psb');
    expect(record.attempts).toBe(1);
    expect(record.history.map((x) => x.state)).toEqual(['queued', 'sending', 'queued', 'sending', 'sent']);
  });
});

describe('the provider refusing the account (401)', () => {
  it('then all sending pauses with the reason on /readyz, the letter is held, and resuming sends it', async () => {
    fake.script({ status: 401, errors: [{ message: 'The provided authorization grant is invalid' }] });
    const a = await send(['embassy-fr']);
    await eventually(async () => ((await stateOf(a.letterId, 'embassy-fr')).state === 'held' ? true : undefined));
    const ready = await request(h.app).get('/readyz').expect(200);
    expect(ready.body.sending).toEqual({ paused: true, reason: expect.stringMatching(/refused the account's credentials.*\(401\)/) });

    // Letters written meanwhile are held too, not failed one by one.
    const b = await send(['embassy-gb'], { country: 'GB' });
    await eventually(async () => ((await stateOf(b.letterId, 'embassy-gb')).state === 'held' ? true : undefined));
    expect(fake.requests).toHaveLength(1);
    const page = await request(h.app).get(`/letters/${b.token}`).expect(200);
    expect(page.text).toContain('On hold:</strong> The mail provider refused the account');

    expect(await switches.resumeAll()).toBe(2);
    await eventually(async () =>
      (await stateOf(a.letterId, 'embassy-fr')).state === 'sent' && (await stateOf(b.letterId, 'embassy-gb')).state === 'sent' ? true : undefined,
    );
    expect((await request(h.app).get('/readyz')).body.sending).toEqual({ paused: false });
  });
});

describe('holding one recipient', () => {
  it('then its letters wait while others go, and releasing it sends them', async () => {
    await switches.hold(SHIPPED_CAMPAIGN, 'embassy-de', 'Checking the new address');
    const a = await send(['embassy-de', 'gz-psb'], { country: 'DE' });
    await eventually(async () => ((await stateOf(a.letterId, 'gz-psb')).state === 'sent' ? true : undefined));
    await eventually(async () => ((await stateOf(a.letterId, 'embassy-de')).state === 'held' ? true : undefined));
    expect((await stateOf(a.letterId, 'embassy-de')).note).toBe('Checking the new address');
    expect(fake.requests.map((r) => r.body.personalizations[0]!.to[0]!.email)).toEqual(['gz-psb@example.org']);
    expect(await switches.release(SHIPPED_CAMPAIGN, 'embassy-de')).toBe(1);
    await eventually(async () => ((await stateOf(a.letterId, 'embassy-de')).state === 'sent' ? true : undefined));
  });
});

describe('a send interrupted by a crash', () => {
  // A worker whose job lock lapses after 1 s: a send left "sending" may be taken over after that long.
  const LOCK_MS = 1000;
  beforeAll(async () => {
    await h.closeWorkers();
    h.startWorker(createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 500, sandbox: false }), { jobLockMs: LOCK_MS });
  });

  /** A letter to `target` recorded "sending" (released from a hold, then started), as an attempt in flight or cut short leaves it. */
  async function leftSending(target: string) {
    await h.control.hold(SHIPPED_CAMPAIGN, target, 'campaigner', 'set up');
    const a = await send([target], { country: 'US' });
    await eventually(async () => ((await stateOf(a.letterId, target)).state === 'held' ? true : undefined));
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, target, 'released', { due: Date.now() });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, target, 'send-started', { attempt: 1 });
    await h.control.release(SHIPPED_CAMPAIGN, target);
    return a;
  }

  it('when a delivery was left "sending" by a worker that died, then once the job lock has lapsed it is sent again and flagged as possibly arriving twice', async () => {
    const a = await leftSending('embassy-us');
    // The job comes back, as BullMQ gives a dead worker's job to another.
    await h.queue.add('deliver', { campaign: SHIPPED_CAMPAIGN, letterId: a.letterId, targetId: 'embassy-us' }, { jobId: 'restarted', removeOnComplete: true });
    const record = await eventually(async () => {
      const r = await stateOf(a.letterId, 'embassy-us');
      return r.state === 'sent' ? r : undefined;
    });
    expect(record.possibleDuplicate).toBe(true);
    const [started, restarted] = record.history.slice(-3);
    expect(record.history.map((x) => x.state).slice(-3)).toEqual(['sending', 'sending', 'sent']);
    expect(restarted!.at - started!.at).toBeGreaterThanOrEqual(LOCK_MS);
    const page = await request(h.app).get(`/letters/${a.token}`).expect(200);
    expect(page.text).toContain('may receive your letter twice');
  });

  it('when a second job for a delivery runs while its send is still in flight, then it waits instead of sending, and the letter goes once, unflagged', async () => {
    const a = await leftSending('embassy-gb');
    await h.queue.add('deliver', { l: a.letterId, t: 'embassy-gb' }, { jobId: 'second', removeOnComplete: true });
    // The second job sees "sending" and steps aside until the first attempt cannot still be running ...
    await eventually(async () => ((await (await h.queue.getJob('second'))?.getState()) === 'delayed' ? true : undefined));
    // ... which meanwhile finishes.
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'embassy-gb', 'provider-accepted', { messageId: 'first-attempt' });
    await eventually(async () => ((await h.queue.getJob('second')) === undefined ? true : undefined));
    expect(fake.requests.filter((r) => r.body.custom_args?.letter === a.letterId)).toHaveLength(0);
    const record = await stateOf(a.letterId, 'embassy-gb');
    expect(record).toMatchObject({ state: 'sent', messageId: 'first-attempt' });
    expect(record.possibleDuplicate).toBeFalsy();
  });

  it('when a send has just been taken over, then a job that read it before cannot park it (the pause waits for that send)', async () => {
    const a = await leftSending('embassy-ca');
    const parking = new Parking({ ...h.deps, redis: h.t.redis, clock: h.deps.clock! });
    const parkedBefore = (await parking.counts(SHIPPED_CAMPAIGN))['embassy-ca'];
    // What a job does when it finds an interrupted send and sending paused: park it, unless another job took it over meanwhile.
    expect(await parking.park(SHIPPED_CAMPAIGN, a.letterId, 'embassy-ca', 'Sending is paused.', { minAgeMs: LOCK_MS })).toBe(false);
    expect((await stateOf(a.letterId, 'embassy-ca')).state).toBe('sending');
    expect((await parking.counts(SHIPPED_CAMPAIGN))['embassy-ca']).toBe(parkedBefore);
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'embassy-ca', 'provider-accepted', { messageId: 'the-other-job' });
  });

  it('when a second job finds a delivery whose retry is not due yet, then it waits for the backoff, and the status page says when the next attempt is due', async () => {
    const a = await send(['embassy-au']);
    await eventually(async () => ((await stateOf(a.letterId, 'embassy-au')).state === 'sent' ? true : undefined));
    // As if that attempt had failed with a 503 and its job were delayed by a 1.5 s backoff ...
    const due = Date.now() + 1500;
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'embassy-au', 'provider-bounced', { error: 'reset for the test' });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'embassy-au', 'campaigner-retry', { attempt: 0 });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'embassy-au', 'send-started', { attempt: 1, due: 0 });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'embassy-au', 'transient-error', { error: 'The provider answered 503.', due });
    const page = await request(h.app).get(`/letters/${a.token}`).expect(200);
    expect(page.text).toContain('Due to be sent');
    fake.requests.length = 0;
    // ... and a second job for it arrives at once.
    await h.queue.add('deliver', { l: a.letterId, t: 'embassy-au' }, { jobId: 'early', removeOnComplete: true });
    await eventually(async () => ((await stateOf(a.letterId, 'embassy-au')).state === 'sent' ? true : undefined));
    const sends = fake.requests.filter((r) => r.body.custom_args?.letter === a.letterId);
    expect(sends).toHaveLength(1);
    expect(sends[0]!.at).toBeGreaterThanOrEqual(due);
  });

  it('when a campaigner retries a letter that failed while a retry was due, then the old due time is not shown as its next one', async () => {
    const a = await send(['gz-procuratorate']);
    await eventually(async () => ((await stateOf(a.letterId, 'gz-procuratorate')).state === 'sent' ? true : undefined));
    const stale = Date.now() - 3_600_000;
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'gz-procuratorate', 'provider-bounced', { error: 'reset for the test' });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'gz-procuratorate', 'campaigner-retry', { attempt: 0 });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'gz-procuratorate', 'send-started', { attempt: 1, due: 0 });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'gz-procuratorate', 'transient-error', { error: 'The provider answered 503.', due: stale });
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'gz-procuratorate', 'permanent-error', { error: 'The provider answered 400.' });

    expect(await h.deps.actions.retry(SHIPPED_CAMPAIGN, a.letterId, 'gz-procuratorate')).toBe(true);
    expect((await stateOf(a.letterId, 'gz-procuratorate')).due).not.toBe(stale);
  });
});
