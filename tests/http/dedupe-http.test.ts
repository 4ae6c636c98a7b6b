import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SubmissionGuard } from '../../domain/submission-guard.js';
import { openPage } from '../support/forms.js';
import { createHarness, eventually, expectStatus, postLetter, SHIPPED_CAMPAIGN, validForm, type Harness } from '../support/harness.js';
import { recordingTransport } from '../support/recording-transport.js';

// One letter per form, and one letter per supporter per recipient, under concurrent submits.

let h: Harness;
beforeAll(() => {
  h = createHarness('dedupe');
});
afterAll(() => h.close());

const post = (body: Record<string, string | string[]>, cookie?: string) => postLetter(h.app, SHIPPED_CAMPAIGN, body, { cookie });

describe('the same form sent twice', () => {
  it('when eight identical posts arrive at once (double clicks, retries), then one letter is made and all get its confirmation', async () => {
    const form = validForm({ email: 'double@example.net', submission: 'same-submission-id-0001' });
    const responses = await Promise.all(Array.from({ length: 8 }, () => post(form)));
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(303));
    expect(new Set(responses.map((r) => r.headers.location)).size).toBe(1);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(1);
    expect(await h.queue.count()).toBe(3);
  });
});

describe('a page restored by the Back button and sent again', () => {
  const tokenOf = (res: request.Response) => /\/letters\/([^/]+)\/sent$/.exec(res.headers.location!)![1]!;
  const cookieOf = (res: request.Response) => (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('al_letters='))!.split(';')[0]!;

  it('when the supporter ticks another embassy and edits the letter, then a second letter is made and goes to that embassy', async () => {
    const submission = 'back-button-changed-0001';
    const first = await expectStatus(post(validForm({ email: 'back@example.net', country: 'DE', recipients: ['embassy-de'], submission })), 303);
    const body = 'A different letter, this time to the embassy in the United States, about 黄雪琴 and 王建兵.';
    const second = await expectStatus(
      post(validForm({ email: 'back@example.net', country: 'US', recipients: ['embassy-us'], body, submission }), cookieOf(first)),
      303,
    );
    expect(tokenOf(second)).not.toBe(tokenOf(first));
    const page = await request(h.app)
      .get(`/letters/${tokenOf(second)}`)
      .expect(200);
    expect(page.text).toContain('Embassy of the People&#39;s Republic of China in the United States of America');
    expect(page.text).not.toContain('in Germany');
    const letter = await h.letters.get((await h.letters.findByToken(tokenOf(second)))!);
    expect(letter?.body).toBe(body);
    const byTarget = (await h.log.counts(SHIPPED_CAMPAIGN)).byTarget;
    expect(byTarget['embassy-de']?.queued).toBe(1);
    expect(byTarget['embassy-us']?.queued).toBe(1);
  });

  it("when the restored page is sent unchanged, then the first letter's page is shown and no second letter is made", async () => {
    const form = validForm({ email: 'back-same@example.net', country: 'AU', recipients: ['embassy-au'], submission: 'back-button-unchanged-01' });
    const first = await expectStatus(post(form), 303);
    const again = await expectStatus(post(form, cookieOf(first)), 303);
    expect(again.headers.location).toBe(first.headers.location);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).byTarget['embassy-au']?.queued).toBe(1);
  });

  it('when only the second of two clicks reaches the browser, then a later letter to the same recipient links to the first letter instead of emailing it', async () => {
    const send = await openPage(h.app, SHIPPED_CAMPAIGN);
    const form = validForm({ email: 'lost-click@example.net', recipients: ['gz-procuratorate'] });
    const first = await expectStatus(send(form), 303);
    // The first response is dropped: the browser keeps the cookies of the second only.
    const second = await expectStatus(send(form), 303);
    expect(second.headers.location).toBe(first.headers.location);
    const body = 'Another letter to the procuratorate, from a fresh page.';
    const later = await expectStatus(post(validForm({ email: 'lost-click@example.net', recipients: ['gz-procuratorate'], body }), cookieOf(second)), 409);
    expect(later.text).toContain(`<a href="/letters/${tokenOf(first)}">See your first letter and its delivery</a>`);
    expect(later.text).not.toContain('We have emailed a link');
  });

  it('when the edited letter goes to a recipient already written to, then the supporter is told so, links to the first letter and keeps the new text', async () => {
    const submission = 'back-button-same-target-1';
    const first = await expectStatus(post(validForm({ email: 'back-again@example.net', recipients: ['gd-womens-prison'], submission })), 303);
    const body = 'An edited letter to the prison, sent again from the same page.';
    const second = await expectStatus(
      post(validForm({ email: 'back-again@example.net', recipients: ['gd-womens-prison'], body, submission }), cookieOf(first)),
      409,
    );
    expect(second.text).toContain('You have already written to Guangdong Women&#39;s Prison');
    expect(second.text).toContain(`<a href="/letters/${tokenOf(first)}">See your first letter and its delivery</a>`);
    expect(second.text).toContain(`>${body}</textarea>`);
    const prison = (await h.log.counts(SHIPPED_CAMPAIGN)).byTarget['gd-womens-prison']!;
    expect(Object.values(prison).reduce((a, b) => a + b, 0)).toBe(1);
  });
});

describe('a second letter from the same supporter to the same recipient', () => {
  it('when eight different letters from one address race to one recipient, then exactly one is accepted', async () => {
    const emails = [
      'Race@Example.net',
      ' race@example.net',
      'RACE@example.net ',
      'race@EXAMPLE.NET',
      'race@example.net',
      'Race@example.net',
      'race@example.net',
      'race@Example.Net',
    ];
    const responses = await Promise.all(
      emails.map((email, i) => post(validForm({ email, recipients: ['embassy-gb'], country: 'GB', body: `Letter number ${i} about 黄雪琴 and 王建兵.` }))),
    );
    expect(responses.filter((r) => r.status === 303)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 409)).toHaveLength(7);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).byTarget['embassy-gb']?.queued).toBe(1);
  });

  it('when the browser holds the first letter, then the refusal links to it and keeps the new text', async () => {
    const first = await expectStatus(post(validForm({ email: 'cookie@example.net', recipients: ['gz-psb'] })), 303);
    const cookie = (first.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('al_letters='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    const token = /\/letters\/([^/]+)\/sent/.exec(first.headers.location!)![1]!;
    const body = 'A second, different letter to the same bureau.';
    const second = await expectStatus(
      post(validForm({ email: 'cookie@example.net', recipients: ['gz-psb', 'gz-procuratorate'], body }), cookie.split(';')[0]),
      409,
    );
    expect(second.text).toContain('You have already written to Guangzhou Municipal Public Security Bureau');
    expect(second.text).toContain(`<a href="/letters/${token}">See your first letter and its delivery</a>`);
    expect(second.text).toContain(`>${body}</textarea>`);
    expect(second.text).not.toContain('We have emailed a link');
    // Unticking the bureau lets the letter go to the other recipient.
    await expectStatus(post(validForm({ email: 'cookie@example.net', recipients: ['gz-procuratorate'], body }), cookie.split(';')[0]), 303);
  });

  it('when another browser tries, then the link is emailed to the address on the first letter, never shown', async () => {
    await expectStatus(post(validForm({ email: 'elsewhere@example.net', recipients: ['embassy-ca'], country: 'CA' })), 303);
    const second = await expectStatus(post(validForm({ email: 'elsewhere@example.net', recipients: ['embassy-ca'], country: 'CA' })), 409);
    expect(second.text).toContain('We have emailed a link to follow your first letter to the address you entered.');
    expect(second.text).not.toMatch(/href="\/letters\//);

    const mail = recordingTransport();
    h.startWorker(mail);
    const sent = await eventually(async () => mail.to('elsewhere@example.net')[0]);
    expect(sent.email.subject).toBe('Your letter on "Free Huang Xueqin and Wang Jianbing"');
    const link = /https:\/\/letters\.example\.org(\/letters\/[A-Za-z0-9_-]{48})/.exec(sent.email.text)![1]!;
    const page = await request(h.app).get(link).expect(200);
    expect(page.text).toContain('Embassy of the People&#39;s Republic of China in Canada');
    // A third try within the hour sends no second email.
    await expectStatus(post(validForm({ email: 'elsewhere@example.net', recipients: ['embassy-ca'], country: 'CA' })), 409);
    await new Promise((r) => setTimeout(r, 300));
    expect(mail.to('elsewhere@example.net')).toHaveLength(1);
  });
});

describe('a letter whose request died between claiming its recipients and storing it', () => {
  const GRACE_MS = 1000;
  let c: Harness;
  beforeAll(() => {
    c = createHarness('dedupe-crash');
    c.deps.guard = new SubmissionGuard(c.t.redis, c.t.keys, GRACE_MS);
  });
  afterAll(() => c.close());

  /** Storing the letter fails and so does every clean-up, as when Redis drops (or the process dies) right after the claims. */
  const crashAfterAdmission = () => {
    const lost = new Error('Connection is closed.');
    vi.spyOn(c.letters, 'create').mockRejectedValueOnce(lost);
    vi.spyOn(c.deps.guard, 'releaseRecipients').mockRejectedValueOnce(lost);
    vi.spyOn(c.deps.guard, 'abandonSubmission').mockRejectedValueOnce(lost);
  };

  it('when the supporter sends the page again a little later, then the letter is made and its page lists the embassy', async () => {
    const body = 'A letter to the embassy in Germany, sent again after an error.';
    const form = validForm({ email: 'crash@example.net', country: 'DE', recipients: ['embassy-de'], body, submission: 'crashed-page-submission1' });
    crashAfterAdmission();
    const failed = await expectStatus(postLetter(c.app, SHIPPED_CAMPAIGN, form), 503);
    expect(failed.text).toContain(`>${body}</textarea>`);
    vi.restoreAllMocks();
    await new Promise((r) => setTimeout(r, GRACE_MS + 100));

    const again = await expectStatus(postLetter(c.app, SHIPPED_CAMPAIGN, form), 303);
    const page = await request(c.app)
      .get(again.headers.location!.replace(/\/sent$/, ''))
      .expect(200);
    expect(page.text).toContain('Embassy of the People&#39;s Republic of China in Germany');
    expect((await c.log.counts(SHIPPED_CAMPAIGN)).byTarget['embassy-de']?.queued).toBe(1);
  });

  it('when the supporter opens a fresh page a little later, then they can write to that embassy instead of being told they already did', async () => {
    const form = validForm({ email: 'crash-fresh@example.net', country: 'US', recipients: ['embassy-us'] });
    crashAfterAdmission();
    await expectStatus(postLetter(c.app, SHIPPED_CAMPAIGN, form), 503);
    vi.restoreAllMocks();
    await new Promise((r) => setTimeout(r, GRACE_MS + 100));

    await expectStatus(postLetter(c.app, SHIPPED_CAMPAIGN, form), 303);
    expect((await c.log.counts(SHIPPED_CAMPAIGN)).byTarget['embassy-us']?.queued).toBe(1);
  });
});
