import { createHash } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../domain/clock.js';
import { safeDisplayName } from '../../domain/letter-email.js';
import { parseLetterForm } from '../../domain/letter-form.js';
import { createSendGridTransport } from '../../jobs/transports/sendgrid-transport.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { formFields } from '../support/forms.js';
import { createHarness, eventually, expectStatus, formEncode, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// One test per attack on the public letter form, each checking that the attack is refused and that
// nothing was stored, queued or sent because of it.

const POST_PATH = `/c/${SHIPPED_CAMPAIGN}/letters`;
/** Half of a 4-byte character: a high surrogate not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Text a supporter spent time on: it must survive every refusal. */
const OWN_WORDS = 'My own carefully written words about Huang Xueqin and Wang Jianbing, which I do not want to lose.';

/** Posts `body` as a browser would, with the given cookie (none when undefined). */
function postForm(app: Harness['app'], cookie: string | undefined, body: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  const req = request(app).post(POST_PATH).type('form');
  if (cookie) req.set('Cookie', cookie);
  for (const [k, v] of Object.entries(headers)) req.set(k, v);
  return req.send(formEncode(body));
}

const totalJobs = async (h: Harness) => Object.values(await h.queue.getJobCounts()).reduce((a, b) => a + b, 0);

/** Asserts the refused page kept what the supporter typed. */
function expectTextKept(html: string, form: Record<string, string | string[]>) {
  expect(html).toContain(`>${form.body as string}</textarea>`);
  expect(html).toContain(`value="${form.firstName as string}"`);
  expect(html).toContain(`value="${form.email as string}"`);
}

/** Every key and value under the harness's prefix, as one text per key. */
async function dumpRedis(h: Harness): Promise<string[]> {
  const r = h.t.redis;
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `{${h.t.prefix}}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await r.type(key);
      let values: unknown;
      if (type === 'string') values = await r.get(key);
      else if (type === 'hash') values = await r.hgetall(key);
      else if (type === 'list') values = await r.lrange(key, 0, -1);
      else if (type === 'set') values = await r.smembers(key);
      else if (type === 'zset') values = await r.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'stream') values = await r.xrange(key, '-', '+');
      else values = `(${type})`;
      out.push(`${key} ${JSON.stringify(values)}`);
    }
  } while (cursor !== '0');
  return out;
}

let h: Harness;
beforeAll(() => {
  h = createHarness('security-form');
});
afterAll(() => h.close());

describe('forged posts (CSRF and the signed fill time)', () => {
  it('when the CSRF token is missing, then the letter is refused with 403, nothing is queued, and the supporter’s text is kept', async () => {
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    const form = validForm({ firstName: 'Keepme', email: 'no-token@example.net', body: OWN_WORDS });
    const { _csrf: _dropped, ...withoutToken } = fields;
    const res = await expectStatus(postForm(h.app, cookie, { ...withoutToken, ...form }), 403);
    expect(res.text).toContain('This form had expired, so your letter was not sent');
    expectTextKept(res.text, form);
    // The refused page carries a fresh token, so pressing "Send" again works.
    expect(res.text).toMatch(/name="_csrf" value="[^"]+"/);
    // A post from another site carries no cookie at all.
    await expectStatus(postForm(h.app, undefined, { ...fields, ...form }), 403);
    expect(await totalJobs(h)).toBe(0);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(0);
  });

  it('when the CSRF token is forged (made up, paired with a made-up cookie, or taken from another browser), then 403 and nothing is queued', async () => {
    const mine = await formFields(h.app, SHIPPED_CAMPAIGN);
    const other = await formFields(h.app, SHIPPED_CAMPAIGN);
    expect(other.fields._csrf).not.toBe(mine.fields._csrf);
    const form = validForm({ firstName: 'Keepme', email: 'forged@example.net', body: OWN_WORDS });
    const madeUp = `${'ab'.repeat(32)}.${'cd'.repeat(32)}`;
    const attempts: [string, string | undefined, Record<string, string>][] = [
      ['a made-up token', mine.cookie, { ...mine.fields, _csrf: madeUp }],
      ['a made-up token in a made-up cookie (double submit without the secret)', `al.form=${encodeURIComponent(madeUp)}`, { ...mine.fields, _csrf: madeUp }],
      ['another browser’s token', mine.cookie, { ...mine.fields, _csrf: other.fields._csrf! }],
      ['an empty token', mine.cookie, { ...mine.fields, _csrf: '' }],
    ];
    for (const [what, cookie, hidden] of attempts) {
      const res = await postForm(h.app, cookie, { ...hidden, ...form });
      expect(res.status, what).toBe(403);
      expectTextKept(res.text, form);
    }
    // The token twice (a list) is not a token.
    const twice = await request(h.app)
      .post(POST_PATH)
      .set('Cookie', mine.cookie)
      .type('form')
      .send(`${formEncode({ ...mine.fields, ...form })}&_csrf=${encodeURIComponent(mine.fields._csrf!)}`);
    expect(twice.status).toBe(403);
    expect(await totalJobs(h)).toBe(0);
  });

  it('when the signed fill time is missing or tampered with, then the letter is refused with 403 and nothing is queued', async () => {
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    const [ms, sig] = fields.startedAt!.split('.') as [string, string];
    const form = validForm({ email: 'fill-time@example.net', body: OWN_WORDS });
    const variants: [string, string | undefined][] = [
      ['missing', undefined],
      ['empty', ''],
      ['no signature', ms],
      ['an earlier time with the same signature', `${Number(ms) - 3_600_000}.${sig}`],
      ['a signature changed in one character', `${ms}.${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`],
      ['a signature of another length', `${ms}.${sig}x`],
      ['a time that is not a number', `abc.${sig}`],
      ['time zero', '0.AAAAAAAAAAAAAAAAAAAAAA'],
    ];
    for (const [what, startedAt] of variants) {
      const { startedAt: _s, ...rest } = fields;
      const body = startedAt === undefined ? { ...rest, ...form } : { ...rest, startedAt, ...form };
      const res = await postForm(h.app, cookie, body);
      expect(res.status, what).toBe(403);
      expectTextKept(res.text, form);
    }
    expect(await totalJobs(h)).toBe(0);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(0);
  });
});

describe('automated posts (honeypot)', () => {
  it('when the hidden honeypot field is filled in, then the letter is refused with 422 and nothing is queued', async () => {
    for (const website of ['http://spam.example', 'x', '  buy now  ']) {
      const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
      const form = validForm({ firstName: 'Keepme', email: 'honeypot@example.net', body: OWN_WORDS });
      const res = await expectStatus(postForm(h.app, cookie, { ...fields, ...form, website }), 422);
      expect(res.text).toContain('Your letter could not be accepted. If your browser filled in a hidden field automatically');
      expectTextKept(res.text, form);
    }
    expect(await totalJobs(h)).toBe(0);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(0);
  });

  it('when the honeypot field is filled in twice (sent as a list), then the letter is still refused and nothing is queued', async () => {
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    const form = validForm({ email: 'honeypot-list@example.net', recipients: ['gz-psb'], body: OWN_WORDS });
    const res = await postForm(h.app, cookie, { ...fields, ...form, website: ['http://spam.example', 'http://spam.example'] });
    const queued = await totalJobs(h);
    // Clean up whatever was accepted, so the tests after this one start from nothing.
    await h.queue.obliterate({ force: true });
    expect(res.status).toBe(422);
    expect(queued).toBe(0);
  });
});

describe('the form as an open mail relay', () => {
  const refusedWithoutJob = async (form: Record<string, string | string[]>, extra: Record<string, string | string[]> = {}) => {
    const before = await totalJobs(h);
    const lettersBefore = (await h.log.counts(SHIPPED_CAMPAIGN)).letters;
    const res = await postLetter(h.app, SHIPPED_CAMPAIGN, { ...form, ...extra });
    expect(res.status, JSON.stringify(extra)).toBe(422);
    expect(await totalJobs(h)).toBe(before);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(lettersBefore);
    return res;
  };

  it('when a recipient id is not one of the campaign’s, then the letter is refused and no job is created', async () => {
    const res = await refusedWithoutJob(validForm({ recipients: ['attacker-target'] }));
    expect(res.text).toContain('&#34;attacker-target&#34; is not one of this campaign&#39;s recipients');
    for (const id of ['GZ-PSB', ' gz-psb', 'gz-psb ', 'gz-psb,embassy-fr', '../gz-psb', 'embassy-xx', ''])
      await refusedWithoutJob(validForm({ recipients: [id] }));
  });

  it('when a recipient id names a property every object has (__proto__, constructor, toString), then it is refused', async () => {
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'])
      await refusedWithoutJob(validForm({ recipients: ['gz-psb', id] }));
  });

  it('when an email address is given as a recipient, then the letter is refused and no job is created', async () => {
    for (const address of ['victim@example.com', 'gz-psb@example.org', 'embassy-fr@example.org', 'victim@example.com\r\nBcc: other@example.com']) {
      const res = await refusedWithoutJob(validForm({ recipients: ['gz-psb', address] }));
      expect(res.text).toContain('Recipients can only be chosen from the list on this page');
    }
  });

  it('when the form carries address fields of its own (to, cc, bcc, from, reply-to), then it is refused and no job is created', async () => {
    for (const field of ['to', 'cc', 'bcc', 'Bcc', 'from', 'replyTo', 'reply_to', 'headers', 'recipients[]', 'recipients[0]', 'email[]']) {
      await refusedWithoutJob(validForm(), { [field]: 'victim@example.com' });
    }
  });

  it('when valid and invalid recipients are mixed, then nothing at all is sent (not even to the valid ones)', async () => {
    await refusedWithoutJob(validForm({ recipients: ['gz-psb', 'embassy-fr', 'victim@example.com'] }));
    await refusedWithoutJob(validForm({ recipients: ['gz-psb', 'embassy-fr', 'not-a-recipient'] }));
  });
});

describe('header injection', () => {
  const BREAKS = ['\r\n', '\r', '\n', '\u2028', '\u2029', '\u0085', '\u0000', '\u000b', '\u000c'];

  it('when a name or the subject carries CR/LF or another control character inside it, then the letter is refused and nothing is queued', async () => {
    for (const field of ['firstName', 'lastName', 'subject'] as const) {
      for (const br of BREAKS) {
        const res = await postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ [field]: `Ana${br}Bcc: victim@example.com` }));
        expect(res.status, `${field} with ${JSON.stringify(br)}`).toBe(422);
        expect(res.text).toMatch(/cannot contain line breaks or control characters/);
      }
    }
    expect(await totalJobs(h)).toBe(0);
  });

  it('when CR/LF arrive percent-encoded in lower case, or in the email address, then the letter is refused too', async () => {
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    const raw = `${formEncode({ ...fields, ...validForm() }).replace(/(^|&)firstName=[^&]*/, '$1firstName=Ana%0d%0aBcc:%20victim@example.com')}`;
    const res = await request(h.app).post(POST_PATH).set('Cookie', cookie).type('form').send(raw);
    expect(res.status).toBe(422);
    for (const email of [
      'ana@example.net\r\nBcc: victim@example.com',
      'ana@example.net\nCc: victim@example.com',
      'Ana <ana@example.net>',
      'ana@example.net, victim@example.com',
    ]) {
      const r = await postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email }));
      expect(r.status, JSON.stringify(email)).toBe(422);
    }
    expect(await totalJobs(h)).toBe(0);
  });

  it('when a display name is made safe, then it never has a line break, control character, quote, comma, semicolon or angle bracket, whatever it started as', () => {
    const samples = [
      'Ana "Boss", <x>; Lima\r\nBcc: victim@example.com',
      'Ana\rBcc: x',
      'Ana\u2028Bcc: x',
      'Ana\u0085Bcc: x',
      'Ana\u0000Bcc: x',
      '=?utf-8?q?Ana=0D=0ABcc:x?=',
      '"><script>',
    ];
    // A seeded walk over awkward characters, so a failure is reproducible.
    const alphabet = [
      'a',
      ' ',
      '\r',
      '\n',
      '\t',
      '"',
      '\\',
      ',',
      ';',
      '<',
      '>',
      ':',
      '@',
      '\u0000',
      '\u007f',
      '\u0085',
      '\u2028',
      '\u2029',
      '黄',
      '😀',
      '\u00a0',
    ];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const len = (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 150;
      for (let j = 0; j < len; j++) s += alphabet[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % alphabet.length];
      samples.push(s);
    }
    for (const s of samples) {
      const safe = safeDisplayName(s);
      expect(safe, JSON.stringify(s)).not.toMatch(/[\u0000-\u001F\u007F-\u009F\u2028\u2029"\\,;<>]/);
      expect(safe.length).toBeLessThanOrEqual(100);
      expect(safeDisplayName(safe)).toBe(safe.trim());
    }
  });

  it('when a long name of 4-byte characters is shortened for a header, then no half character (lone surrogate) is left in it', () => {
    // 𠜎 is a CJK Extension B character (two UTF-16 units), as found in some real names. The form
    // accepts 30 of them per name (60 UTF-16 units), so such a writer's From and Reply-To names get cut.
    const parsed = parseLetterForm(h.campaigns.get(SHIPPED_CAMPAIGN)!, validForm({ firstName: '𠜎'.repeat(30), lastName: '𠜎'.repeat(30) }));
    expect(parsed.ok).toBe(true);
    const name = `${'𠜎'.repeat(30)} ${'𠜎'.repeat(30)}`;
    const safe = safeDisplayName(`${name} via Free Huang Xueqin and Wang Jianbing`);
    expect(safe).not.toMatch(LONE_SURROGATE);
    expect(safeDisplayName(name)).not.toMatch(LONE_SURROGATE);
  });

  describe('through the real SendGrid client', () => {
    let mailH: Harness;
    let fake: FakeSendGrid;
    beforeAll(async () => {
      fake = await startFakeSendGrid();
      mailH = createHarness('security-form-sendgrid');
      mailH.startWorker(createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 5000, sandbox: false }));
    });
    afterAll(async () => {
      await mailH.close();
      await fake.close();
    });

    it('when a letter with header-like text in its names and subject is sent, then the API request carries no CR/LF in from, reply_to or subject, and goes only to the campaign’s recipients', async () => {
      const form = validForm({
        firstName: 'Ana "Boss", <x>;\r\n',
        lastName: 'Lima%0d%0aBcc: victim@example.com',
        email: 'header-test@example.net',
        subject: 'Release them%0D%0ABcc: victim@example.com\r\n',
        recipients: ['gz-psb', 'embassy-fr'],
      });
      await expectStatus(postLetter(mailH.app, SHIPPED_CAMPAIGN, form), 303);
      const requests = await fake.waitForRequests(2);
      const targets = new Set(mailH.campaigns.get(SHIPPED_CAMPAIGN)!.targets.map((t) => t.email));
      for (const r of requests) {
        const headers = [r.body.from.name, r.body.reply_to?.name, r.body.reply_to?.email, r.body.subject];
        for (const value of headers) expect(value, JSON.stringify(value)).not.toMatch(/[\r\n\u0000\u2028\u2029\u0085]/);
        expect(r.body.from.name).toBe('Ana Boss x Lima%0d%0aBcc: victim@example.com via Free Huang Xueqin and Wang Jianbing');
        expect(r.body.from.email).toBe('letters@example.org');
        expect(r.body.reply_to).toEqual({ email: 'header-test@example.net', name: 'Ana Boss x Lima%0d%0aBcc: victim@example.com' });
        expect(r.body.subject).toBe('Release them%0D%0ABcc: victim@example.com');
        // One personalization, one "to", from the campaign's own list; no cc, bcc or extra headers.
        expect(r.body.personalizations).toHaveLength(1);
        expect(Object.keys(r.body.personalizations[0]!).sort()).toEqual(['to']);
        expect(r.body.personalizations[0]!.to).toHaveLength(1);
        expect(targets.has(r.body.personalizations[0]!.to[0]!.email)).toBe(true);
        expect(r.raw).not.toMatch(/"(bcc|cc|headers)"/);
      }
      await eventually(async () => ((await mailH.log.counts(SHIPPED_CAMPAIGN)).byState.sent === 2 ? true : undefined));
    });
  });
});

describe('the supporter’s IP address', () => {
  it('when letters are submitted, then no IP address is stored raw anywhere in Redis, and each letter keeps only a keyed hex hash', async () => {
    const direct = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'ip-direct@example.net', recipients: ['gz-psb'] })), 303);
    // Through a proxy on the loopback (TRUST_PROXY=loopback): the client's address comes from X-Forwarded-For.
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    const proxied = await expectStatus(
      postForm(
        h.app,
        cookie,
        { ...fields, ...validForm({ email: 'ip-proxied@example.net', recipients: ['embassy-fr'] }) },
        { 'X-Forwarded-For': '203.0.113.77' },
      ),
      303,
    );
    // A refused one (over nothing but the honeypot) too.
    await expectStatus(
      postForm(h.app, cookie, { ...fields, ...validForm({ email: 'ip-refused@example.net' }), website: 'x' }, { 'X-Forwarded-For': '203.0.113.78' }),
      422,
    );

    const dump = await dumpRedis(h);
    expect(dump.length).toBeGreaterThan(10);
    for (const ip of ['127.0.0.1', '::ffff:127.0.0.1', '203.0.113.77', '203.0.113.78']) {
      expect(
        dump.filter((line) => line.includes(ip)),
        ip,
      ).toEqual([]);
    }

    const hashes: string[] = [];
    for (const res of [direct, proxied]) {
      const token = /^\/letters\/([^/]+)\/sent$/.exec(res.headers.location!)![1]!;
      const letterId = (await h.letters.findByToken(token))!;
      const ih = (await h.letters.get(letterId))!.ipHash;
      expect(ih).toMatch(/^[0-9a-f]{32}$/);
      hashes.push(ih!);
    }
    expect(hashes[0]).not.toBe(hashes[1]);
    // Keyed: not a plain hash of the address, which anyone could reverse over the 2^32 IPv4 addresses.
    for (const ip of ['127.0.0.1', '::ffff:127.0.0.1', 'ip:::ffff:127.0.0.1', 'ip:127.0.0.1', '203.0.113.77', 'ip:203.0.113.77']) {
      for (const algo of ['sha256', 'sha1', 'md5']) {
        const plain = createHash(algo).update(ip).digest('hex');
        expect(hashes).not.toContain(plain.slice(0, 32));
      }
    }
    await h.queue.obliterate({ force: true });
  });
});

describe('too fast to be a person', () => {
  const clock = manualClock(Date.UTC(2026, 0, 5, 10, 0, 0));
  let fast: Harness;
  beforeAll(() => {
    fast = createHarness('security-fill-time', { env: { FORM_MIN_FILL_SECONDS: '5' }, clock });
  });
  afterAll(() => fast.close());

  it('when the form is sent sooner than FORM_MIN_FILL_SECONDS after it was shown, then 422 with the text kept; after waiting, the same form goes through', async () => {
    const { fields, cookie } = await formFields(fast.app, SHIPPED_CAMPAIGN);
    const form = validForm({ firstName: 'Keepme', email: 'quick@example.net', body: OWN_WORDS });
    clock.advance(2_000);
    const res = await expectStatus(postForm(fast.app, cookie, { ...fields, ...form }), 422);
    expect(res.text).toContain('Your letter was sent very quickly after the page opened, so it was not sent');
    expectTextKept(res.text, form);
    clock.advance(2_999);
    await expectStatus(postForm(fast.app, cookie, { ...fields, ...form }), 422);
    expect(await totalJobs(fast)).toBe(0);
    expect((await fast.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(0);

    clock.advance(1);
    await expectStatus(postForm(fast.app, cookie, { ...fields, ...form }), 303);
    expect(await totalJobs(fast)).toBe(3);
    expect((await fast.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(1);
  });

  it('when a form comes back with a mistake after the wait, then the corrected form can be sent at once (the wait is not started again)', async () => {
    const { fields, cookie } = await formFields(fast.app, SHIPPED_CAMPAIGN);
    clock.advance(6_000);
    const wrong = await expectStatus(postForm(fast.app, cookie, { ...fields, ...validForm({ email: 'not-an-address', body: OWN_WORDS }) }), 422);
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(wrong.text)![1]!.replaceAll('&#43;', '+');
    expect(field('startedAt')).toBe(fields.startedAt);
    clock.advance(500);
    await expectStatus(
      postForm(fast.app, cookie, {
        ...fields,
        _csrf: field('_csrf'),
        startedAt: field('startedAt'),
        ...validForm({ email: 'corrected@example.net', body: OWN_WORDS }),
      }),
      303,
    );
  });

  it('when the signed time is moved into the past to look slow, then the signature no longer matches and the form is refused', async () => {
    const { fields, cookie } = await formFields(fast.app, SHIPPED_CAMPAIGN);
    const [ms, sig] = fields.startedAt!.split('.') as [string, string];
    const res = await postForm(fast.app, cookie, { ...fields, startedAt: `${Number(ms) - 60_000}.${sig}`, ...validForm({ email: 'backdated@example.net' }) });
    expect(res.status).toBe(403);
  });
});

describe('submission limits', () => {
  let perIp: Harness;
  let perEmail: Harness;
  beforeAll(() => {
    perIp = createHarness('security-ip-limit', { env: { FORM_LIMIT_PER_IP: '3' } });
    perEmail = createHarness('security-email-limit', { env: { FORM_LIMIT_PER_EMAIL: '2' } });
  });
  afterAll(async () => {
    await perIp.close();
    await perEmail.close();
  });

  it('when a fourth valid letter comes from the same address within the hour (FORM_LIMIT_PER_IP=3), then 429 with Retry-After and a polite message, the text kept and nothing queued', async () => {
    for (const [i, target] of ['gz-psb', 'embassy-fr', 'embassy-gb'].entries()) {
      await expectStatus(postLetter(perIp.app, SHIPPED_CAMPAIGN, validForm({ email: `ip-${i}@example.net`, recipients: [target] })), 303);
    }
    const jobs = await totalJobs(perIp);
    const form = validForm({ firstName: 'Keepme', email: 'ip-4@example.net', recipients: ['embassy-de'], body: OWN_WORDS });
    const res = await expectStatus(postLetter(perIp.app, SHIPPED_CAMPAIGN, form), 429);
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(res.text).toContain('Many letters have been sent from your network in the last hour, so this one could not be accepted just now.');
    expect(res.text).toContain('Your text is kept below: please try again later.');
    expectTextKept(res.text, form);
    expect(await totalJobs(perIp)).toBe(jobs);
    expect((await perIp.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(3);
    // The limit is per address: another address (through the loopback proxy) can still write.
    const { fields, cookie } = await formFields(perIp.app, SHIPPED_CAMPAIGN);
    await expectStatus(postForm(perIp.app, cookie, { ...fields, ...validForm({ email: 'other-ip@example.net' }) }, { 'X-Forwarded-For': '198.51.100.9' }), 303);
  });

  it("when the app is behind one proxy (TRUST_PROXY=1, a hop count), then each supporter is limited by their own forwarded address, not the proxy's", async () => {
    const behindOne = createHarness('security-ip-one-hop', { env: { FORM_LIMIT_PER_IP: '1', TRUST_PROXY: '1' } });
    try {
      const send = async (email: string, ip: string) => {
        const { fields, cookie } = await formFields(behindOne.app, SHIPPED_CAMPAIGN);
        return (await postForm(behindOne.app, cookie, { ...fields, ...validForm({ email, recipients: ['gz-psb'] }) }, { 'X-Forwarded-For': ip })).status;
      };
      // Express would read "1" as the address 0.0.0.1 and trust no proxy: every supporter would share its limit.
      expect([await send('hop-a@example.net', '198.51.100.1'), await send('hop-b@example.net', '198.51.100.2')]).toEqual([303, 303]);
      expect(await send('hop-c@example.net', '198.51.100.1')).toBe(429);
    } finally {
      await behindOne.close();
    }
  });

  it('when one IPv6 network (a /64, which one household or server holds) uses a new address for each letter, then the per-IP limit still counts them together', async () => {
    // Four letters over FORM_LIMIT_PER_IP=3 from 2001:db8:1:2::1 .. ::4, through the loopback proxy.
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const { fields, cookie } = await formFields(perIp.app, SHIPPED_CAMPAIGN);
      const res = await postForm(
        perIp.app,
        cookie,
        { ...fields, ...validForm({ email: `v6-${i}@example.net`, recipients: ['gz-psb'] }) },
        { 'X-Forwarded-For': `2001:db8:1:2::${i}` },
      );
      statuses.push(res.status);
    }
    expect(statuses).toEqual([303, 303, 303, 429]);
  });

  it('when an email address writes a third letter in a day to other recipients (FORM_LIMIT_PER_EMAIL=2), then 429 with Retry-After, the text kept and nothing queued, whatever the letter case of the address', async () => {
    await expectStatus(postLetter(perEmail.app, SHIPPED_CAMPAIGN, validForm({ email: 'limited@example.net', recipients: ['gz-psb'] })), 303);
    await expectStatus(postLetter(perEmail.app, SHIPPED_CAMPAIGN, validForm({ email: 'Limited@Example.NET', recipients: ['embassy-fr'] })), 303);
    const jobs = await totalJobs(perEmail);
    const form = validForm({ firstName: 'Keepme', email: 'LIMITED@example.net', recipients: ['embassy-gb'], body: OWN_WORDS });
    const res = await expectStatus(postLetter(perEmail.app, SHIPPED_CAMPAIGN, form), 429);
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(res.text).toContain('This email address has sent many letters today, so this one could not be accepted just now.');
    expectTextKept(res.text, form);
    expect(await totalJobs(perEmail)).toBe(jobs);
    expect((await perEmail.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(2);
    // Another address is not affected.
    await expectStatus(postLetter(perEmail.app, SHIPPED_CAMPAIGN, validForm({ email: 'someone-else@example.net', recipients: ['embassy-gb'] })), 303);
  });
});
