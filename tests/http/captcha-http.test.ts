import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPage } from '../support/forms.js';
import { createHarness, eventually, expectStatus, postLetter, SHIPPED_CAMPAIGN, validForm, type Harness } from '../support/harness.js';

// The optional captcha (here Turnstile), verified server-side against a local stand-in of the
// provider's verification endpoint. Like the real providers, it accepts an answer starting "once-" only
// the first time; "human-answer" is accepted every time.

let h: Harness;
let verifier: http.Server;
const seen: URLSearchParams[] = [];
const spent = new Set<string>();
/** When true, the stand-in answers 500 (the provider is down). */
let providerDown = false;
/** When set, the stand-in answers a spent answer only once this settles (orders two clicks' checks in a test). */
let holdSpentAnswer: (() => Promise<unknown>) | undefined;

beforeAll(async () => {
  verifier = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', async () => {
      const params = new URLSearchParams(body);
      seen.push(params);
      if (providerDown) {
        res.writeHead(500).end();
        return;
      }
      const answer = params.get('response') ?? '';
      const fresh = answer.startsWith('once-') && !spent.has(answer);
      spent.add(answer);
      if (answer.startsWith('once-') && !fresh && holdSpentAnswer) await holdSpentAnswer();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: params.get('secret') === 'captcha-secret' && (answer === 'human-answer' || fresh) }));
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

  describe('the same page sent more than once', () => {
    const letters = async () => (await h.log.counts(SHIPPED_CAMPAIGN)).letters;
    const letterCookie = (res: request.Response) =>
      ((res.headers['set-cookie'] as unknown as string[] | undefined) ?? []).find((c) => c.startsWith('al_letters='))?.split(';')[0];

    it("when the supporter double-clicks send, then both clicks get the letter's page, one letter is made and the browser remembers it", async () => {
      const send = await openPage(h.app, SHIPPED_CAMPAIGN);
      const before = await letters();
      const form = validForm({ email: 'double-click@example.net', 'cf-turnstile-response': 'once-double-click' });
      // The click whose check comes second is answered "spent" once the other click's letter is stored
      // (as when the provider answers the second check later), so the outcome does not hang on timing.
      holdSpentAnswer = () => eventually(async () => ((await letters()) > before ? true : undefined));
      const [first, second] = await Promise.all([send(form), send(form)]).finally(() => (holdSpentAnswer = undefined));
      expect([first.status, second.status]).toEqual([303, 303]);
      expect(second.headers.location).toBe(first.headers.location);
      const token = /\/letters\/([^/]+)\/sent$/.exec(first.headers.location!)![1]!;
      // The browser shows (and keeps the cookies of) the last response only.
      expect(letterCookie(second)).toBe(`al_letters=${token}`);
      // Sent once more later (a reload of the result), still the same letter.
      const again = await expectStatus(send(form), 303);
      expect(again.headers.location).toBe(first.headers.location);
      expect((await letters()) - before).toBe(1);
    });

    it("when the provider is down by the time the page is sent again, then the supporter still gets the letter's page", async () => {
      const send = await openPage(h.app, SHIPPED_CAMPAIGN);
      const form = validForm({ email: 'provider-down@example.net', 'cf-turnstile-response': 'once-provider-down' });
      const first = await expectStatus(send(form), 303);
      providerDown = true;
      try {
        const again = await expectStatus(send(form), 303);
        expect(again.headers.location).toBe(first.headers.location);
      } finally {
        providerDown = false;
      }
    });

    it('when the supporter edits the letter on the same page and sends it with the spent answer, then they are asked for the check again and keep the new text', async () => {
      const send = await openPage(h.app, SHIPPED_CAMPAIGN);
      const before = await letters();
      const answer = { email: 'edited-page@example.net', 'cf-turnstile-response': 'once-edited-page' };
      await expectStatus(send(validForm(answer)), 303);
      const body = 'An edited letter, sent again from the same page about 黄雪琴 and 王建兵.';
      const edited = await expectStatus(send(validForm({ ...answer, body })), 422);
      expect(edited.text).toContain('Please complete the check');
      expect(edited.text).toContain(`>${body}</textarea>`);
      expect((await letters()) - before).toBe(1);
    });
  });
});
