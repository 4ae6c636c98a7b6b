import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { systemClock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { LetterStore } from '../../domain/letter-store.js';
import { fixtureTarget } from '../support/campaign-fixture.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { formEncode, validForm } from '../support/forms.js';
import { eventually, SHIPPED_CAMPAIGN } from '../support/harness.js';
import { runMain, type RunningProcess } from '../support/processes.js';
import { testRedis, type TestRedis } from '../support/redis.js';

// Scale-out: two web and three worker processes (the real program) on one Redis prefix. Letters are
// written through both web processes (each form opened on one and posted to the other, as behind a
// load balancer); every letter reaches every recipient exactly once, and the global send rate and a
// recipient's pace hold across all three workers.

const RATE = 40; // SEND_RATE_PER_SECOND: BullMQ's limiter, a fixed window of 1000 ms shared by all workers
const SLOW_INTERVAL = 500; // perHour 7200: the planner spaces the slow recipient's slots 500 ms apart
const SLOW_GAP = SLOW_INTERVAL / 2; // the send guard's hard minimum between two sends to it (jobs/deliver-letter.ts)
const SLOW_LETTERS = 16;
const OTHER_LETTERS = 164;

/** A copy of the shipped campaign with three recipients: "slow" paced at 7200 an hour, "fast1" and "fast2" unpaced. */
function campaignDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scale-out-campaigns-'));
  const to = path.join(dir, SHIPPED_CAMPAIGN);
  cpSync(path.join(APP_ROOT, 'templates', 'campaigns', SHIPPED_CAMPAIGN), to, { recursive: true });
  const file = path.join(to, 'campaign.json');
  const campaign = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  campaign.pacing = { perHour: null, perDay: null, timezone: 'UTC', officeHours: null, jitter: 0 };
  delete campaign.confirmWriters;
  writeFileSync(file, JSON.stringify(campaign));
  writeFileSync(
    path.join(to, 'targets.json'),
    JSON.stringify([fixtureTarget('slow', { pacing: { perHour: 3_600_000 / SLOW_INTERVAL } }), fixtureTarget('fast1'), fixtureTarget('fast2')]),
  );
  return dir;
}

/** Opens the form on `from` and posts it to `to` with the given supporter and recipients; returns the status. */
async function writeLetter(from: string, to: string, email: string, recipients: string[]): Promise<number> {
  const page = await fetch(`${from}/c/${SHIPPED_CAMPAIGN}`);
  const html = await page.text();
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
  const cookie = page.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const res = await fetch(`${to}/c/${SHIPPED_CAMPAIGN}/letters`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: formEncode({
      ...validForm({ email, recipients, country: 'FR' }),
      _csrf: field('_csrf'),
      startedAt: field('startedAt'),
      submission: field('submission'),
    }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The most sends any sliding window of `ms` holds. */
function busiest(times: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('two web and three worker processes on one Redis', () => {
  let t: TestRedis;
  let fake: FakeSendGrid;
  let dir: string;
  const processes: RunningProcess[] = [];
  beforeAll(async () => {
    t = testRedis('scale-out');
    fake = await startFakeSendGrid();
    dir = campaignDir();
  });
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGTERM', 10_000)));
    await fake.close();
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("when 180 letters are written through both web processes, then every recipient gets each exactly once and neither the global rate nor the slow recipient's pace is ever exceeded", async () => {
    const env = {
      REDIS_URL: t.url,
      REDIS_PREFIX: t.prefix,
      CAMPAIGNS_DIR: dir,
      PORT: '0',
      SENDGRID_API_KEY: fake.apiKey,
      SENDGRID_API_URL: fake.url,
      SESSION_SECRET: 'scale-out-secret-scale-out-secret-0123',
      SEND_RATE_PER_SECOND: String(RATE),
      WORKER_CONCURRENCY: '4',
      PACING: 'on',
      FORM_MIN_FILL_SECONDS: '0',
      FORM_LIMIT_PER_IP: '100000',
      FORM_LIMIT_PER_EMAIL: '1000',
    };
    const webs = [runMain('web', env), runMain('web', env)];
    const workers = [runMain('worker', env), runMain('worker', env), runMain('worker', env)];
    processes.push(...webs, ...workers);
    const bases = (await Promise.all(webs.map((w) => w.waitForLog(/^web: listening/, 30_000)))).map((l) => `http://127.0.0.1:${String(l.port)}`);
    await Promise.all(workers.map((w) => w.waitForLog(/^worker: delivering letters/, 30_000)));

    // Letters i open their form on one web process and post it to the other.
    const letters = Array.from({ length: SLOW_LETTERS + OTHER_LETTERS }, (_, i) => ({
      email: `scale${i}@example.net`,
      recipients: i % 7 === 0 && i / 7 < SLOW_LETTERS ? ['slow', 'fast1'] : ['fast1', 'fast2'],
    }));
    expect(letters.filter((l) => l.recipients.includes('slow'))).toHaveLength(SLOW_LETTERS);
    let next = 0;
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < letters.length) {
          const i = next++;
          statuses.push(await writeLetter(bases[i % 2]!, bases[(i + 1) % 2]!, letters[i]!.email, letters[i]!.recipients));
        }
      }),
    );
    expect(statuses.filter((s) => s === 303)).toHaveLength(letters.length);

    const deliveries = letters.reduce((n, l) => n + l.recipients.length, 0);
    const log = new DeliveryLog(t.redis, t.keys, systemClock, 1_000_000);
    const letterStore = new LetterStore(t.redis, t.keys, systemClock);
    await eventually(async () => ((await log.counts(SHIPPED_CAMPAIGN)).byState.sent === deliveries ? true : undefined), 40_000, 200);
    await new Promise((r) => setTimeout(r, 300));

    // Exactly once: one request per letter and recipient, and the letters the web processes stored are the ones sent.
    const sent = fake.requests.map((r) => `${r.body.custom_args!.letter}/${r.body.custom_args!.target}`);
    expect(sent).toHaveLength(deliveries);
    expect(new Set(sent).size).toBe(deliveries);
    const stored = await t.redis.zrange(t.keys.letterIndex(SHIPPED_CAMPAIGN), 0, -1);
    expect(stored).toHaveLength(letters.length);
    const expected = (await Promise.all(stored.map(async (id) => (await letterStore.get(id))!.recipients.map((target) => `${id}/${target}`)))).flat();
    expect(new Set(sent)).toEqual(new Set(expected));

    // The slow recipient's pace is decided by the send guard, atomically in Redis for all workers, which
    // records each send it admits: those records must be a full SLOW_GAP apart, with no tolerance.
    const records = await t.redis.zrange(t.keys.sends(SHIPPED_CAMPAIGN, 'slow'), 0, -1, 'WITHSCORES');
    const admittedAt = new Map<string, number>();
    for (let i = 0; i < records.length; i += 2) admittedAt.set(records[i]!.split(':')[0]!, Number(records[i + 1]));
    const admitted = [...admittedAt.values()].sort((a, b) => a - b);
    expect(admitted).toHaveLength(SLOW_LETTERS);
    for (let i = 1; i < admitted.length; i++) expect(admitted[i]! - admitted[i - 1]!).toBeGreaterThanOrEqual(SLOW_GAP);
    // Every send the provider got for it was admitted, before it arrived. The lag (render, HTTP, and on a
    // loaded machine, waiting for a core) is measured, not assumed, and is the tolerance below.
    const slowSends = fake.requests.filter((r) => r.body.custom_args!.target === 'slow');
    const lags = slowSends.map((r) => r.at - admittedAt.get(r.body.custom_args!.letter!)!);
    expect(lags.every((lag) => lag >= 0)).toBe(true);
    const maxLag = Math.max(...lags);
    expect(maxLag).toBeLessThan(1000);
    // At the provider, any 1000 ms holds sends admitted within 1000 ms + maxLag, so at most that span / SLOW_GAP + 1.
    const slowTimes = slowSends.map((r) => r.at).sort((a, b) => a - b);
    expect(busiest(slowTimes, 1000)).toBeLessThanOrEqual(Math.floor((1000 + maxLag) / SLOW_GAP) + 1);

    // The global cap: BullMQ admits at most RATE jobs per fixed 1000 ms window (a window opens with the
    // first job after the last one closed), so N sends need at least ceil(N / RATE) windows. Receive times
    // lag the admissions by under a second (as measured above), so any 1000 ms at the provider holds jobs
    // admitted within under 2000 ms, which overlap at most three windows; and the whole drain spans at
    // least ceil(N / RATE) - 1 windows less one second of lag. Without the cap the drain takes a second or two.
    const times = fake.requests.map((r) => r.at).sort((a, b) => a - b);
    expect(times[times.length - 1]! - times[0]!).toBeGreaterThanOrEqual((Math.ceil(deliveries / RATE) - 2) * 1000);
    expect(busiest(times, 1000)).toBeLessThanOrEqual(3 * RATE);

    // Redis Cluster readiness: every key the five processes wrote (queues, limiters, letters) carries the one hash tag.
    const written: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await t.redis.scan(cursor, 'MATCH', `*${t.prefix}*`, 'COUNT', 1000);
      cursor = next;
      written.push(...found);
    } while (cursor !== '0');
    expect(written.length).toBeGreaterThan(letters.length);
    expect(written.filter((k) => !k.startsWith(`{${t.prefix}}:`))).toEqual([]);

    // All three workers took part.
    const perWorker = workers.map((w) => w.lines.filter((l) => l.includes('"msg":"letter sent"')).length);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(deliveries);
    expect(Math.min(...perWorker)).toBeGreaterThan(0);
  }, 90_000);
});
