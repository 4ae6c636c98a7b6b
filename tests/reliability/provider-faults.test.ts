import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliveryJobId } from '../../jobs/delivery-queue.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { runMain, type RunningProcess } from '../support/processes.js';
import { fromTally, recordMeasurement, tally, type DeliveryRef } from '../support/reliability-results.js';

// The mail provider misbehaving while a worker process drains: errors, rate limits and timeouts are
// retried until every letter is sent; an answer lost after the provider accepted causes a bounded,
// flagged duplicate; a poisoned job fails once and lets the queue go on.

const ATTEMPTS = 8;
const TIMEOUT_MS = 1000;

let h: Harness;
let fake: FakeSendGrid;
let worker: RunningProcess;
let n = 0;

beforeAll(async () => {
  fake = await startFakeSendGrid();
  h = createHarness('rel-provider');
  // One send at a time, so the fake's scripted answers meet the letters in a known order.
  worker = runMain('worker', {
    REDIS_URL: h.t.url,
    REDIS_PREFIX: h.t.prefix,
    SENDGRID_API_KEY: fake.apiKey,
    SENDGRID_API_URL: fake.url,
    WORKER_CONCURRENCY: '1',
    SEND_RATE_PER_SECOND: '10000',
    SEND_ATTEMPTS: String(ATTEMPTS),
    SEND_BACKOFF_MS: '100',
    SEND_TIMEOUT_MS: String(TIMEOUT_MS),
    PACING: 'off',
    LOG_LEVEL: 'info',
  });
  await worker.waitForLog(/^worker: delivering letters/);
});
afterAll(async () => {
  await worker?.stop('SIGTERM', 10_000);
  await h.close();
  await fake.close();
});
beforeEach(() => {
  fake.requests.length = 0;
  worker.lines.length = 0;
});

/** Posts one letter from a new supporter; returns its status token and deliveries. */
async function send(recipients: string[]): Promise<{ token: string; refs: DeliveryRef[] }> {
  n += 1;
  const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: `p${n}@example.net`, recipients })), 303);
  const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
  const letterId = (await h.letters.findByToken(token))!;
  return { token, refs: recipients.map((targetId) => ({ letterId, targetId })) };
}

const allSent = async (refs: DeliveryRef[]) => {
  for (const r of refs) if ((await h.log.get(r.letterId, r.targetId))?.state !== 'sent') return undefined;
  return true;
};

/** The worker's JSON log lines whose message matches. */
const logged = (pattern: RegExp) =>
  worker.lines.flatMap((l) => {
    try {
      const e = JSON.parse(l) as Record<string, unknown>;
      return typeof e.msg === 'string' && pattern.test(e.msg) ? [e] : [];
    } catch {
      return [];
    }
  });

describe('the provider answering 500 for a while, then 429 with a reset time, then timing out', () => {
  it(
    'then letters are retried with backoff, the queue waits for the reset, all end sent once, and each attempt and reason is logged',
    { timeout: 60_000 },
    async () => {
      const began = Date.now();
      const reset = Math.ceil(Date.now() / 1000) + 3;
      fake.script(
        ...Array.from({ length: 4 }, () => ({ status: 500, errors: [{ message: 'Internal server error' }] })),
        { status: 429, headers: { 'x-ratelimit-reset': String(reset) }, errors: [{ message: 'too many requests' }] },
        { hang: true },
        { hang: true },
      );
      const refs: DeliveryRef[] = [];
      for (let i = 0; i < 3; i++) refs.push(...(await send(['gz-psb', 'gz-procuratorate'])).refs);
      await eventually(() => allSent(refs), 40_000, 100);
      const drainedMs = Date.now() - began;

      const t = await tally(fake.accepted(), h.log, refs);
      const retries = logged(/^delivery attempt failed; will retry$/);
      const rateLimited = logged(/^mail provider rate limit: pausing the queue$/);
      const requests = fake.requests;
      const i429 = 4;
      const after429 = requests[i429 + 1]!;
      const waitedMs = after429.at - requests[i429]!.at;
      // Backoff: each retried letter's next request came later than the one before, by at least half the first delay.
      const gaps: number[] = [];
      for (const r of refs) {
        const times = requests.filter((q) => q.body.custom_args!.letter === r.letterId && q.body.custom_args!.target === r.targetId).map((q) => q.at);
        for (let i = 1; i < times.length; i++) gaps.push(times[i]! - times[i - 1]!);
      }
      recordMeasurement({
        id: '04-provider-500-429-timeout',
        fault: 'Provider: 500s, then 429 with reset, then timeouts',
        method: `3 letters to 2 recipients; a worker process (concurrency 1, SEND_BACKOFF_MS=100, SEND_TIMEOUT_MS=${TIMEOUT_MS}, SEND_ATTEMPTS=${ATTEMPTS}); the fake answers 500 four times, 429 with X-RateLimit-Reset 3 s ahead, then hangs twice past the client timeout, then accepts.`,
        lettersAccepted: 3,
        ...fromTally(t),
        recoverMs: drainedMs,
        recoverWhat: 'first letter to all sent',
        extra: {
          'provider requests': requests.length,
          'retries logged (with reason)': retries.length,
          'queue wait after 429 (ms)': waitedMs,
          'shortest gap between two attempts of a letter (ms)': Math.min(...gaps),
        },
        durationMs: Date.now() - began,
      });

      expect(t.lost).toEqual([]);
      expect(t.duplicates).toBe(0);
      expect(requests).toHaveLength(6 + 4 + 1 + 2);
      // The 429 pauses the whole queue: nothing reaches the provider before the reset time.
      expect(after429.at).toBeGreaterThanOrEqual(Math.max(reset * 1000, requests[i429]!.at + 1000) - 100);
      expect(rateLimited).toHaveLength(1);
      expect(rateLimited[0]).toMatchObject({ status: 429, reason: expect.stringContaining('(429)') });
      expect(Number(rateLimited[0]!.waitMs)).toBeGreaterThanOrEqual(1000);
      // Six failed attempts, six log lines with attempt number and reason (a 429 costs no attempt).
      expect(retries).toHaveLength(6);
      expect(retries.filter((e) => e.status === 500 && String(e.reason).includes('(500)'))).toHaveLength(4);
      expect(retries.filter((e) => e.status === undefined && /Could not reach the mail provider/.test(String(e.reason)))).toHaveLength(2);
      for (const e of retries) expect(e.attempt).toBeGreaterThanOrEqual(1);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(40);
      // The delivery log keeps each attempt's count and the transitions with their reasons.
      const attempts = await Promise.all(refs.map(async (r) => (await h.log.get(r.letterId, r.targetId))!.attempts));
      expect(attempts.reduce((a, b) => a + b, 0)).toBe(6 + 6);
      const reasons = (await h.log.recent(SHIPPED_CAMPAIGN, 200)).filter((e) => e.event === 'transient-error').map((e) => e.error);
      expect(reasons.filter((r) => r.includes('(500)'))).toHaveLength(4);
      expect(reasons.filter((r) => r.includes('Could not reach the mail provider'))).toHaveLength(2);
    },
  );
});

describe('the provider accepting a send but the connection dropping before its answer', () => {
  it(
    'then the letter is retried and sent twice at most once per lost answer, and each such letter is flagged on its status page',
    { timeout: 30_000 },
    async () => {
      const began = Date.now();
      const drops = 2;
      fake.script(...Array.from({ length: drops }, () => ({ acceptThenDrop: true as const })));
      const letters = [];
      for (let i = 0; i < 4; i++) letters.push(await send(['gz-psb']));
      const refs = letters.flatMap((l) => l.refs);
      await eventually(() => allSent(refs), 20_000, 100);
      const t = await tally(fake.accepted(), h.log, refs);
      const flaggedRetries = logged(/^delivery attempt failed; will retry$/).filter((e) => e.possibleDuplicate === true);
      recordMeasurement({
        id: '05-provider-accept-then-drop',
        fault: 'Provider accepts, connection drops before the answer',
        method: `4 letters; the fake accepts the first ${drops} sends (counting them as sent) and closes the connection before answering; the worker retries.`,
        lettersAccepted: 4,
        ...fromTally(t),
        extra: { 'answers lost after accepting': drops, 'retries logged as possible duplicates': flaggedRetries.length },
        durationMs: Date.now() - began,
      });

      expect(t.lost).toEqual([]);
      // Each answer lost after the provider accepted makes exactly one extra copy (a retry may meet the next lost answer, so one
      // letter can go three times): the copies equal the lost answers, at most SEND_ATTEMPTS - 1 per letter.
      expect(t.duplicates).toBe(drops);
      expect(t.duplicated.length).toBeGreaterThanOrEqual(1);
      expect(t.flagged.sort()).toEqual(t.duplicated.sort());
      expect(flaggedRetries).toHaveLength(drops);
      for (const l of letters) {
        const page = await request(h.app).get(`/letters/${l.token}`).expect(200);
        const twice = t.duplicated.includes(`${l.refs[0]!.letterId}/gz-psb`);
        expect(page.text.includes('may receive your letter twice')).toBe(twice);
      }
    },
  );
});

describe('a poisoned job: a payload that fails validation, and a letter deleted while its job waited', () => {
  it('then each fails once with a clear reason and the letters behind them are sent', { timeout: 30_000 }, async () => {
    const began = Date.now();
    await h.queue.pause();
    const bad = await h.queue.add('deliver', { campaign: SHIPPED_CAMPAIGN, letterId: 'not-a-letter-id', targetId: 'gz-psb' }, { jobId: 'poisoned' });
    const deleted = await send(['gz-procuratorate']);
    expect(await h.letters.purge(deleted.refs[0]!.letterId)).toBe(true);
    const refs: DeliveryRef[] = [];
    for (let i = 0; i < 3; i++) refs.push(...(await send(['gz-psb', 'gz-procuratorate'])).refs);
    const resumed = Date.now();
    await h.queue.resume();
    await eventually(() => allSent(refs), 20_000, 50);
    const drainedMs = Date.now() - resumed;

    const failed = await h.queue.getFailed();
    const badJob = failed.find((j) => j.id === bad.id);
    const deletedJob = failed.find((j) => j.id === deliveryJobId(deleted.refs[0]!.letterId, 'gz-procuratorate', 0));
    const t = await tally(fake.accepted(), h.log, refs);
    recordMeasurement({
      id: '07-poisoned-job',
      fault: 'Poisoned job (invalid payload; letter deleted meanwhile)',
      method:
        'With the queue paused: a job whose payload fails validation, then a letter that is deleted while its job waits, then 3 valid letters to 2 recipients; the queue is resumed (worker concurrency 1, FIFO).',
      lettersAccepted: 4,
      ...fromTally(t),
      recoverMs: drainedMs,
      recoverWhat: 'resume to the valid letters all sent',
      extra: {
        'poisoned jobs failed': failed.length,
        'attempts of the poisoned jobs': [badJob?.attemptsMade, deletedJob?.attemptsMade].join(' and '),
        'provider requests': fake.requests.length,
      },
      durationMs: Date.now() - began,
    });

    expect(t.lost).toEqual([]);
    expect(t.duplicates).toBe(0);
    expect(fake.requests).toHaveLength(refs.length);
    expect(badJob).toMatchObject({ attemptsMade: 1, failedReason: expect.stringMatching(/^Invalid delivery job payload/) });
    expect(deletedJob).toMatchObject({ attemptsMade: 1, failedReason: 'The letter no longer exists (it was deleted).' });
    expect(await h.queue.getJobCounts('active', 'wait', 'delayed')).toEqual({ active: 0, wait: 0, delayed: 0 });
  });
});
