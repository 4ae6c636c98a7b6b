import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryOf, type Campaign } from '../../domain/campaign.js';
import type { Clock } from '../../domain/clock.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';
import { formEncode, formFields } from '../support/forms.js';
import { createHarness, eventually, expectStatus, type Harness } from '../support/harness.js';
import { recordingTransport } from '../support/recording-transport.js';

// Several campaigns on one deployment, each with its own dates, page, counters and letters.

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 15, 12, 0);
const clock = {
  at: NOW,
  now() {
    return this.at;
  },
} satisfies Clock & { at: number };
const named = (slug: string, name: string, dates: Record<string, string>): Campaign => ({
  ...fixtureCampaign({ name, headline: `Write: ${name}`, ...dates }),
  slug,
});
const open = named('open-appeal', 'Open appeal', { opensAt: '2026-12-01', closesAt: '2026-12-31' });
const upcoming = named('next-appeal', 'Next appeal', { opensAt: '2027-01-10' });
const closed = named('past-appeal', 'Past appeal', { opensAt: '2026-10-01', closesAt: '2026-11-30' });

let h: Harness;
beforeAll(() => {
  h = createHarness('several-campaigns', { clock, campaigns: registryOf([open, upcoming, closed]) });
});
afterAll(() => h.close());

const letter = (email: string) => ({
  firstName: 'Ana',
  lastName: 'Lima',
  email,
  country: 'FR',
  recipients: ['gz-psb', 'embassy-fr'],
  subject: 'About 黄雪琴 and 王建兵',
  body: 'I am writing about 黄雪琴 and 王建兵. Please release them.',
});
const send = async (slug: string, email: string) => {
  const { fields, cookie } = await formFields(h.app, slug);
  return request(h.app)
    .post(`/c/${slug}/letters`)
    .set('Cookie', cookie)
    .type('form')
    .send(formEncode({ ...fields, ...letter(email) }));
};

describe('several campaigns', () => {
  it('when / is opened, then it lists the open campaigns, then those opening soon and those closed, each with its date', async () => {
    const res = await request(h.app).get('/').expect(200);
    const at = (s: string) => res.text.indexOf(s);
    expect(at('Open campaigns')).toBeLessThan(at('Write: Open appeal'));
    expect(at('Write: Open appeal')).toBeLessThan(at('Opening soon'));
    expect(at('Opening soon')).toBeLessThan(at('Write: Next appeal'));
    expect(at('Closed campaigns')).toBeLessThan(at('Write: Past appeal'));
    expect(res.text).toContain('Opens on 10 January 2027.');
    expect(res.text).toContain('Closed on 30 November 2026.');
    expect(res.text).toContain('href="/c/open-appeal"');
  });

  it('when each campaign receives a letter, then each counts only its own', async () => {
    await expectStatus(send('open-appeal', 'counts@example.net'), 303);
    expect((await h.log.counts('open-appeal')).letters).toBe(1);
    expect((await h.log.counts('past-appeal')).letters).toBe(0);
    const stats = await request(h.app).get('/c/open-appeal/stats.json').expect(200);
    expect(stats.body).toMatchObject({ letters: 1, deliveries: 2 });
  });
});

describe('campaign dates', () => {
  it('when a campaign has not opened, then its page says when it opens, shows no form, and a letter sent anyway is refused and not queued', async () => {
    const page = await request(h.app).get('/c/next-appeal').expect(200);
    expect(page.text).toContain('This campaign has not opened yet');
    expect(page.text).toContain('Letters can be written from 10 January 2027.');
    expect(page.text).not.toContain('<form method="post"');
    const before = await h.queue.count();
    const res = await send('next-appeal', 'early@example.net');
    expect(res.status).toBe(403);
    expect(await h.queue.count()).toBe(before);
    expect((await h.log.counts('next-appeal')).letters).toBe(0);
  });

  it('when a campaign has closed, then its page thanks supporters with the final count, and a late letter is refused (its text shown back) and not queued', async () => {
    const page = await request(h.app).get('/c/past-appeal').expect(200);
    expect(page.text).toContain('This campaign is closed');
    expect(page.text).toContain('The campaign closed on 30 November 2026. Thank you to everyone who wrote. 0 letters were written.');
    expect(page.text).toContain('Letters already written are still being delivered');
    const before = await h.queue.count();
    const res = await send('past-appeal', 'late@example.net');
    expect(res.status).toBe(410);
    expect(res.text).toContain('I am writing about 黄雪琴 and 王建兵. Please release them.</textarea>');
    expect(await h.queue.count()).toBe(before);
  });

  it('when letters were accepted before the end, then after the end no new letter is taken but those are still delivered', async () => {
    clock.at = Date.UTC(2026, 11, 31, 23, 0);
    await expectStatus(send('open-appeal', 'last-day@example.net'), 303);
    clock.at = Date.UTC(2026, 11, 31, 23, 0) + DAY;
    expect((await send('open-appeal', 'too-late@example.net')).status).toBe(410);
    const page = await request(h.app).get('/c/open-appeal').expect(200);
    expect(page.text).toContain('2 letters were written.');
    const transport = recordingTransport();
    h.startWorker(transport);
    await eventually(async () => (transport.sends.filter((s) => s.email.replyTo.email === 'last-day@example.net').length === 2 ? true : undefined));
    expect(transport.sends.some((s) => s.email.replyTo.email === 'too-late@example.net')).toBe(false);
    await h.closeWorkers();
  });
});
