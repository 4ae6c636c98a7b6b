import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { LetterStore } from '../../domain/letter-store.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { eventually, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { freePort } from '../support/private-redis.js';
import { runMain, type RunningProcess } from '../support/processes.js';
import { testRedis, type TestRedis } from '../support/redis.js';
import { explainLost, fromTally, recordMeasurement, tally, type DeliveryRef } from '../support/reliability-results.js';
import { openForm, postForm } from '../support/web-supporter.js';

// Load: 200 supporters at once, each opening the form and sending a letter over and over, against a
// web process while a worker process drains: no error, no letter lost. RELIABILITY_LOAD_SECONDS sets
// the duration (default 60, as the issue asks) and RELIABILITY_SUPPORTERS the number of supporters.

const SECONDS = Number(process.env.RELIABILITY_LOAD_SECONDS ?? 60);
const SUPPORTERS = Number(process.env.RELIABILITY_SUPPORTERS ?? 200);
const RECIPIENTS = ['gz-psb', 'gz-procuratorate'];
const DRAIN_LIMIT_MS = 120_000;

let t: TestRedis;
let fake: FakeSendGrid;
const processes: RunningProcess[] = [];
let base = '';

beforeAll(async () => {
  t = testRedis('rel-load');
  fake = await startFakeSendGrid();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // Production mode, as deployed (cached views, secure cookies); the provider is the local fake.
  const common = {
    NODE_ENV: 'production',
    PUBLIC_URL: base,
    SESSION_SECRET: 'reliability-load-test-session-secret-0123456789',
    MAIL_FROM: 'letters@example.org',
    SENDGRID_API_KEY: fake.apiKey,
    SENDGRID_API_URL: fake.url,
    REDIS_URL: t.url,
    REDIS_PREFIX: t.prefix,
    PACING: 'off',
    // Every post comes from 127.0.0.1 within seconds of opening the page: the form's limits and its
    // "too fast for a person" check would refuse the test's supporters, so they are lifted here.
    FORM_MIN_FILL_SECONDS: '0',
    FORM_LIMIT_PER_IP: '1000000',
    FORM_LIMIT_PER_EMAIL: '1000',
    LOG_LEVEL: 'warn',
  };
  processes.push(runMain('web', { ...common, PORT: String(port) }));
  processes.push(runMain('worker', { ...common, WORKER_CONCURRENCY: '16', SEND_RATE_PER_SECOND: '10000' }));
  await eventually(async () => ((await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined), 20_000, 100);
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGTERM', 10_000)));
  await fake.close();
  await t.cleanup();
});

describe(`${SUPPORTERS} supporters writing at once for ${SECONDS} s while a worker drains`, () => {
  it('then every request gets its expected answer and every accepted letter is sent', { timeout: SECONDS * 1000 + DRAIN_LIMIT_MS + 30_000 }, async () => {
    const began = Date.now();
    const end = began + SECONDS * 1000;
    const tokens: string[] = [];
    const errors: string[] = [];
    const postMs: number[] = [];
    let requests = 0;
    await Promise.all(
      Array.from({ length: SUPPORTERS }, async (_, s) => {
        for (let i = 0; Date.now() < end; i++) {
          try {
            requests += 2;
            const opened = await openForm(base, SHIPPED_CAMPAIGN);
            const t0 = Date.now();
            const res = await postForm(base, SHIPPED_CAMPAIGN, opened, validForm({ email: `s${s}.${i}@example.net`, recipients: RECIPIENTS }));
            postMs.push(Date.now() - t0);
            if (res.status === 303 && res.token) tokens.push(res.token);
            else errors.push(`POST ${res.status}: ${res.text.slice(0, 120)}`);
          } catch (err) {
            errors.push(String((err as Error).message));
          }
        }
      }),
    );
    const loadMs = Date.now() - began;

    const letters = new LetterStore(t.redis, t.keys, systemClock);
    const log = new DeliveryLog(t.redis, t.keys, systemClock);
    const drainStart = Date.now();
    const expected = tokens.length * RECIPIENTS.length;
    await eventually(async () => ((await log.counts(SHIPPED_CAMPAIGN)).byState.sent >= expected ? true : undefined), DRAIN_LIMIT_MS, 250).catch(
      () => undefined,
    );
    const drainMs = Date.now() - drainStart;
    const refs: DeliveryRef[] = [];
    const unknownTokens: string[] = [];
    for (const token of tokens) {
      const letterId = await letters.findByToken(token);
      if (!letterId) unknownTokens.push(token);
      else for (const targetId of RECIPIENTS) refs.push({ letterId, targetId });
    }
    const result = await tally(fake.accepted(), log, refs);
    const sorted = [...postMs].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
    recordMeasurement({
      id: '08-load',
      fault: `Load: ${SUPPORTERS} concurrent supporters for ${SECONDS} s during a drain`,
      method: `${SUPPORTERS} supporters in the test process, each opening the campaign page and posting a letter to ${RECIPIENTS.length} recipients (a new email address each time) in a loop, against a web process (NODE_ENV=production), while a worker process (concurrency 16, pacing off) sends through the fake provider; form limits lifted (FORM_MIN_FILL_SECONDS=0, FORM_LIMIT_PER_IP=1000000).`,
      lettersAccepted: tokens.length,
      ...fromTally(result),
      lost: result.lost.length + unknownTokens.length,
      recoverMs: drainMs,
      recoverWhat: 'end of load to every letter sent',
      extra: {
        requests,
        errors: errors.length,
        'letters accepted per second': Math.round(tokens.length / (loadMs / 1000)),
        'POST latency p50 / p99 / max (ms)': `${pct(50)} / ${pct(99)} / ${sorted.at(-1) ?? 0}`,
      },
      durationMs: Date.now() - began,
    });

    expect(errors.slice(0, 5)).toEqual([]);
    expect(tokens.length).toBeGreaterThan(0);
    expect(unknownTokens).toEqual([]);
    expect(result.lost, await explainLost(log, result.lost)).toEqual([]);
    expect(result.duplicates).toBe(0);
    expect(result.strays).toBe(0);
  });
});
