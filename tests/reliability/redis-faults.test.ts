import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { LetterStore } from '../../domain/letter-store.js';
import { redisKeys } from '../../domain/redis-keys.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { eventually, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { startPrivateRedis, type PrivateRedisServer } from '../support/private-redis.js';
import { runMain, type RunningProcess } from '../support/processes.js';
import { explainLost, fromTally, recordMeasurement, tally, type DeliveryRef } from '../support/reliability-results.js';
import { formFromPage, openForm, postForm, writeLetter, type PostOutcome } from '../support/web-supporter.js';

// Redis restarted or down under a web process and a worker process. Each test runs its own
// redis-server (append-only file, fsync on every write: see support/private-redis.ts) on a free port,
// so it can be killed and started again without touching the shared Redis.

const PREFIX = 'rel';
const RECIPIENTS = ['gz-psb', 'gz-procuratorate'];
const CONCURRENCY = 8;

let redisServer: PrivateRedisServer | undefined;
let fake: FakeSendGrid | undefined;
let client: Redis | undefined;
const processes: RunningProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL', 5000)));
  client?.disconnect();
  client = undefined;
  await fake?.close();
  fake = undefined;
  await redisServer?.cleanup();
  redisServer = undefined;
});

const commonEnv = (r: PrivateRedisServer) => ({
  REDIS_URL: r.url,
  REDIS_PREFIX: PREFIX,
  PACING: 'off',
  // The form's own guards are tested elsewhere: here they must not refuse the test's quick, repeated posts.
  FORM_MIN_FILL_SECONDS: '0',
  FORM_LIMIT_PER_IP: '100000',
  FORM_LIMIT_PER_EMAIL: '1000',
});

async function startWeb(r: PrivateRedisServer): Promise<string> {
  const web = runMain('web', { ...commonEnv(r), PORT: '0', LOG_LEVEL: 'info' });
  processes.push(web);
  const line = await web.waitForLog(/^web: listening/, 20_000);
  return `http://127.0.0.1:${String(line.port)}`;
}

function startWorker(r: PrivateRedisServer, f: FakeSendGrid): RunningProcess {
  const w = runMain('worker', {
    ...commonEnv(r),
    SENDGRID_API_KEY: f.apiKey,
    SENDGRID_API_URL: f.url,
    WORKER_CONCURRENCY: String(CONCURRENCY),
    SEND_RATE_PER_SECOND: '10000',
    SEND_BACKOFF_MS: '100',
    JOB_LOCK_MS: '4000',
    SEND_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'warn',
  });
  processes.push(w);
  return w;
}

/** `count` letters from distinct supporters, `parallel` at a time; returns every outcome. */
async function writeMany(base: string, count: number, parallel: number, tag: string): Promise<PostOutcome[]> {
  const out: PostOutcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        out.push(await writeLetter(base, SHIPPED_CAMPAIGN, validForm({ email: `${tag}${i}@example.net`, recipients: RECIPIENTS })));
      }
    }),
  );
  return out;
}

async function refsOf(letters: LetterStore, outcomes: PostOutcome[]): Promise<DeliveryRef[]> {
  const refs: DeliveryRef[] = [];
  for (const o of outcomes) {
    const letterId = await letters.findByToken(o.token!);
    if (!letterId) throw new Error(`accepted letter ${o.token} has no record`);
    for (const targetId of RECIPIENTS) refs.push({ letterId, targetId });
  }
  return refs;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const readyz = async (base: string) => (await fetch(`${base}/readyz`)).status;

describe('Redis restarted (append-only file on) in the middle of a drain', () => {
  it(
    'then every letter accepted before the restart is sent, the web and worker reconnect by themselves, and letters written afterwards go too',
    { timeout: 90_000 },
    async () => {
      const began = Date.now();
      redisServer = await startPrivateRedis();
      fake = await startFakeSendGrid('SG.test-key', 20);
      client = new Redis(redisServer.url, { maxRetriesPerRequest: null });
      client.on('error', () => undefined);
      const keys = redisKeys(PREFIX);
      const letters = new LetterStore(client, keys, systemClock);
      const log = new DeliveryLog(client, keys, systemClock);

      const base = await startWeb(redisServer);
      const before = await writeMany(base, 300, 20, 'before');
      expect(before.filter((o) => o.status !== 303).map((o) => o.status)).toEqual([]);
      const beforeRefs = await refsOf(letters, before);

      startWorker(redisServer, fake);
      await eventually(async () => (fake!.accepted().length >= beforeRefs.length / 3 ? true : undefined), 30_000, 20);
      await redisServer.stop('SIGKILL');
      const killedAt = Date.now();
      const acceptedAtKill = fake.accepted().length;
      await new Promise((r) => setTimeout(r, 1000));
      await redisServer.start();
      const restartedAt = Date.now();

      await eventually(async () => ((await readyz(base).catch(() => 0)) === 200 ? true : undefined), 20_000, 50);
      const webBackMs = Date.now() - restartedAt;
      const after = await writeMany(base, 30, 10, 'after');
      expect(after.filter((o) => o.status !== 303).map((o) => o.status)).toEqual([]);
      const refs = [...beforeRefs, ...(await refsOf(letters, after))];

      const sentCount = async () => (await log.counts(SHIPPED_CAMPAIGN)).byState.sent;
      await eventually(async () => ((await sentCount()) === refs.length ? true : undefined), 60_000, 100).catch(() => undefined);
      const drainedMs = Date.now() - restartedAt;
      const t = await tally(fake.accepted(), log, refs);
      recordMeasurement({
        id: '02-redis-restart',
        fault: 'Redis restarted (AOF, fsync always) mid-drain',
        method: `A web and a worker process (concurrency ${CONCURRENCY}) on their own redis-server; 300 letters to 2 recipients written over HTTP (20 at a time); once a third are sent Redis is killed (SIGKILL), started again 1 s later on the same data; then 30 more letters are written.`,
        lettersAccepted: before.length + after.length,
        ...fromTally(t),
        recoverMs: drainedMs,
        recoverWhat: 'Redis back to every letter sent',
        extra: {
          'sent when Redis was killed': acceptedAtKill,
          'Redis back to web ready (ms)': webBackMs,
          'Redis down (ms)': restartedAt - killedAt,
          'letters written after the restart': after.length,
        },
        durationMs: Date.now() - began,
      });

      expect(t.lost, await explainLost(log, t.lost)).toEqual([]);
      expect(t.strays).toBe(0);
      // A send in flight when Redis died is recorded once Redis is back; if its job lock ran out meanwhile it is sent again, flagged.
      expect(t.duplicates).toBeLessThanOrEqual(CONCURRENCY);
      for (const k of t.duplicated) expect(t.flagged).toContain(k);
      expect((await log.counts(SHIPPED_CAMPAIGN)).byState.failed).toBe(0);
    },
  );
});

describe('Redis down while supporters submit', () => {
  it(
    'then the form answers 503 and keeps the text, /readyz fails, and when Redis is back the next submit is accepted without a restart',
    { timeout: 60_000 },
    async () => {
      const began = Date.now();
      redisServer = await startPrivateRedis();
      const base = await startWeb(redisServer);
      const opened = await openForm(base, SHIPPED_CAMPAIGN);
      const body = 'Dear officials, a letter I took an hour to write about 黄雪琴 and 王建兵; please keep it.';
      const form = validForm({ email: 'patient.writer@example.net', body, recipients: RECIPIENTS });

      await redisServer.stop('SIGKILL');
      const downAt = Date.now();
      // For 3 s the supporter keeps pressing "send": every answer is a 503 that keeps the text.
      const whileDown: { status: number; kept: boolean; ms: number }[] = [];
      let page: PostOutcome | undefined;
      while (Date.now() - downAt < 3000) {
        const t0 = Date.now();
        page = await postForm(base, SHIPPED_CAMPAIGN, page ? formFromPage(page.text, [], opened.cookie) : opened, form);
        whileDown.push({ status: page.status, kept: page.text.includes(`>${body}</textarea>`), ms: Date.now() - t0 });
        await sleep(300);
      }
      const refused = page!;
      const ready = await fetch(`${base}/readyz`);
      const readyBody = (await ready.json()) as { checks: { redis: boolean } };
      const health = await fetch(`${base}/healthz`);

      await redisServer.start();
      const upAt = Date.now();
      // Redis is back: the supporter sends again from the page they were shown, every 200 ms until accepted.
      const refusedAfter: number[] = [];
      let accepted: PostOutcome | undefined;
      while (!accepted && Date.now() - upAt < 15_000) {
        const res = await postForm(base, SHIPPED_CAMPAIGN, formFromPage(page!.text, [], opened.cookie), form);
        if (res.status === 303) accepted = res;
        else {
          refusedAfter.push(res.status);
          page = res;
          await sleep(200);
        }
      }
      const acceptedMs = Date.now() - upAt;
      const readyAfter = await readyz(base);

      client = new Redis(redisServer.url, { maxRetriesPerRequest: null });
      client.on('error', () => undefined);
      const letters = new LetterStore(client, redisKeys(PREFIX), systemClock);
      const letterId = accepted?.token ? await letters.findByToken(accepted.token) : undefined;
      const stored = letterId ? await letters.get(letterId) : undefined;
      recordMeasurement({
        id: '03-redis-down-submit',
        fault: 'Redis down while supporters submit',
        method:
          'A web process (no worker) on its own redis-server; a supporter opens the form, Redis is killed, the supporter sends every 0.3 s for 3 s; then Redis is started again and the supporter sends again from the page they were shown, every 0.2 s until accepted.',
        lettersAccepted: accepted ? 1 : 0,
        deliveries: 0,
        sent: 0,
        providerAccepted: 0,
        duplicates: 0,
        flagged: 0,
        lost: stored?.body === body ? 0 : 1,
        recoverMs: acceptedMs,
        recoverWhat: 'Redis back to the letter accepted (303)',
        extra: {
          'sends while down': `${whileDown.length}, answered ${[...new Set(whileDown.map((x) => x.status))].join('/')} in ${Math.max(...whileDown.map((x) => x.ms))} ms at most, text kept in ${whileDown.filter((x) => x.kept).length}`,
          '/readyz while down': ready.status,
          'sends refused after Redis was back': refusedAfter.length,
          'Redis down (ms)': upAt - downAt,
          'letter stored with its text': stored?.body === body ? 'yes' : 'no',
        },
        durationMs: Date.now() - began,
      });

      expect(whileDown.map((x) => x.status)).toEqual(whileDown.map(() => 503));
      expect(whileDown.every((x) => x.kept)).toBe(true);
      expect(refused.retryAfter).toBe('30');
      expect(refused.text).toContain('could not be accepted just now');
      expect(refused.text).toContain('value="patient.writer@example.net"');
      expect(ready.status).toBe(503);
      expect(readyBody.checks.redis).toBe(false);
      expect(health.status).toBe(200);
      // The web process reconnects by itself (it retries every 0.5 s at most); until then the answer stays a 503 that keeps the text.
      expect(refusedAfter.every((x) => x === 503)).toBe(true);
      expect(accepted?.status).toBe(303);
      expect(readyAfter).toBe(200);
      expect(stored?.body).toBe(body);
    },
  );
});
