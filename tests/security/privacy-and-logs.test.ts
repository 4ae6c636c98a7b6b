import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { systemClock } from '../../domain/clock.js';
import type { OutgoingEmail } from '../../domain/letter-email.js';
import type { MailTransport } from '../../jobs/transports/mail-transport.js';
import { createSendGridTransport } from '../../jobs/transports/sendgrid-transport.js';
import { createWorker, emailTemplatesDir, type DeliveryWorker } from '../../jobs/worker.js';
import { createApp } from '../../server/app.js';
import { REDACT_PATHS } from '../../server/logger.js';
import { ADMIN_ENV, loginAsAdmin } from '../support/admin.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { formFields } from '../support/forms.js';
import { createHarness, eventually, formEncode, type Harness, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// Logs, job payloads and provider tags must carry ids, never who wrote what. The web app and a real
// worker log at the most verbose level to an in-memory stream, with the production redactions, while
// supporters write, refused forms come back, the provider fails in several ways and the dashboard is used.

const API_KEY = 'SG.privacy-probe-api-key.ZZ9PluralZAlpha';
const SUPPORTER = {
  firstName: 'Zoeprobe',
  lastName: 'Quillfeather',
  email: 'zoe.quillfeather-probe@example.net',
  subject: 'Subject-probe-5521 about the two defenders',
  body: 'unmistakable-letter-phrase-7731: please release Huang Xueqin and Wang Jianbing now.',
};
const SECOND = { firstName: 'Xavierprobe', lastName: 'Ottolinefield', email: 'xavier.ottoline-probe@example.net' };
const CLIENT_IP = '198.51.100.23';

/** Every log line written, parsed. */
const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});
/** The production logger's settings (server/logger.ts), at the most verbose level, writing to memory. */
const logger: Logger = pino({ level: 'trace', name: 'security-privacy', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);

let fake: FakeSendGrid;
let h: Harness;
let app: Harness['app'];
let worker: DeliveryWorker | undefined;
/** Status-link tokens seen: on redirects, and in the status-link email. */
const tokens: string[] = [];
/** Every BullMQ key and value, captured while the jobs still exist. */
const bullSnapshots: string[] = [];

/** The sends the worker will make: the first one fails with an unclassified, library-style error carrying the key and the letter. */
let rawFailures = 1;
function transport(): MailTransport {
  const sendgrid = createSendGridTransport({ apiKey: API_KEY, apiUrl: fake.url, timeoutMs: 5000, sandbox: false });
  return {
    name: 'sendgrid',
    async send(email: OutgoingEmail) {
      if (rawFailures-- > 0) {
        // What an HTTP client error looks like: the request (with its Authorization header and body) attached.
        throw Object.assign(new Error('Request failed with status code 502'), {
          code: 'ERR_BAD_RESPONSE',
          config: { headers: { Authorization: `Bearer ${API_KEY}` }, data: JSON.stringify({ reply_to: email.replyTo, content: email.text }) },
          request: { headers: { authorization: `Bearer ${API_KEY}` } },
          response: { status: 502, body: { errors: [{ message: 'Bad gateway' }] } },
        });
      }
      return sendgrid.send(email);
    },
  };
}

async function dumpKeys(match: string): Promise<string[]> {
  const r = h.t.redis;
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await r.type(key);
      const value =
        type === 'hash'
          ? await r.hgetall(key)
          : type === 'string'
            ? await r.get(key)
            : type === 'list'
              ? await r.lrange(key, 0, -1)
              : type === 'zset'
                ? await r.zrange(key, 0, -1)
                : type === 'set'
                  ? await r.smembers(key)
                  : type === 'stream'
                    ? await r.xrange(key, '-', '+')
                    : type;
      out.push(`${key} ${JSON.stringify(value)}`);
    }
  } while (cursor !== '0');
  return out;
}
const snapshotBull = async () => bullSnapshots.push(...(await dumpKeys(`{${h.t.prefix}}:bull*`)));

/** Posts a form from a browser with the given cookie jar (a fresh one when undefined), from CLIENT_IP. */
async function post(form: Record<string, string | string[]>, cookie?: string) {
  const page = await formFields(app, SHIPPED_CAMPAIGN, cookie);
  const res = await request(app)
    .post(`/c/${SHIPPED_CAMPAIGN}/letters`)
    .set('Cookie', page.cookie)
    .set('X-Forwarded-For', CLIENT_IP)
    .type('form')
    .send(formEncode({ ...page.fields, ...form }));
  const token = /^\/letters\/([A-Za-z0-9_-]{48})\/sent$/.exec(res.headers.location ?? '')?.[1];
  if (token) tokens.push(token);
  return { res, cookie: [page.cookie, ...((res.headers['set-cookie'] as unknown as string[] | undefined) ?? []).map((c) => c.split(';')[0]!)].join('; ') };
}

function startWorker() {
  worker = createWorker({
    connection: h.t.workerConnection(),
    keys: h.t.keys,
    logger,
    campaigns: h.campaigns,
    transport: transport(),
    clock: systemClock,
    settings: {
      concurrency: 2,
      ratePerSecond: 1000,
      retry: h.config.delivery,
      mailFrom: h.config.mail.from,
      publicUrl: h.config.publicUrl,
      emailTemplatesDir: emailTemplatesDir(APP_ROOT),
      maxDigestBytes: h.config.digestMaxBytes,
      eventLogMax: h.config.eventLogMax,
      pacing: h.config.delivery.pacing,
      retentionDays: h.config.retentionDays,
    },
  });
}

beforeAll(async () => {
  fake = await startFakeSendGrid(API_KEY);
  h = createHarness('security-privacy', {
    env: { ...ADMIN_ENV, MAIL_TRANSPORT: 'sendgrid', SENDGRID_API_KEY: API_KEY, SENDGRID_API_URL: fake.url, SEND_ATTEMPTS: '3', LOG_LEVEL: 'trace' },
  });
  // The same dependencies as the harness's app, logging to memory instead of nowhere.
  app = createApp({ ...h.deps, logger });

  // 1. A supporter writes to three recipients and looks at their pages.
  const first = await post(validForm({ ...SUPPORTER, recipients: ['gz-psb', 'gz-procuratorate', 'embassy-fr'] }));
  expect(first.res.status).toBe(303);
  const token = tokens[0]!;
  await request(app).get(`/letters/${token}/sent`).set('Cookie', first.cookie).expect(200);
  await request(app).get(`/letters/${token}`).set('X-Forwarded-For', CLIENT_IP).expect(200);
  await request(app)
    .get(`/letters/${token}?ref=${encodeURIComponent(SUPPORTER.email)}`)
    .expect(200);
  await request(app).get(`/letters/${token}/delete`);

  // 2. Refused forms, each carrying the same personal data.
  expect((await post(validForm({ ...SUPPORTER, country: 'XX' }))).res.status).toBe(422);
  expect((await post({ ...validForm({ ...SUPPORTER }), website: SUPPORTER.email })).res.status).toBe(422);
  const noToken = await request(app)
    .post(`/c/${SHIPPED_CAMPAIGN}/letters`)
    .type('form')
    .send(formEncode(validForm({ ...SUPPORTER })));
  expect(noToken.status).toBe(403);
  expect((await post(validForm({ ...SUPPORTER, body: `${SUPPORTER.body} ${'x'.repeat(300_000)}` }))).res.status).toBe(413);
  await snapshotBull();

  // 3. The worker sends them while the provider fails: a library error, a 500, then a 400.
  fake.script(
    { status: 500, errors: [{ message: 'Internal error' }] },
    { status: 400, errors: [{ message: 'Does not contain a valid address.', field: 'reply_to.email' }] },
  );
  startWorker();
  const letterId = (await h.letters.findByToken(token))!;
  await eventually(async () => {
    const l = await h.letters.get(letterId);
    return l && l.deliveries.every((d) => d.record.state === 'sent' || d.record.state === 'failed') ? true : undefined;
  }, 15_000);

  // 4. The same supporter writes again from another browser: refused, and a status link is emailed to them.
  expect((await post(validForm({ ...SUPPORTER, recipients: ['gz-psb'] }))).res.status).toBe(409);
  const linkMail = await eventually(async () => fake.requests.find((r) => r.body.custom_args?.kind === 'status-link'), 15_000);
  tokens.push(...[...linkMail.body.content[0]!.value.matchAll(/\/letters\/([A-Za-z0-9_-]{48})/g)].map((m) => m[1]!));
  await snapshotBull();

  // 5. The provider refuses the account (401): all sending pauses, with the reason logged.
  fake.script({ status: 401, errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked' }] });
  expect((await post(validForm({ ...SECOND, recipients: ['embassy-gb'] }))).res.status).toBe(303);
  await eventually(async () => ((await h.control.status([SHIPPED_CAMPAIGN])).paused ? true : undefined), 15_000);
  await snapshotBull();

  // 6. A campaigner logs in, looks at the dashboard and exports the log with personal data.
  const admin = await loginAsAdmin(app);
  await admin.get(`/admin/c/${SHIPPED_CAMPAIGN}`).expect(200);
  await admin.get(`/admin/c/${SHIPPED_CAMPAIGN}/export.csv?personal=1`).expect(200);
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await h.close();
  await fake.close();
});

/** Everything that must never be in a log line. */
const secrets = () => [
  SUPPORTER.firstName,
  SUPPORTER.lastName,
  SUPPORTER.email,
  SUPPORTER.email.split('@')[0]!,
  'Subject-probe-5521',
  'unmistakable-letter-phrase-7731',
  SECOND.firstName,
  SECOND.lastName,
  SECOND.email,
  API_KEY,
  'privacy-probe-api-key',
  'Bearer ',
  CLIENT_IP,
  ...tokens,
];

describe('the logs', () => {
  it('when supporters write, forms are refused, pages are viewed and the dashboard is used, then the logs say so (the capture works)', () => {
    const parsed = lines.map((l) => JSON.parse(l) as { msg?: string; res?: { statusCode?: number }; req?: { path?: string } });
    const statuses = new Set(parsed.map((l) => l.res?.statusCode).filter(Boolean));
    for (const s of [200, 303, 403, 409, 413, 422]) expect(statuses, `a request log with status ${s}`).toContain(s);
    const messages = parsed.map((l) => l.msg ?? '');
    expect(messages).toContain('letter refused by a form guard');
    expect(messages).toContain('letter sent');
    expect(messages.some((m) => m.startsWith('all sending paused'))).toBe(true);
    expect(messages).toContain('status link emailed to the writer');
    expect(messages).toContain('campaigner logged in');
    expect(parsed.some((l) => l.req?.path === '/letters/:token')).toBe(true);
    // The worker reported failed attempts (the library error, the 500, the 400).
    expect(messages.filter((m) => /failed|retry/.test(m)).length).toBeGreaterThanOrEqual(2);
  });

  it('when every log line is read, then none carries the supporter’s email, names, subject, letter, status token, IP address or the SendGrid API key', () => {
    expect(lines.length).toBeGreaterThan(20);
    for (const secret of secrets()) {
      const leaking = lines.filter((l) => l.includes(secret));
      expect(leaking, `log lines containing ${JSON.stringify(secret)}`).toEqual([]);
    }
  });
});

describe('secret links in request logs', () => {
  it('when a double opt-in confirmation link (/confirm/<token>) is opened, then its token is not written to the request log', async () => {
    // A token of the shape the confirmation email carries; whether it is still valid does not change what is logged.
    const confirmToken = 'ConfirmProbeToken_0123456789abcd';
    expect(confirmToken).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await request(app).get(`/confirm/${confirmToken}`);
    await request(app).post(`/confirm/${confirmToken}`).type('form').send({});
    const logged = lines.filter((l) => (JSON.parse(l) as { req?: unknown }).req !== undefined);
    expect(logged.some((l) => l.includes('/confirm/'))).toBe(true);
    expect(lines.filter((l) => l.includes(confirmToken))).toEqual([]);
  });
});

describe('job payloads and provider tags', () => {
  it('when jobs are read from BullMQ (data, options, results, failure reasons), then they carry ids only', async () => {
    const now = await dumpKeys(`{${h.t.prefix}}:bull*`);
    const all = [...bullSnapshots, ...now];
    expect(all.some((l) => l.includes('"data"'))).toBe(true);
    for (const secret of secrets())
      expect(
        all.filter((l) => l.includes(secret)),
        JSON.stringify(secret),
      ).toEqual([]);

    const jobs = await h.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized', 'wait']);
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) {
      for (const [k, v] of Object.entries(job.data as unknown as Record<string, unknown>)) {
        expect(['l', 't', 'campaign', 'letterId', 'targetId', 'targetIds', 'period', 'requestId'], k).toContain(k);
        // Slugs and ids (letter ids are base64url).
        for (const one of Array.isArray(v) ? v : [v]) expect(String(one), k).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
      }
    }
  });

  it('when letters go to SendGrid, then custom_args carry the campaign, letter and recipient ids only', () => {
    expect(fake.requests.length).toBeGreaterThanOrEqual(4);
    for (const r of fake.requests) {
      const args = r.body.custom_args ?? {};
      expect(Object.keys(args).length).toBeGreaterThan(0);
      for (const [k, v] of Object.entries(args)) {
        expect(['campaign', 'letter', 'target', 'kind', 'digest', 'part'], k).toContain(k);
        expect(v, k).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
      }
      for (const secret of secrets()) expect(JSON.stringify(args)).not.toContain(secret);
    }
  });
});
