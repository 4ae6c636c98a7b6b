import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../domain/clock.js';
import { adminCsrf, ADMIN_ENV, loginAsAdmin } from '../support/admin.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { recordingTransport, type RecordingTransport } from '../support/recording-transport.js';

// The campaigner dashboard: every number checked against a known set of letters, and every control.

const DASH = `/admin/c/${SHIPPED_CAMPAIGN}`;
let h: Harness;
let agent: Awaited<ReturnType<typeof loginAsAdmin>>;
const letters: { token: string; letterId: string }[] = [];

async function send(email: string, country: string, recipients: string[]) {
  const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email, country, recipients })), 303);
  const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
  const letter = { token, letterId: (await h.letters.findByToken(token))! };
  letters.push(letter);
  return letter;
}

/** The number in the totals table for a state, column 0 = now, 1 = today, 2 = this hour. */
function cell(html: string, attr: 'now' | 'today' | 'hour', state: string): number {
  const m = new RegExp(`data-${attr}="${state}">([\\d,]+)<`).exec(html);
  if (!m) throw new Error(`no ${attr} cell for ${state}`);
  return Number(m[1]!.replace(/,/g, ''));
}

beforeAll(async () => {
  h = createHarness('dashboard', { env: ADMIN_ENV });
  agent = await loginAsAdmin(h.app);
  // A known set: 4 letters, 7 deliveries, from France (3) and Germany (1).
  const a = await send('a@example.net', 'FR', ['gz-psb', 'embassy-fr']);
  const b = await send('b@example.net', 'FR', ['gz-psb', 'gz-procuratorate']);
  await send('c@example.net', 'FR', ['gz-psb']);
  const d = await send('d@example.net', 'DE', ['gz-psb', 'embassy-de']);
  const go = async (l: { letterId: string }, t: string, ...events: Parameters<Harness['log']['apply']>[3][]) => {
    for (const e of events)
      await h.log.apply(
        SHIPPED_CAMPAIGN,
        l.letterId,
        t,
        e,
        e === 'provider-accepted' ? { messageId: 'm' } : e === 'permanent-error' ? { error: 'The mail provider refused the letter (400).' } : {},
      );
  };
  await go(a, 'gz-psb', 'send-started', 'provider-accepted', 'provider-delivered');
  await go(a, 'embassy-fr', 'send-started', 'provider-accepted');
  await go(b, 'gz-psb', 'send-started', 'permanent-error');
  await go(d, 'embassy-de', 'send-started', 'provider-accepted');
  await h.log.apply(SHIPPED_CAMPAIGN, d.letterId, 'embassy-de', 'provider-bounced', { error: '550 5.1.1 mailbox unavailable' });
});
afterAll(() => h.close());

describe('the dashboard numbers', () => {
  it('when a known set of letters is in the log, then every total matches it', async () => {
    const page = await agent.get(DASH).expect(200);
    const html = page.text;
    expect(html).toMatch(/data-stat="letters">4</);
    // sent: a/gz-psb delivered, a/embassy-fr sent, d/embassy-de bounced = 3 reached the provider.
    expect(html).toMatch(/data-stat="sent">3</);
    expect(html).toMatch(/data-stat="delivered">1</);
    expect(cell(html, 'now', 'delivered')).toBe(1);
    expect(cell(html, 'now', 'sent')).toBe(1);
    expect(cell(html, 'now', 'bounced')).toBe(1);
    expect(cell(html, 'now', 'failed')).toBe(1);
    // PACING is off in the harness: the rest are queued.
    expect(cell(html, 'now', 'queued')).toBe(3);
    expect(cell(html, 'today', 'written')).toBe(4);
    expect(cell(html, 'today', 'sent')).toBe(3);
    expect(cell(html, 'today', 'failed')).toBe(1);
    expect(cell(html, 'hour', 'written')).toBe(4);
    expect(cell(html, 'hour', 'sent')).toBe(3);
    expect(cell(html, 'hour', 'bounced')).toBe(1);
  });

  it('when supporters write from several countries, then each country has its letters and share', async () => {
    const html = (await agent.get(DASH).expect(200)).text;
    expect(html).toMatch(/<th scope="row">France<\/th><td class="num">3<\/td><td class="num">75\.0%<\/td>/);
    expect(html).toMatch(/<th scope="row">Germany<\/th><td class="num">1<\/td><td class="num">25\.0%<\/td>/);
  });

  it('when recipients have letters in several states, then each row counts them', async () => {
    const html = (await agent.get(DASH).expect(200)).text;
    const row = (id: string) => new RegExp(`<tr data-target="${id}">([\\s\\S]*?)</tr>`).exec(html)![1]!;
    const nums = (id: string) => [...row(id).matchAll(/<td class="num">(\d+)<\/td>/g)].map((m) => Number(m[1]));
    // Sent, delivered, waiting, bounced, failed.
    expect(nums('gz-psb')).toEqual([1, 1, 2, 0, 1]);
    expect(nums('embassy-de')).toEqual([1, 0, 0, 1, 0]);
    expect(nums('gz-procuratorate')).toEqual([0, 0, 1, 0, 0]);
  });

  it('when letters fail or bounce, then they are listed with their reasons', async () => {
    const html = (await agent.get(DASH).expect(200)).text;
    expect(html).toContain('550 5.1.1 mailbox unavailable');
    expect(html).toContain('The mail provider refused the letter (400).');
  });

  it('when the page is loaded without JavaScript, then both charts are inline SVG with one pair of bars per bucket', async () => {
    const html = (await agent.get(DASH).expect(200)).text;
    const charts = html.match(/<svg [^>]*role="img"[\s\S]*?<\/svg>/g)!;
    expect(charts).toHaveLength(2);
    expect(charts[0]!.match(/class="bar-written"/g)).toHaveLength(48);
    expect(charts[0]!).toMatch(/: 4 written, 3 sent<\/title>/);
    // The "sent" bars are painted with the chart's own pattern: a fill naming no element paints nothing.
    for (const chart of charts) {
      const ids = new Set([...chart.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
      const fills = [...chart.matchAll(/class="bar-sent"[^>]*fill="url\(#([^)]+)\)"/g)].map((m) => m[1]);
      expect(fills.length).toBeGreaterThan(0);
      expect(fills.filter((id) => !ids.has(id))).toEqual([]);
    }
  });

  it('when the live part is polled, then it carries the same numbers without the page around it', async () => {
    const live = await agent.get(`${DASH}/live`).expect(200);
    expect(live.text).toMatch(/data-stat="letters">4</);
    expect(live.text).not.toContain('<html');
  });
});

describe('the last 60 minutes', () => {
  it('when letters were written 90 and 30 minutes ago, then the last hour counts one and today both', async () => {
    const clock = manualClock(Date.UTC(2026, 10, 26, 12, 0, 0));
    const c = createHarness('dashboard-hour', { env: ADMIN_ENV, clock });
    try {
      const admin = await loginAsAdmin(c.app);
      const post = (email: string) => expectStatus(postLetter(c.app, SHIPPED_CAMPAIGN, validForm({ email, recipients: ['gz-psb'] })), 303);
      await post('early@example.net');
      clock.advance(60 * 60_000);
      await post('late@example.net');
      clock.advance(30 * 60_000);
      const html = (await admin.get(DASH).expect(200)).text;
      expect(cell(html, 'hour', 'written')).toBe(1);
      expect(cell(html, 'today', 'written')).toBe(2);
    } finally {
      await c.close();
    }
  });
});

describe('the dashboard controls', () => {
  let mail: RecordingTransport;
  beforeAll(() => {
    mail = recordingTransport();
    h.startWorker(mail);
  });

  it('when an action is posted without the CSRF token, then it is refused', async () => {
    await agent.post(`${DASH}/pause`).type('form').send({}).expect(403);
    expect((await h.control.status([])).paused).toBeNull();
  });

  it('when sending is paused, then nothing is sent; when resumed, the held letters go', async () => {
    await eventually(async () => ((await h.log.counts(SHIPPED_CAMPAIGN)).byState.queued === 0 ? true : undefined));
    const before = mail.sends.length;
    await agent
      .post(`${DASH}/pause`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH), reason: 'Checking a complaint' })
      .expect(303);
    const held = await send('paused@example.net', 'GB', ['embassy-gb']);
    await eventually(async () => ((await h.log.get(held.letterId, 'embassy-gb'))!.state === 'held' ? true : undefined));
    expect(mail.sends.length).toBe(before);
    const page = (await agent.get(DASH).expect(200)).text;
    expect(page).toContain('All sending is paused: Checking a complaint');
    await agent
      .post(`${DASH}/resume`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH) })
      .expect(303);
    await eventually(async () => ((await h.log.get(held.letterId, 'embassy-gb'))!.state === 'sent' ? true : undefined));
  });

  it('when a failed letter is retried, then it goes back in the line and is sent', async () => {
    const b = letters[1]!;
    expect((await h.log.get(b.letterId, 'gz-psb'))!.state).toBe('failed');
    await agent
      .post(`${DASH}/retry`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH), letterId: b.letterId, targetId: 'gz-psb' })
      .expect(303);
    await eventually(async () => ((await h.log.get(b.letterId, 'gz-psb'))!.state === 'sent' ? true : undefined));
  });

  it('when a bouncing recipient is retried all, then its bounced letters are sent again', async () => {
    const d = letters[3]!;
    const res = await agent
      .post(`${DASH}/targets/embassy-de/retry-all`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH) })
      .expect(303);
    expect(res.headers.location).toContain('notice=retried-all');
    await eventually(async () => ((await h.log.get(d.letterId, 'embassy-de'))!.state === 'sent' ? true : undefined));
  });

  it('when a recipient is held from the dashboard, then its row says so and releasing it sends its letters', async () => {
    await agent
      .post(`${DASH}/targets/embassy-ca/hold`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH) })
      .expect(303);
    expect((await agent.get(DASH)).text).toMatch(/<tr data-target="embassy-ca">[\s\S]*?status-held/);
    const l = await send('ca@example.net', 'CA', ['embassy-ca']);
    await eventually(async () => ((await h.log.get(l.letterId, 'embassy-ca'))!.state === 'held' ? true : undefined));
    await agent
      .post(`${DASH}/targets/embassy-ca/release`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH) })
      .expect(303);
    await eventually(async () => ((await h.log.get(l.letterId, 'embassy-ca'))!.state === 'sent' ? true : undefined));
  });

  it('when a test letter is asked for, then it goes to the chosen address only, marked [TEST], and the result shows', async () => {
    const res = await agent
      .post(`${DASH}/test-letter`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH), email: 'campaigner@example.net', targetId: 'embassy-au' })
      .expect(303);
    const test = await eventually(async () => mail.to('campaigner@example.net')[0]);
    expect(test.email.subject).toBe('[TEST] Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵): a call for justice');
    expect(test.email.text.startsWith('Your Excellency,')).toBe(true);
    expect(mail.to('embassy-au@example.org')).toHaveLength(0);
    const page = await agent.get(res.headers.location!).expect(200);
    expect(page.text).toContain(`sent (message id <code>${test.messageId}</code>)`);
  });
});

describe('settings that change how letters go', () => {
  it('when pacing is off or SendGrid is in sandbox mode, then the dashboard says so; with the usual settings it says nothing', async () => {
    const trial = createHarness('dashboard-settings', { env: { ...ADMIN_ENV, PACING: 'off', SENDGRID_API_KEY: 'SG.test', SENDGRID_SANDBOX: 'true' } });
    try {
      const page = (await (await loginAsAdmin(trial.app)).get(`/admin/c/${SHIPPED_CAMPAIGN}`).expect(200)).text;
      expect(page).toContain("PACING=off: letters are not paced per recipient (office hours and each recipient's limits are ignored)".replace(/'/g, '&#39;'));
      expect(page).toContain('SENDGRID_SANDBOX=true: SendGrid accepts every letter and delivers none.');
    } finally {
      await trial.close();
    }
    const usual = createHarness('dashboard-settings-usual', { env: { ...ADMIN_ENV, PACING: 'on', SENDGRID_API_KEY: 'SG.test' } });
    try {
      const page = (await (await loginAsAdmin(usual.app)).get(`/admin/c/${SHIPPED_CAMPAIGN}`).expect(200)).text;
      expect(page).not.toContain('setting-warning');
    } finally {
      await usual.close();
    }
  });
});
