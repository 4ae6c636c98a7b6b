import { createHash } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ENV, loginAsAdmin } from '../support/admin.js';
import { createHarness, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// bull-board at /admin/queues: behind the dashboard login, read-only, and under a Content-Security-Policy
// that allows its own inline styles by hash and nothing else, on its paths only.

let h: Harness;
let agent: Awaited<ReturnType<typeof loginAsAdmin>>;
beforeAll(async () => {
  h = createHarness('queue-board', { env: ADMIN_ENV });
  agent = await loginAsAdmin(h.app);
});
afterAll(() => h.close());

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const directive = (csp: string, name: string) => csp.split(';').find((d) => d.trim().startsWith(`${name} `)) ?? '';

describe('the queue board', () => {
  it('when nobody is logged in, then the board sends the browser to the login page and its API answers 401', async () => {
    const page = await request(h.app).get('/admin/queues').set('Accept', 'text/html').expect(303);
    expect(page.headers.location).toBe('/admin/login?next=%2Fadmin%2Fqueues');
    await request(h.app).get('/admin/queues/api/queues').set('Accept', 'application/json').expect(401);
    await request(h.app).put('/admin/queues/api/queues/deliveries/pause').set('Accept', 'application/json').expect(401);
    expect(await h.queue.isPaused()).toBe(false);
  });

  it('when a campaigner opens it, then the page loads and its scripts and styles come from this site', async () => {
    const res = await agent.get('/admin/queues').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('<title>Delivery queue</title>');
    expect(res.text).toContain('<base href="/admin/queues/" />');
    expect(res.headers['x-powered-by']).toBeUndefined();
    const script = /<script defer src="(static\/js\/main\.[^"]+\.js)"/.exec(res.text)?.[1];
    expect(script).toBeDefined();
    const js = await agent.get(`/admin/queues/${script}`).expect(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    const css = /<link href="(static\/css\/main\.[^"]+\.css)"/.exec(res.text)?.[1];
    await agent.get(`/admin/queues/${css}`).expect(200);
  });

  it("when its page is served, then scripts stay 'self' only and each of its inline styles is allowed by its hash, nothing more", async () => {
    const res = await agent.get('/admin/queues/queue/deliveries').expect(200);
    const csp = res.headers['content-security-policy'] as string;
    expect(directive(csp, 'script-src')).toBe("script-src 'self'");
    expect(directive(csp, 'script-src-attr')).toBe("script-src-attr 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('fonts.googleapis.com');
    const attributes = [...res.text.matchAll(/style="([^"]*)"/g)].map((m) => hash(m[1]!));
    const elements = [...res.text.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => hash(m[1]!));
    expect(attributes.length + elements.length).toBeGreaterThan(0);
    for (const a of attributes) expect(directive(csp, 'style-src-attr'), 'a style attribute bull-board serves').toContain(a);
    for (const e of elements) expect(directive(csp, 'style-src-elem'), 'a <style> block bull-board serves').toContain(e);
  });

  it('when any other page is served, then the strict policy is unchanged', async () => {
    for (const path of ['/', '/admin/login']) {
      const csp = (await agent.get(path).expect(200)).headers['content-security-policy'] as string;
      expect(directive(csp, 'style-src')).toBe("style-src 'self'");
      expect(csp).not.toContain('sha256-');
      expect(csp).not.toContain('style-src-attr');
    }
  });

  it('when its API is asked for the queues, then it lists the deliveries queue with the jobs of a letter just written', async () => {
    await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ recipients: ['gz-psb', 'embassy-fr'] })), 303);
    const res = await agent.get('/admin/queues/api/queues').set('Accept', 'application/json').expect(200);
    const queues = res.body.queues as { name: string; readOnlyMode: boolean; counts: Record<string, number> }[];
    expect(queues.map((q) => q.name)).toEqual(['deliveries']);
    expect(queues[0]!.readOnlyMode).toBe(true);
    expect(queues[0]!.counts.waiting! + queues[0]!.counts.prioritized! + queues[0]!.counts.delayed!).toBe(2);
  });

  it('when someone tries to pause, empty or clean the queue from the board, then it is refused and the queue is untouched', async () => {
    await agent.put('/admin/queues/api/queues/deliveries/pause').set('Accept', 'application/json').expect(405);
    await agent.put('/admin/queues/api/queues/deliveries/empty').set('Accept', 'application/json').expect(405);
    await agent.put('/admin/queues/api/queues/deliveries/clean/delayed').set('Accept', 'application/json').expect(405);
    expect(await h.queue.isPaused()).toBe(false);
    expect(await h.queue.count()).toBe(2);
  });

  it('when an address under /admin/queues is unknown, then our own 404 page answers', async () => {
    const res = await agent.get('/admin/queues/no-such-page').set('Accept', 'text/html').expect(404);
    expect(res.text).toContain('Page not found');
  });
});
