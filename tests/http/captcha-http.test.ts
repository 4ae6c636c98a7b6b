import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, expectStatus, postLetter, SHIPPED_CAMPAIGN, validForm, type Harness } from '../support/harness.js';

// The optional captcha (here Turnstile), verified server-side against a local stand-in of the
// provider's verification endpoint.

let h: Harness;
let verifier: http.Server;
const seen: URLSearchParams[] = [];

beforeAll(async () => {
  verifier = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const params = new URLSearchParams(body);
      seen.push(params);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: params.get('secret') === 'captcha-secret' && params.get('response') === 'human-answer' }));
    });
  });
  await new Promise<void>((r) => verifier.listen(0, '127.0.0.1', r));
  const { port } = verifier.address() as AddressInfo;
  h = createHarness('captcha', {
    env: {
      CAPTCHA_PROVIDER: 'turnstile',
      CAPTCHA_SITE_KEY: 'site-key-1',
      CAPTCHA_SECRET: 'captcha-secret',
      CAPTCHA_VERIFY_URL: `http://127.0.0.1:${port}/siteverify`,
    },
  });
});
afterAll(async () => {
  await h.close();
  await new Promise((r) => verifier.close(r));
});

describe('the captcha for campaigns under attack', () => {
  it('when it is on, then the form shows the widget and the policy allows only its script and frame', async () => {
    const page = await request(h.app).get('/').expect(200);
    expect(page.text).toContain('<div class="cf-turnstile" data-sitekey="site-key-1"></div>');
    expect(page.text).toContain('<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>');
    const csp = page.headers['content-security-policy'] as string;
    expect(csp).toMatch(/script-src 'self' https:\/\/challenges\.cloudflare\.com(;|$)/);
    expect(csp).toMatch(/frame-src https:\/\/challenges\.cloudflare\.com(;|$)/);
  });

  it('when the answer is missing or wrong, then the letter is refused with the text kept and nothing queued', async () => {
    const body = 'My letter, which I do not want to retype, about 黄雪琴.';
    const missing = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ body })), 422);
    expect(missing.text).toContain('Please complete the check');
    expect(missing.text).toContain(`>${body}</textarea>`);
    await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ body, 'cf-turnstile-response': 'bot-answer' })), 422);
    expect(await h.queue.count()).toBe(0);
  });

  it('when the answer is right, then the letter goes, verified with the secret and the sender address', async () => {
    seen.length = 0;
    await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ 'cf-turnstile-response': 'human-answer' })), 303);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.get('secret')).toBe('captcha-secret');
    expect(seen[0]!.get('remoteip')).toMatch(/127\.0\.0\.1/);
    expect(await h.queue.count()).toBe(3);
  });

  it('when the provider cannot be reached, then the letter is refused (fail closed) with the text kept', async () => {
    const down = createHarness('captcha-down', {
      env: { CAPTCHA_PROVIDER: 'hcaptcha', CAPTCHA_SITE_KEY: 'k', CAPTCHA_SECRET: 's', CAPTCHA_VERIFY_URL: 'http://127.0.0.1:9/siteverify' },
    });
    try {
      const res = await expectStatus(postLetter(down.app, SHIPPED_CAMPAIGN, validForm({ 'h-captcha-response': 'x' })), 503);
      expect(res.text).toContain('could not be verified just now');
      expect(await down.queue.count()).toBe(0);
    } finally {
      await down.close();
    }
  });
});
