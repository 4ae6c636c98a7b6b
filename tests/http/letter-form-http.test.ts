import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, expectStatus, postLetter, SHIPPED_CAMPAIGN, validForm, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(() => {
  h = createHarness('http-form');
});
afterAll(async () => {
  await h.close();
});

const post = (body: Record<string, string | string[]>) => postLetter(h.app, SHIPPED_CAMPAIGN, body);

describe('the campaign page', () => {
  it('when a supporter opens /, then it shows the case, the three demands, the count and the prefilled form', async () => {
    const res = await request(h.app).get('/').expect(200);
    expect(res.text).toContain('Write for Huang Xueqin and Wang Jianbing');
    expect(res.text).toContain('Release Sophia Huang Xueqin and Wang Jianbing immediately and unconditionally.');
    expect(res.text).toContain('Stop harassing, arresting and threatening other human rights defenders');
    expect(res.text).toMatch(/<strong class="tally-count" data-stat="letters">0<\/strong>/);
    expect(res.text).toMatch(/<textarea id="body" name="body"[^>]*>I am writing to you about Sophia Huang Xueqin \(黄雪琴\)/);
    expect(res.text).toContain('1. Release Sophia Huang Xueqin');
    expect(res.text).toMatch(/<input type="checkbox" id="r-gz-psb" name="recipients" value="gz-psb"[^>]* checked>/);
    expect(res.text).toContain('Embassy of the People&#39;s Republic of China in France');
    expect(res.text).toContain('<option value="FR">France</option>');
  });

  it('when the page is served, then no target address appears in it', async () => {
    const res = await request(h.app).get(`/c/${SHIPPED_CAMPAIGN}`).expect(200);
    expect(res.text).not.toMatch(/@example\.(org|net)/);
  });

  it('when the page is served, then a strict content security policy forbids inline scripts', async () => {
    const res = await request(h.app).get('/').expect(200);
    expect(res.headers['content-security-policy']).toMatch(/script-src 'self'(;|$)/);
    expect(res.text).not.toMatch(/<script>(?!<\/script>)/);
  });
});

describe('sending a letter', () => {
  it('when fields are wrong, then the form comes back with a message beside each and the text kept', async () => {
    const body = 'My own words about 黄雪琴 that I spent a long time writing.';
    const res = await expectStatus(post(validForm({ firstName: '', email: 'nope', body })), 422);
    expect(res.text).toContain('id="firstName-error"');
    expect(res.text).toContain('id="email-error"');
    expect(res.text).toContain('aria-invalid="true" aria-describedby="email-hint email-error"');
    expect(res.text).toContain(`>${body}</textarea>`);
    expect(res.text).toContain('value="nope"');
    expect(res.text).toContain('<option value="FR" selected>France</option>');
    expect(res.text).toContain('Your letter has not been sent yet');
    expect(await h.queue.count()).toBe(0);
  });

  it('when a recipient id is tampered with, then the letter is refused and no job is created', async () => {
    const res = await expectStatus(post(validForm({ recipients: ['gz-psb', 'attacker-target'] })), 422);
    expect(res.text).toContain('&#34;attacker-target&#34; is not one of this campaign&#39;s recipients');
    expect(await h.queue.count()).toBe(0);
  });

  it('when the form carries an address, then the letter is refused and no job is created', async () => {
    await expectStatus(post(validForm({ recipients: ['victim@example.com'] })), 422);
    const res = await expectStatus(post({ ...validForm(), to: 'victim@example.com' }), 422);
    expect(res.text).toContain('The form carried fields this campaign does not accept (to)');
    expect(await h.queue.count()).toBe(0);
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(0);
  });

  it('when the letter is valid, then it is stored, one job per recipient is queued, and the browser is redirected', async () => {
    const res = await expectStatus(post(validForm()), 303);
    const match = /^\/letters\/([A-Za-z0-9_-]{48})\/sent$/.exec(res.headers.location ?? '');
    expect(match).not.toBeNull();
    const jobs = await h.queue.getJobs(['waiting', 'prioritized', 'delayed']);
    expect(jobs.map((j) => (j.data as { t: string }).t).sort()).toEqual(['embassy-fr', 'gz-procuratorate', 'gz-psb']);
    for (const j of jobs) expect(Object.keys(j.data).sort()).toEqual(['l', 't']);
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.letters).toBe(1);
    expect(counts.byState.queued).toBe(3);

    const sent = await request(h.app).get(res.headers.location!).expect(200);
    expect(sent.text).toContain('Thank you, Ana');
    expect(sent.text).toContain(`https://letters.example.org/letters/${match![1]}`);
    expect(sent.headers['cache-control']).toBe('no-store');

    const status = await request(h.app).get(`/letters/${match![1]}`).expect(200);
    expect(status.text.match(/badge-queued/g)).toHaveLength(3);
    expect(status.text).toContain('Embassy of the People&#39;s Republic of China in France');
    expect(status.text).toContain('I am writing about Sophia Huang Xueqin (黄雪琴)');
    await h.queue.obliterate({ force: true });
  });

  it('when a status token is unknown or malformed, then the page is not found', async () => {
    await request(h.app).get('/letters/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').expect(404);
    await request(h.app).get('/letters/short').expect(404);
  });

  it('when the body is over the size limit, then it is refused with 413 and nothing is queued', async () => {
    await expectStatus(post(validForm({ body: 'x'.repeat(300_000) })), 413);
    expect(await h.queue.count()).toBe(0);
  });

  it('when the live count is asked for, then it reports letters and sent emails', async () => {
    const res = await request(h.app).get(`/c/${SHIPPED_CAMPAIGN}/stats.json`).expect(200);
    expect(res.body).toEqual({ letters: 1, deliveries: 3, sent: 0, goal: 10000 });
  });
});

describe('health', () => {
  it('when Redis answers, then /healthz and /readyz are green', async () => {
    await request(h.app).get('/healthz').expect(200, { status: 'ok' });
    const ready = await request(h.app).get('/readyz').expect(200);
    expect(ready.body.checks).toEqual({ redis: true, campaigns: true });
  });
});

describe('the campaign page served from its cache of fresh forms', () => {
  it('when the page is opened twice, then each copy has its own one-time form fields and the current count', async () => {
    const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1];
    const first = await request(h.app).get(`/c/${SHIPPED_CAMPAIGN}`).expect(200);
    await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'count-moves@example.net' })), 303);
    const second = await request(h.app).get(`/c/${SHIPPED_CAMPAIGN}`).expect(200);
    for (const name of ['submission', '_csrf', 'startedAt']) {
      expect(field(first.text, name)).toBeTruthy();
      expect(field(second.text, name)).not.toBe(field(first.text, name));
    }
    const count = (html: string) => Number(/data-stat="letters">([\d,]+)</.exec(html)![1]!.replace(/,/g, ''));
    expect(count(second.text)).toBe(count(first.text) + 1);
    expect(second.text).not.toMatch(/__[A-Z]+_7f3a9c__/);
  });
});

describe('a long letter', () => {
  let long: Harness;
  beforeAll(() => {
    long = createHarness('letter-form-long');
  });
  afterAll(() => long.close());

  it('when a letter in Chinese is as long as the campaign allows, then it is accepted whole (each character takes 9 bytes once form-encoded)', async () => {
    const words = '我们呼吁立即无条件释放黄雪琴和王建兵，保障他们的健康与尊严，并停止对人权捍卫者的打压。';
    const body = Array.from({ length: 10_000 }, (_, i) => words[(i * 7) % words.length]).join('');
    const res = await expectStatus(postLetter(long.app, SHIPPED_CAMPAIGN, validForm({ body, email: 'long-zh@example.net', recipients: ['gz-psb'] })), 303);
    const token = /^\/letters\/([^/]+)\/sent$/.exec(res.headers.location!)![1]!;
    const letter = await long.letters.get((await long.letters.findByToken(token))!);
    expect(letter!.body).toBe(body);
  });
});
