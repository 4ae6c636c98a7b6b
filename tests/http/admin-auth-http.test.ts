import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ENV, csrfFrom, loginAsAdmin, TEST_ADMIN_PASSWORD } from '../support/admin.js';
import { ADMIN_COOKIE } from '../../server/admin/admin-session.js';
import { createHarness, type Harness } from '../support/harness.js';

// The dashboard's door: login, lockout, logout, CSRF, and the dashboard off without a password.

let h: Harness;
beforeAll(() => {
  h = createHarness('admin-auth', { env: { ...ADMIN_ENV, LOGIN_MAX_FAILURES: '3' } });
});
afterAll(() => h.close());

describe('the campaigner login', () => {
  it('when nobody is logged in, then /admin sends the browser to the login page and JSON clients get 401', async () => {
    const res = await request(h.app).get('/admin/c/free-huang-xueqin-wang-jianbing').set('Accept', 'text/html').expect(303);
    expect(res.headers.location).toBe('/admin/login?next=%2Fadmin%2Fc%2Ffree-huang-xueqin-wang-jianbing');
    await request(h.app).get('/admin/c/free-huang-xueqin-wang-jianbing').set('Accept', 'application/json').expect(401);
  });

  it('when the right password is given, then a fresh httpOnly, SameSite session cookie opens the dashboard', async () => {
    const agent = await loginAsAdmin(h.app);
    const page = await agent.get('/admin').redirects(1).expect(200);
    expect(page.text).toContain('Free Huang Xueqin and Wang Jianbing');
    expect(page.headers['cache-control']).toBe('no-store');
  });

  it('when a campaigner keeps using the dashboard, then each page renews the login cookie for ADMIN_SESSION_HOURS (it lasts that long without use, not from login)', async () => {
    const agent = await loginAsAdmin(h.app);
    const page = await agent.get('/admin').redirects(1).expect(200);
    const cookies = (page.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
    const session = cookies.find((c) => c.startsWith(`${ADMIN_COOKIE}=`));
    expect(session).toBeDefined();
    expect(session).toMatch(/Max-Age=28800/);
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Strict/);
  });

  it('when only the dashboard refreshes itself (an open, unattended tab), then the login is not kept alive by it', async () => {
    // This login's session is the only one.
    for (const k of await h.t.redis.keys(h.t.keys.adminSession('*'))) await h.t.redis.del(k);
    const agent = await loginAsAdmin(h.app);
    await agent.get('/admin').redirects(1).expect(200);
    const [key] = await h.t.redis.keys(h.t.keys.adminSession('*'));
    await h.t.redis.expire(key!, 100);
    const live = await agent.get('/admin/c/free-huang-xueqin-wang-jianbing/live').expect(200);
    expect(((live.headers['set-cookie'] as unknown as string[] | undefined) ?? []).some((c) => c.startsWith(`${ADMIN_COOKIE}=`))).toBe(false);
    expect(await h.t.redis.ttl(key!)).toBeLessThanOrEqual(100);
    // A page the campaigner opens is use.
    await agent.get('/admin/c/free-huang-xueqin-wang-jianbing').expect(200);
    expect(await h.t.redis.ttl(key!)).toBeGreaterThan(100);
  });

  it('when a session id is planted before login, then login replaces it (no fixation)', async () => {
    const planted = 'A'.repeat(43);
    const agent = request.agent(h.app);
    agent.jar.setCookie(`al_admin=${planted}`, '127.0.0.1', '/');
    const page = await agent.get('/admin/login').expect(200);
    const res = await agent
      .post('/admin/login')
      .type('form')
      .send({ _csrf: csrfFrom(page).token, password: TEST_ADMIN_PASSWORD })
      .expect(303);
    const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('al_admin='))!;
    expect(cookie).not.toContain(planted);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    await request(h.app).get('/admin').set('Cookie', `al_admin=${planted}`).set('Accept', 'application/json').expect(401);
  });

  it('when the CSRF token is missing or forged, then the login is refused', async () => {
    const agent = request.agent(h.app);
    await agent.get('/admin/login').expect(200);
    await agent.post('/admin/login').type('form').send({ password: TEST_ADMIN_PASSWORD }).expect(403);
    await agent.post('/admin/login').type('form').send({ _csrf: 'forged-token', password: TEST_ADMIN_PASSWORD }).expect(403);
  });

  it('when a wrong password is tried repeatedly, then the address is locked out, even for the right one', async () => {
    const agent = request.agent(h.app);
    for (let i = 0; i < 3; i++) {
      const page = await agent.get('/admin/login').expect(200);
      const res = await agent
        .post('/admin/login')
        .type('form')
        .send({ _csrf: csrfFrom(page).token, password: `guess-${i}` })
        .expect(401);
      expect(res.text).toContain('That password is not right.');
    }
    const page = await agent.get('/admin/login').expect(200);
    const locked = await agent
      .post('/admin/login')
      .type('form')
      .send({ _csrf: csrfFrom(page).token, password: TEST_ADMIN_PASSWORD })
      .expect(429);
    expect(locked.text).toMatch(/Too many failed attempts\. Try again in 15 minutes\./);
    // Lift the lockout for the tests that follow (the counter is keyed by a hash of the address).
    const counters = await h.t.redis.keys(`${h.t.keys.loginFailures}*`);
    expect(counters.length).toBeGreaterThan(0);
    await h.t.redis.del(...counters);
  });

  it('when a campaigner logs out, then the session no longer opens the dashboard', async () => {
    const agent = await loginAsAdmin(h.app);
    const page = await agent.get('/admin').redirects(1).expect(200);
    await agent
      .post('/admin/logout')
      .type('form')
      .send({ _csrf: csrfFrom(page).token })
      .expect(303);
    await agent.get('/admin').set('Accept', 'application/json').expect(401);
  });

  it('when a login page link names another site as "next", then login stays on this site', async () => {
    const agent = request.agent(h.app);
    const page = await agent.get('/admin/login?next=https://evil.example.com/').expect(200);
    expect(page.text).toContain('name="next" value="/admin"');
  });
});

describe('without a campaigner password', () => {
  it('then /admin is off and says how to turn it on', async () => {
    const off = createHarness('admin-off');
    const res = await request(off.app).get('/admin').expect(404);
    expect(res.text).toContain('The dashboard is off');
    await off.close();
  });
});
