import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../domain/admin-password.js';
import { manualClock } from '../../domain/clock.js';
import { ADMIN_ENV, csrfFrom, TEST_ADMIN_PASSWORD } from '../support/admin.js';
import { createHarness, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// Attacks on the campaigner's side: guessing the password, forging dashboard actions, fixing or
// reusing sessions, and forging or replaying the mail provider's signed webhook.

const DASH = `/admin/c/${SHIPPED_CAMPAIGN}`;
const MADE_UP = `${'ab'.repeat(32)}.${'cd'.repeat(32)}`;

/** A browser's cookies, by name. */
type Jar = Map<string, string>;
const header = (jar: Jar) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
function absorb(jar: Jar, res: request.Response): Jar {
  for (const c of (res.headers['set-cookie'] as unknown as string[] | undefined) ?? []) {
    const [pair] = c.split(';');
    const i = pair!.indexOf('=');
    const name = pair!.slice(0, i);
    const value = pair!.slice(i + 1);
    if (/Expires=Thu, 01 Jan 1970/i.test(c) || value === '') jar.delete(name);
    else jar.set(name, value);
  }
  return jar;
}

/** Opens the login page and posts the password, as a browser with `jar` would; returns the response. */
async function tryLogin(app: Harness['app'], jar: Jar, password: string): Promise<request.Response> {
  const page = await request(app).get('/admin/login').set('Cookie', header(jar)).expect(200);
  absorb(jar, page);
  const res = await request(app)
    .post('/admin/login')
    .set('Cookie', header(jar))
    .type('form')
    .send({ _csrf: csrfFrom(page).token, password });
  absorb(jar, res);
  return res;
}

/** A logged-in browser: its cookies and a CSRF token read from the dashboard. */
async function loggedIn(app: Harness['app']): Promise<{ jar: Jar; token: string }> {
  const jar: Jar = new Map();
  await expectStatus(tryLogin(app, jar, TEST_ADMIN_PASSWORD), 303);
  expect(jar.get('al_admin')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return { jar, token: await dashboardToken(app, jar) };
}
async function dashboardToken(app: Harness['app'], jar: Jar): Promise<string> {
  const page = await request(app).get(DASH).set('Cookie', header(jar)).expect(200);
  absorb(jar, page);
  return csrfFrom(page).token;
}
/** True when the cookies open the dashboard. */
async function opensDashboard(app: Harness['app'], jar: Jar): Promise<boolean> {
  const res = await request(app).get(DASH).set('Cookie', header(jar)).set('Accept', 'application/json');
  return res.status === 200;
}

describe('guessing the dashboard password', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('security-brute', { env: { ...ADMIN_ENV, LOGIN_MAX_FAILURES: '5', LOGIN_LOCKOUT_MINUTES: '15' } });
  });
  afterAll(() => h.close());

  it('when wrong passwords are tried from one address, then after LOGIN_MAX_FAILURES it is locked out (429), even for the right password, and no session is given', async () => {
    const jar: Jar = new Map();
    for (const guess of ['password', 'correct horse', 'letmein12345', TEST_ADMIN_PASSWORD.toUpperCase(), `${TEST_ADMIN_PASSWORD} `]) {
      const res = await tryLogin(h.app, jar, guess);
      expect(res.status, guess).toBe(401);
      expect(res.text).toContain('That password is not right.');
    }
    const locked = await tryLogin(h.app, jar, TEST_ADMIN_PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.text).toMatch(/Too many failed attempts\. Try again in 1[45] minutes\./);
    expect(jar.has('al_admin')).toBe(false);
    expect(await opensDashboard(h.app, jar)).toBe(false);
    // A fresh browser on the same address is locked out too: the lockout is by address, not by cookie.
    const fresh = await tryLogin(h.app, new Map(), TEST_ADMIN_PASSWORD);
    expect(fresh.status).toBe(429);
    expect(await h.t.redis.keys(`{${h.t.prefix}}:admin-session:*`)).toEqual([]);
  });

  it('when login attempts fail, then the address they came from is not kept raw in Redis (README: IP addresses are never stored raw)', async () => {
    const keys = await h.t.redis.keys(`{${h.t.prefix}}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((k) => k.includes('127.0.0.1'))).toEqual([]);
  });
});

describe('guessing in parallel', () => {
  let h: Harness;
  beforeAll(async () => {
    // The production setting: a scrypt hash, so each check takes a while.
    const { ADMIN_PASSWORD: _plain, ...env } = ADMIN_ENV;
    h = createHarness('security-brute-parallel', { env: { ...env, ADMIN_PASSWORD_HASH: await hashPassword(TEST_ADMIN_PASSWORD), LOGIN_MAX_FAILURES: '5' } });
  });
  afterAll(() => h.close());

  it('when many wrong passwords are sent at once from one address, then no more than LOGIN_MAX_FAILURES of them are checked', async () => {
    const jar: Jar = new Map();
    const page = await request(h.app).get('/admin/login').expect(200);
    absorb(jar, page);
    const token = csrfFrom(page).token;
    const guesses = Array.from({ length: 30 }, (_, i) => `parallel-guess-${i}`);
    const answers = await Promise.all(
      guesses.map((password) => request(h.app).post('/admin/login').set('Cookie', header(jar)).type('form').send({ _csrf: token, password })),
    );
    const checked = answers.filter((r) => r.status === 401).length;
    const refused = answers.filter((r) => r.status === 429).length;
    expect(checked + refused).toBe(guesses.length);
    expect(checked).toBeLessThanOrEqual(5);
  });
});

describe('forged dashboard actions (CSRF)', () => {
  let h: Harness;
  let victim: { jar: Jar; token: string };
  let attacker: { jar: Jar; token: string };
  let failedLetter: string;

  beforeAll(async () => {
    h = createHarness('security-admin-csrf', { env: ADMIN_ENV });
    victim = await loggedIn(h.app);
    attacker = await loggedIn(h.app);
    // A letter whose delivery failed, for retry and retry all.
    const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'failed@example.net', recipients: ['embassy-de'] })), 303);
    failedLetter = (await h.letters.findByToken(/^\/letters\/([^/]+)\/sent$/.exec(res.headers.location!)![1]!))!;
    await fail();
    await h.queue.obliterate({ force: true });
  });
  afterAll(() => h.close());

  /** Makes the letter's delivery fail (again), as the worker would record it. */
  const fail = async () => {
    if ((await h.log.get(failedLetter, 'embassy-de'))?.state === 'failed') return;
    await h.log.apply(SHIPPED_CAMPAIGN, failedLetter, 'embassy-de', 'send-started', { attempt: 1 });
    await h.log.apply(SHIPPED_CAMPAIGN, failedLetter, 'embassy-de', 'permanent-error', { error: 'refused (400)' });
  };

  /** Everything a dashboard action could change. */
  const snapshot = async () => {
    const status = await h.control.status([SHIPPED_CAMPAIGN]);
    return JSON.stringify({
      paused: status.paused?.reason ?? null,
      held: Object.keys(status.held[SHIPPED_CAMPAIGN] ?? {}).sort(),
      failed: (await h.log.get(failedLetter, 'embassy-de'))?.state,
      jobs: await h.queue.getJobCounts(),
      testLetters: (await h.t.redis.keys(`{${h.t.prefix}}:test-letter:*`)).length,
      victimSession: await opensDashboard(h.app, victim.jar),
    });
  };

  const ACTIONS: { name: string; path: string; body: Record<string, string>; before: () => Promise<unknown> }[] = [
    { name: 'pause', path: `${DASH}/pause`, body: { reason: 'forged' }, before: () => h.deps.switches.resumeAll() },
    { name: 'resume', path: `${DASH}/resume`, body: {}, before: () => h.deps.switches.pauseAll('Paused for the test') },
    {
      name: 'hold',
      path: `${DASH}/targets/embassy-ca/hold`,
      body: { reason: 'forged' },
      before: () => h.deps.switches.release(SHIPPED_CAMPAIGN, 'embassy-ca'),
    },
    {
      name: 'release',
      path: `${DASH}/targets/embassy-au/release`,
      body: {},
      before: () => h.deps.switches.hold(SHIPPED_CAMPAIGN, 'embassy-au', 'Held for the test'),
    },
    { name: 'retry', path: `${DASH}/retry`, body: { letterId: '', targetId: 'embassy-de' }, before: () => fail() },
    { name: 'retry-all', path: `${DASH}/targets/embassy-de/retry-all`, body: {}, before: () => fail() },
    { name: 'test-letter', path: `${DASH}/test-letter`, body: { email: 'attacker@example.com', targetId: 'gz-psb' }, before: async () => undefined },
    { name: 'logout', path: '/admin/logout', body: {}, before: async () => undefined },
  ];

  for (const action of ACTIONS) {
    it(`when "${action.name}" is posted without a valid CSRF token, then it is refused with 403 and changes nothing; with the token it works`, async () => {
      await action.before();
      const body = action.name === 'retry' ? { ...action.body, letterId: failedLetter } : action.body;
      const post = (cookies: string, form: Record<string, string>, headers: Record<string, string> = {}) => {
        const req = request(h.app).post(action.path).set('Cookie', cookies).type('form');
        for (const [k, v] of Object.entries(headers)) req.set(k, v);
        return req.send(form);
      };
      const other = await request(h.app).get('/admin/login').expect(200);
      const forgeries: [string, () => Promise<request.Response>][] = [
        ['no token', () => post(header(victim.jar), body)],
        ['an empty token', () => post(header(victim.jar), { ...body, _csrf: '' })],
        ['a made-up token', () => post(header(victim.jar), { ...body, _csrf: MADE_UP })],
        ['a made-up token in the header', () => post(header(victim.jar), body, { 'X-CSRF-Token': MADE_UP })],
        ['a made-up token in both the cookie and the form', () => post(header(new Map([...victim.jar, ['al.csrf', MADE_UP]])), { ...body, _csrf: MADE_UP })],
        ['another browser’s token', () => post(header(victim.jar), { ...body, _csrf: csrfFrom(other).token })],
        [
          'the attacker’s own valid token and cookie, bound to the attacker’s session',
          () => post(header(new Map([...victim.jar, ['al.csrf', attacker.jar.get('al.csrf')!]])), { ...body, _csrf: attacker.token }),
        ],
      ];
      const before = await snapshot();
      for (const [what, forge] of forgeries) {
        const res = await forge();
        expect(res.status, what).toBe(403);
        expect(res.headers.location, what).toBeUndefined();
        expect(await snapshot(), what).toBe(before);
      }
      // Without cookies at all (a cross-site post: the cookies are SameSite=Strict), nothing happens either.
      const crossSite = await request(h.app)
        .post(action.path)
        .type('form')
        .send({ ...body, _csrf: victim.token });
      expect([401, 403]).toContain(crossSite.status);
      expect(await snapshot()).toBe(before);

      // The same request with the session's own token works, so the refusals above were the token's doing.
      const ok = await post(header(victim.jar), { ...body, _csrf: victim.token });
      expect(ok.status, ok.text.slice(0, 200)).toBe(303);
      expect(await snapshot()).not.toBe(before);
      if (action.name === 'logout') {
        expect(await opensDashboard(h.app, victim.jar)).toBe(false);
        victim = await loggedIn(h.app);
      }
    });
  }
});

describe('dashboard sessions', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('security-admin-session', { env: ADMIN_ENV });
  });
  afterAll(() => h.close());

  it('when a session id is planted in a browser before login (even a live one), then login replaces it and the planted id opens nothing', async () => {
    for (const planted of ['A'.repeat(43), (await loggedIn(h.app)).jar.get('al_admin')!]) {
      const jar: Jar = new Map([['al_admin', planted]]);
      const res = await expectStatus(tryLogin(h.app, jar, TEST_ADMIN_PASSWORD), 303);
      const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('al_admin='))!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(jar.get('al_admin')).not.toBe(planted);
      expect(await opensDashboard(h.app, jar)).toBe(true);
      expect(await opensDashboard(h.app, new Map([['al_admin', planted]]))).toBe(false);
    }
  });

  it('when a campaigner logs out, then the old session id cannot be used again, for pages or actions', async () => {
    const { jar, token } = await loggedIn(h.app);
    const stolen = new Map(jar);
    const res = await request(h.app).post('/admin/logout').set('Cookie', header(jar)).type('form').send({ _csrf: token }).expect(303);
    absorb(jar, res);
    expect(jar.has('al_admin')).toBe(false);
    expect(await opensDashboard(h.app, stolen)).toBe(false);
    const page = await request(h.app).get(DASH).set('Cookie', header(stolen)).set('Accept', 'text/html').expect(303);
    expect(page.headers.location).toMatch(/^\/admin\/login/);
    const action = await request(h.app).post(`${DASH}/pause`).set('Cookie', header(stolen)).type('form').send({ _csrf: token });
    expect([401, 403]).toContain(action.status);
    expect((await h.control.status([])).paused).toBeNull();
    await request(h.app).get(`${DASH}/export.csv?personal=1`).set('Cookie', header(stolen)).set('Accept', 'application/json').expect(401);
  });

  it('when a session id is guessed or malformed, then it opens nothing', async () => {
    for (const id of ['', 'x', 'A'.repeat(43), '../../etc/passwd', `${'A'.repeat(42)}*`, 'A'.repeat(200)]) {
      expect(await opensDashboard(h.app, new Map([['al_admin', encodeURIComponent(id)]])), id).toBe(false);
    }
  });
});

describe('the SendGrid event webhook', () => {
  const keyPair = () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    return { privateKey, publicB64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
  };
  const sendgrid = keyPair();
  const clock = manualClock(Date.now());
  let h: Harness;
  let letterId: string;
  beforeAll(async () => {
    h = createHarness('security-webhook', { env: { SENDGRID_WEBHOOK_PUBLIC_KEY: sendgrid.publicB64, WEBHOOK_MAX_AGE_SECONDS: '600' }, clock });
    const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'webhook@example.net', recipients: ['gz-psb'] })), 303);
    letterId = (await h.letters.findByToken(/^\/letters\/([^/]+)\/sent$/.exec(res.headers.location!)![1]!))!;
    await h.log.apply(SHIPPED_CAMPAIGN, letterId, 'gz-psb', 'send-started', { attempt: 1 });
    await h.log.apply(SHIPPED_CAMPAIGN, letterId, 'gz-psb', 'provider-accepted', { messageId: `msg-${letterId}` });
  });
  afterAll(() => h.close());

  const seconds = () => Math.floor(clock.now() / 1000);
  const event = (fields: Record<string, unknown>) => ({
    sg_event_id: randomUUID(),
    sg_message_id: `msg-${letterId}.filter0001`,
    timestamp: seconds(),
    email: 'gz-psb@example.org',
    campaign: SHIPPED_CAMPAIGN,
    letter: letterId,
    target: 'gz-psb',
    ...fields,
  });
  /** A request as SendGrid signs it: ECDSA over the timestamp header followed by the raw body. */
  const signed = (body: string, opts: { key?: KeyObject; timestamp?: string } = {}) => {
    const timestamp = opts.timestamp ?? String(seconds());
    const signature = sign('sha256', Buffer.concat([Buffer.from(timestamp), Buffer.from(body)]), opts.key ?? sendgrid.privateKey).toString('base64');
    return { body, timestamp, signature };
  };
  const deliver = (r: { body: string; timestamp?: string; signature?: string }) => {
    const req = request(h.app).post('/webhooks/sendgrid').set('Content-Type', 'application/json');
    if (r.signature !== undefined) req.set('X-Twilio-Email-Event-Webhook-Signature', r.signature);
    if (r.timestamp !== undefined) req.set('X-Twilio-Email-Event-Webhook-Timestamp', r.timestamp);
    return req.send(r.body);
  };
  const state = async () =>
    JSON.stringify({
      record: await h.log.get(letterId, 'gz-psb'),
      counts: (await h.log.counts(SHIPPED_CAMPAIGN)).byState,
      held: (await h.control.status([SHIPPED_CAMPAIGN])).held,
    });

  it('when a request is unsigned, mis-signed, signed over another body, stale, from the future or malformed, then 401 and nothing changes', async () => {
    const bounce = JSON.stringify([event({ event: 'bounce', type: 'bounce', reason: '550 5.1.1 forged' })]);
    const genuine = signed(JSON.stringify([event({ event: 'delivered' })]));
    const before = await state();
    const forgeries: [string, { body: string; timestamp?: string; signature?: string }][] = [
      ['unsigned', { body: bounce }],
      ['a signature without a timestamp', { body: bounce, signature: signed(bounce).signature }],
      ['signed with another key', signed(bounce, { key: keyPair().privateKey })],
      ['a genuine signature over another body', { ...genuine, body: bounce }],
      ['a genuine signature with another timestamp', { ...genuine, timestamp: String(Number(genuine.timestamp) - 1) }],
      ['stale: signed 601 seconds ago', signed(bounce, { timestamp: String(seconds() - 601) })],
      ['from the future: signed 120 seconds ahead', signed(bounce, { timestamp: String(seconds() + 120) })],
      ['a malformed timestamp', { ...signed(bounce), timestamp: 'yesterday' }],
      ['a malformed signature', { ...signed(bounce), signature: 'not base64!' }],
      ['an empty signature', { ...signed(bounce), signature: '' }],
    ];
    for (const [what, r] of forgeries) {
      const res = await deliver(r);
      expect(res.status, what).toBe(401);
      expect(res.body, what).toEqual({ error: 'invalid signature' });
      expect(await state(), what).toBe(before);
    }
    expect((await h.log.get(letterId, 'gz-psb'))!.state).toBe('sent');
  });

  it('when a genuine request is captured and replayed, then it is applied once within the window and refused with 401 after it', async () => {
    const captured = signed(JSON.stringify([event({ event: 'delivered', response: '250 OK' })]));
    expect((await deliver(captured).expect(200)).body).toEqual({ applied: 1, duplicates: 0, ignored: 0 });
    expect((await h.log.get(letterId, 'gz-psb'))!.state).toBe('delivered');
    const after = await state();
    expect((await deliver(captured).expect(200)).body).toEqual({ applied: 0, duplicates: 1, ignored: 0 });
    expect(await state()).toBe(after);
    clock.advance(601_000);
    const late = await deliver(captured);
    expect(late.status).toBe(401);
    expect(await state()).toBe(after);
  });
});
