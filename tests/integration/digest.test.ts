import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryOf } from '../../domain/campaign.js';
import { readDashboard } from '../../domain/campaign-dashboard.js';
import { systemClock } from '../../domain/clock.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';
import type { Job } from 'bullmq';
import { APP_ROOT } from '../../domain/app-root.js';
import { createDigestRenderer } from '../../domain/digest.js';
import type { DeliveryLog } from '../../domain/delivery-log.js';
import type { DigestJob } from '../../jobs/delivery-queue.js';
import { createSendDigestProcessor } from '../../jobs/send-digest.js';
import { emailTemplatesDir } from '../../jobs/worker.js';
import { SendError, type MailTransport } from '../../jobs/transports/mail-transport.js';
import { createSendGridTransport } from '../../jobs/transports/sendgrid-transport.js';
import { startFakeSendGrid } from '../support/fake-sendgrid.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, silentLogger, validForm } from '../support/harness.js';
import { recordingTransport, type RecordingTransport } from '../support/recording-transport.js';

// A recipient in digest mode gets the letters of a period in one email (or a few parts), with a summary.

const campaign = fixtureCampaign(
  {
    pacing: { perHour: null, perDay: null, timezone: 'UTC', officeHours: null, jitter: 0 },
    letter: { subject: 'Release them', closing: 'Yours sincerely,', maxLength: 10000 },
  },
  [
    {
      id: 'prison',
      name: 'The Director',
      title: 'Director',
      institution: "Women's Prison",
      email: 'prison@example.org',
      country: 'all',
      salutation: 'Dear Director',
      language: 'en',
      timezone: 'Asia/Shanghai',
      delivery: 'digest',
      digest: { at: '09:30', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
    },
  ],
);
const campaigns = registryOf([campaign]);

describe('digest delivery', () => {
  let h: Harness;
  let mail: RecordingTransport;
  beforeAll(() => {
    h = createHarness('digest', { campaigns, env: { PACING: 'on', DIGEST_MAX_BYTES: '40000' } });
    mail = recordingTransport();
  });
  afterAll(() => h.close());

  const send = async (email: string, country: string, body: string) => {
    const res = await expectStatus(postLetter(h.app, campaign.slug, validForm({ email, country, recipients: ['prison'], body })), 303);
    return /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
  };

  it('when three supporters write, then their letters wait for one digest, shown as "in the digest of <date>"', async () => {
    const tokens = [
      await send('a@example.net', 'FR', 'Letter from Ana about 黄雪琴.'),
      await send('b@example.net', 'FR', 'Letter from Bea, with respect.'),
      await send('c@example.net', 'DE', 'Letter from Cai, with respect.'),
    ];
    const digestJobs = (await h.queue.getDelayed()).filter((j) => j.name === 'digest');
    expect(digestJobs).toHaveLength(1);
    const letterId = (await h.letters.findByToken(tokens[0]!))!;
    const record = (await h.log.get(letterId, 'prison'))!;
    expect(record.state).toBe('in-digest');
    expect(digestJobs[0]!.data).toMatchObject({ period: record.digestDate });
    const page = await request(h.app).get(`/letters/${tokens[0]}`).expect(200);
    expect(page.text).toMatch(/In the digest of \d{1,2} [A-Z][a-z]+ 2026/);

    h.startWorker(mail);
    await digestJobs[0]!.promote();
    await eventually(async () => (mail.sends.length === 1 ? true : undefined));
    const email = mail.sends[0]!.email;
    expect(email.to.email).toBe('prison@example.org');
    expect(email.subject).toMatch(/^Free the Two: 3 letters from supporters, \d{4}-\d{2}-\d{2}$/);
    expect(email.text).toMatch(/^Dear Director,\n\nThis email brings you 3 letters from supporters in 2 countries, written between/);
    for (const s of [
      'from Ana Lima (France)',
      'Letter from Ana about 黄雪琴.',
      'Letter from Bea, with respect.',
      '(Germany)',
      'Letter from Cai, with respect.',
    ])
      expect(email.text).toContain(s);
    expect(email.customArgs).toEqual({ campaign: campaign.slug, target: 'prison', digest: `${record.digestDate}-r${digestJobs[0]!.timestamp}`, part: '1' });
    for (const t of tokens) {
      const id = (await h.letters.findByToken(t))!;
      const r = await eventually(async () => {
        const x = (await h.log.get(id, 'prison'))!;
        return x.state === 'sent' ? x : undefined;
      });
      expect(r.messageId).toBe(mail.sends[0]!.messageId);
    }
    // The parts are recorded for the provider's events.
    expect(JSON.parse((await h.t.redis.hget(h.t.keys.digestParts(campaign.slug, 'prison', email.customArgs.digest!), '1'))!)).toMatchObject({
      m: mail.sends[0]!.messageId,
    });
  });

  it('when a digest is larger than the size limit, then it is split into parts that each stay under it and carry every letter once', async () => {
    mail.sends.length = 0;
    const tokens: string[] = [];
    for (let i = 0; i < 8; i++)
      tokens.push(await send(`big${i}@example.net`, i % 2 ? 'GB' : 'CA', `Letter ${i}. ${'A long paragraph about the case. '.repeat(150)}`));
    const job = (await h.queue.getDelayed()).find((j) => j.name === 'digest')!;
    await job.promote();
    await eventually(async () => ((await h.t.redis.zcard(h.t.keys.digestPending(campaign.slug, 'prison'))) === 0 ? true : undefined));
    const parts = mail.sends.map((s) => s.email);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    parts.forEach((p, i) => {
      expect(Buffer.byteLength(p.text) + Buffer.byteLength(p.html)).toBeLessThan(40_000);
      expect(p.subject).toContain(`(part ${i + 1} of ${parts.length})`);
      expect(p.text).toContain('This email brings you 8 letters from supporters in 2 countries');
    });
    for (let i = 0; i < 8; i++) expect(parts.filter((p) => p.text.includes(`Letter ${i}. A long`))).toHaveLength(1);
  });
});

describe('a digest whose second part fails', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('digest-retry', { campaigns, env: { PACING: 'on', DIGEST_MAX_BYTES: '40000' } });
  });
  afterAll(() => h.close());

  it('when the run is retried, then every letter is in exactly one email that was really sent', async () => {
    for (let i = 0; i < 6; i++) {
      await expectStatus(
        postLetter(
          h.app,
          campaign.slug,
          validForm({ email: `r${i}@example.net`, recipients: ['prison'], body: `Retry letter ${i}. ${'Words about the case. '.repeat(160)}` }),
        ),
        303,
      );
    }
    const mail = recordingTransport();
    // The first part goes, the second fails once (a 503), then everything goes.
    let calls = 0;
    const flaky = {
      ...mail,
      send: (email: Parameters<typeof mail.send>[0]) =>
        ++calls === 2 ? Promise.reject(new SendError('transient', 'provider had a problem (503)', 503)) : mail.send(email),
    };
    h.startWorker(flaky);
    const job = (await h.queue.getDelayed()).find((j) => j.name === 'digest')!;
    await job.promote();
    await eventually(async () => ((await h.t.redis.zcard(h.t.keys.digestPending(campaign.slug, 'prison'))) === 0 ? true : undefined), 15_000);
    const ids = await h.t.redis.zrange(h.t.keys.letterIndex(campaign.slug), 0, -1);
    for (const [i] of ids.entries()) expect(mail.sends.filter((s) => s.email.text.includes(`Retry letter ${i}. Words`))).toHaveLength(1);
    for (const id of ids) {
      const r = (await h.log.get(id, 'prison'))!;
      expect(r.state).toBe('sent');
      // The failed attempt was clearly refused: nothing may arrive twice.
      expect(r.possibleDuplicate).toBeUndefined();
      const carrying = mail.sends.find((s) => s.messageId === r.messageId)!;
      expect(carrying).toBeDefined();
      const letter = (await h.letters.get(id))!;
      expect(carrying.email.text).toContain(letter.body.slice(0, 30));
    }
  });
});

/** A harness whose worker sends through the real @sendgrid/mail client to a local fake of SendGrid's API. */
async function digestOverSendGrid(name: string) {
  const fake = await startFakeSendGrid();
  const h = createHarness(name, { campaigns, env: { PACING: 'on', DIGEST_MAX_BYTES: '40000' } });
  h.startWorker(createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 5000, sandbox: false }));
  const write = async (email: string, body: string) => {
    const res = await expectStatus(postLetter(h.app, campaign.slug, validForm({ email, recipients: ['prison'], body })), 303);
    const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
    return { token, letterId: (await h.letters.findByToken(token))! };
  };
  const runDigest = async () => (await h.queue.getDelayed()).find((j) => j.name === 'digest')!.promote();
  const stateOf = async (letterId: string) => (await h.log.get(letterId, 'prison'))!;
  const close = async () => {
    await h.close();
    await fake.close();
  };
  return { h, fake, write, runDigest, stateOf, close };
}

describe('a digest part whose answer from SendGrid is lost', () => {
  let s: Awaited<ReturnType<typeof digestOverSendGrid>>;
  beforeAll(async () => {
    s = await digestOverSendGrid('digest-lost-answer');
  });
  afterAll(() => s.close());

  it("when SendGrid takes the part but the connection drops before it answers, then it goes again and the official's letters are flagged as possibly arriving twice", async () => {
    const a = await s.write('lost-a@example.net', 'Lost answer letter from Ana.');
    const b = await s.write('lost-b@example.net', 'Lost answer letter from Bea.');
    s.fake.script({ acceptThenDrop: true });
    await s.runDigest();
    const [first, second] = await eventually(async () => {
      const records = [await s.stateOf(a.letterId), await s.stateOf(b.letterId)];
      return records.every((r) => r.state === 'sent') ? records : undefined;
    }, 15_000);
    // The official really got the part twice: both copies were accepted.
    const accepted = s.fake.accepted();
    expect(accepted).toHaveLength(2);
    for (const req of accepted) {
      expect(req.body.custom_args).toMatchObject({ target: 'prison', part: '1' });
      expect(req.body.content[0]!.value).toContain('Lost answer letter from Ana.');
      expect(req.body.content[0]!.value).toContain('Lost answer letter from Bea.');
    }
    for (const r of [first!, second!]) {
      expect(r.possibleDuplicate).toBe(true);
      expect(r.note).toContain('may arrive twice');
      expect(r.messageId).toBe(accepted[1]!.messageId);
    }
    const page = await request(s.h.app).get(`/letters/${a.token}`).expect(200);
    expect(page.text).toContain('may receive your letter twice');
  });
});

describe('a digest part that SendGrid refuses for good', () => {
  let s: Awaited<ReturnType<typeof digestOverSendGrid>>;
  beforeAll(async () => {
    s = await digestOverSendGrid('digest-refused');
  });
  afterAll(() => s.close());

  it('when SendGrid answers 400, then its letters show as failed with the reason, on the dashboard too, and are not sent again', async () => {
    const a = await s.write('refused-a@example.net', 'Refused letter from Ana.');
    const b = await s.write('refused-b@example.net', 'Refused letter from Bea.');
    s.fake.script({ status: 400, errors: [{ message: 'The from address does not match a verified Sender Identity.', field: 'from' }] });
    await s.runDigest();
    const records = await eventually(async () => {
      const rs = [await s.stateOf(a.letterId), await s.stateOf(b.letterId)];
      return rs.every((r) => r.state === 'failed') ? rs : undefined;
    }, 15_000);
    for (const r of records) expect(r.error).toContain('verified Sender Identity');
    const page = await request(s.h.app).get(`/letters/${a.token}`).expect(200);
    expect(page.text).toContain('<span class="badge badge-failed">Failed</span>');
    const dashboard = await readDashboard(
      { redis: s.h.t.redis, keys: s.h.t.keys, log: s.h.log, paceBook: s.h.paceBook, control: s.h.control, clock: systemClock, pacing: true },
      campaign,
    );
    expect(dashboard.problems.map((p) => p.letterId).sort()).toEqual([a.letterId, b.letterId].sort());
    // They left the digest: no later digest carries them, and the refused part was not tried again.
    expect(await s.h.t.redis.zcard(s.h.t.keys.digestPending(campaign.slug, 'prison'))).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(s.fake.requests).toHaveLength(1);
  });
});

describe('a digest sent with a key SendGrid refuses', () => {
  let s: Awaited<ReturnType<typeof digestOverSendGrid>>;
  beforeAll(async () => {
    s = await digestOverSendGrid('digest-bad-key');
  });
  afterAll(() => s.close());

  it("when SendGrid answers 401, then all sending is paused and the official's letters wait in the digest", async () => {
    const a = await s.write('key-a@example.net', 'Letter from Ana, waiting for a working key.');
    s.fake.script({ status: 401, errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked' }] });
    await s.runDigest();
    const paused = await eventually(async () => (await s.h.control.status([campaign.slug])).paused ?? undefined, 15_000);
    expect(paused.reason).toContain('401');
    await new Promise((r) => setTimeout(r, 1000));
    // Not hammered with retries: one request, then the digest waits for sending to resume.
    expect(s.fake.requests).toHaveLength(1);
    expect((await s.stateOf(a.letterId)).state).toBe('in-digest');
    expect(await s.h.t.redis.zcard(s.h.t.keys.digestPending(campaign.slug, 'prison'))).toBe(1);
    const job = (await s.h.queue.getJobs(['delayed', 'failed', 'wait'])).find((j) => j.name === 'digest')!;
    expect(await job.getState()).toBe('delayed');
  });
});

/**
 * The digest processor on a harness's Redis, run by hand (each call one BullMQ attempt), with the given
 * transport and delivery log, so a test can interrupt an attempt where a dying worker would.
 */
function digestByHand(h: Harness, transport: MailTransport, log: DeliveryLog = h.log) {
  const processor = createSendDigestProcessor({
    redis: h.t.redis,
    keys: h.t.keys,
    campaigns,
    letters: h.letters,
    log,
    control: h.control,
    planner: h.deps.planner,
    scheduler: h.deps.scheduler,
    transport,
    digests: createDigestRenderer(emailTemplatesDir(APP_ROOT), { mailFrom: h.config.mail.from, publicUrl: h.config.publicUrl }),
    maxPartBytes: 40_000,
    clock: systemClock,
    logger: silentLogger,
  });
  /** One attempt of the digest job `job` (its data and timestamp, which names its run). */
  return (job: { data: DigestJob; timestamp: number }) => processor({ ...job, moveToDelayed: async () => undefined } as unknown as Job<DigestJob>);
}

/** A transport whose first `n` sends may have reached the provider but got no answer (a timeout). */
function unansweredFirst(n: number, mail: RecordingTransport): MailTransport {
  let calls = 0;
  return {
    ...mail,
    send: (email) =>
      ++calls <= n ? Promise.reject(new SendError('transient', 'timed out waiting for the provider', undefined, undefined, true)) : mail.send(email),
  };
}

describe('a digest part whose answer is lost, then whose job is interrupted', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('digest-flags', { campaigns, env: { PACING: 'on', DIGEST_MAX_BYTES: '40000' } });
  });
  afterAll(() => h.close());

  const write = async (email: string, body: string) => {
    const res = await expectStatus(postLetter(h.app, campaign.slug, validForm({ email, recipients: ['prison'], body })), 303);
    return (await h.letters.findByToken(/\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!))!;
  };
  const digestJob = async () => {
    const job = (await h.queue.getDelayed()).find((j) => j.name === 'digest')!;
    const data = { ...(job.data as DigestJob) };
    await job.remove();
    return { data, timestamp: job.timestamp };
  };
  const flagged = async (letterId: string) => {
    const r = (await h.log.get(letterId, 'prison'))!;
    return { state: r.state, possibleDuplicate: r.possibleDuplicate ?? false, mayArriveTwice: r.note?.includes('may arrive twice') ?? false };
  };

  it("when the attempt that sent the part again stops before marking its letters sent, then the next attempt still flags the official's letters as possibly arriving twice", async () => {
    const a = await write('flag-a@example.net', 'Flag letter from Ana.');
    const b = await write('flag-b@example.net', 'Flag letter from Bea.');
    const job = await digestJob();
    const mail = recordingTransport();
    // The second attempt records the part, then loses Redis while marking its first letter sent.
    let interrupt = false;
    const log = Object.create(h.log) as DeliveryLog;
    log.apply = async (...args: Parameters<DeliveryLog['apply']>) => {
      if (interrupt && args[3] === 'digest-sent') {
        interrupt = false;
        throw new Error('Connection is closed.');
      }
      return h.log.apply(...args);
    };
    const attempt = digestByHand(h, unansweredFirst(1, mail), log);
    await expect(attempt(job)).rejects.toThrow('timed out');
    interrupt = true;
    await expect(attempt(job)).rejects.toThrow('Connection is closed.');
    expect(mail.sends).toHaveLength(1);
    await attempt(job);
    expect(mail.sends).toHaveLength(1);
    for (const id of [a, b]) expect(await flagged(id)).toEqual({ state: 'sent', possibleDuplicate: true, mayArriveTwice: true });
  });

  it('when a part sent once stops before its letters are all marked sent, then the next attempt marks them sent without a "may arrive twice" flag', async () => {
    const a = await write('once-a@example.net', 'Once letter from Ana.');
    const b = await write('once-b@example.net', 'Once letter from Bea.');
    const job = await digestJob();
    const mail = recordingTransport();
    let interrupt = true;
    const log = Object.create(h.log) as DeliveryLog;
    log.apply = async (...args: Parameters<DeliveryLog['apply']>) => {
      if (interrupt && args[3] === 'digest-sent' && args[1] === b) {
        interrupt = false;
        throw new Error('Connection is closed.');
      }
      return h.log.apply(...args);
    };
    const attempt = digestByHand(h, mail, log);
    await expect(attempt(job)).rejects.toThrow('Connection is closed.');
    await attempt(job);
    expect(mail.sends).toHaveLength(1);
    for (const id of [a, b]) expect(await flagged(id)).toEqual({ state: 'sent', possibleDuplicate: false, mayArriveTwice: false });
  });

  it('when every attempt of a digest job goes unanswered, then the next digest sends its letters flagged as possibly arriving twice, and a newer letter unflagged', async () => {
    const a = await write('gaveup-a@example.net', 'Gave-up letter from Ana.');
    const first = await digestJob();
    const mail = recordingTransport();
    // The job's attempts all time out (the provider may have taken each), then BullMQ gives up on it.
    const attempt = digestByHand(h, unansweredFirst(4, mail));
    for (let i = 0; i < 4; i++) await expect(attempt(first)).rejects.toThrow('timed out');
    expect((await h.log.get(a, 'prison'))!.state).toBe('in-digest');

    const b = await write('gaveup-b@example.net', 'Newer letter from Bea.');
    // The next digest job (a new run) sends both letters.
    await attempt({ ...(await digestJob()), timestamp: first.timestamp + 1 });
    expect(mail.sends).toHaveLength(1);
    expect(mail.sends[0]!.email.text).toContain('Gave-up letter from Ana.');
    expect(mail.sends[0]!.email.text).toContain('Newer letter from Bea.');
    expect(await flagged(a)).toEqual({ state: 'sent', possibleDuplicate: true, mayArriveTwice: true });
    expect(await flagged(b)).toEqual({ state: 'sent', possibleDuplicate: false, mayArriveTwice: false });
  });
});
