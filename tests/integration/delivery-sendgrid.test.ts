import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSendGridTransport } from '../../jobs/transports/sendgrid-transport.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// The whole path on real Redis, a real BullMQ worker and the real @sendgrid/mail client, talking to
// a local fake of the SendGrid API.

let h: Harness;
let fake: FakeSendGrid;

beforeAll(async () => {
  fake = await startFakeSendGrid();
  h = createHarness('delivery-sendgrid');
  h.startWorker(createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 5000, sandbox: false }));
});
afterAll(async () => {
  await h.close();
  await fake.close();
});
afterEach(() => {
  fake.requests.length = 0;
});

async function send(form = validForm()): Promise<string> {
  const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, form), 303);
  return /^\/letters\/([^/]+)\/sent$/.exec(res.headers.location!)![1]!;
}

async function settled(token: string) {
  const letterId = (await h.letters.findByToken(token))!;
  return eventually(async () => {
    const l = await h.letters.get(letterId);
    return l && l.deliveries.every((d) => d.record.state === 'sent' || d.record.state === 'failed') ? l : undefined;
  });
}

describe('delivering a letter through SendGrid', () => {
  it('when a letter goes to three recipients, then exactly three well-formed API requests are made', async () => {
    const token = await send();
    const letter = await settled(token);
    expect(fake.requests).toHaveLength(3);
    const byTo = new Map(fake.requests.map((r) => [r.body.personalizations[0]!.to[0]!.email, r]));
    expect([...byTo.keys()].sort()).toEqual(['embassy-fr@example.org', 'gz-procuratorate@example.org', 'gz-psb@example.org']);
    for (const r of fake.requests) {
      expect(r.path).toBe('/v3/mail/send');
      expect(r.body.from).toEqual({ email: 'letters@example.org', name: 'Ana Lima via Free Huang Xueqin and Wang Jianbing' });
      expect(r.body.reply_to).toEqual({ email: 'ana.lima@example.net', name: 'Ana Lima' });
      expect(r.body.subject).toBe('Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵)');
      expect(r.body.content.map((c) => c.type)).toEqual(['text/plain', 'text/html']);
      expect(r.body.custom_args).toEqual({ campaign: SHIPPED_CAMPAIGN, letter: letter.id, target: r.body.custom_args!.target });
      expect(r.body.tracking_settings).toMatchObject({ click_tracking: { enable: false }, open_tracking: { enable: false } });
    }
    const psb = byTo.get('gz-psb@example.org')!;
    expect(psb.body.content[0]!.value.startsWith('Dear Director,\n\nI am writing about Sophia Huang Xueqin (黄雪琴)')).toBe(true);
    expect(byTo.get('embassy-fr@example.org')!.body.content[0]!.value.startsWith('Your Excellency,')).toBe(true);
    // The bytes on the wire are UTF-8 and the Chinese text arrives intact.
    expect(psb.raw).toContain('王建兵');
    expect(psb.headers['content-type']).toMatch(/application\/json/);

    for (const d of letter.deliveries) {
      expect(d.record.state).toBe('sent');
      expect(d.record.messageId).toBe(fake.requests.find((r) => r.body.custom_args!.target === d.targetId)!.messageId);
      expect(d.record.history.map((x) => x.state)).toEqual(['queued', 'sending', 'sent']);
    }
  });

  it('when the provider answers 500 then 202, then the letter ends sent after a retry, with both attempts logged', async () => {
    fake.script({ status: 500, errors: [{ message: 'internal error' }] });
    const token = await send(validForm({ recipients: ['gz-psb'], email: 'retry@example.net' }));
    const letter = await settled(token);
    expect(fake.requests).toHaveLength(2);
    const d = letter.deliveries[0]!.record;
    expect(d.state).toBe('sent');
    expect(d.attempts).toBe(2);
    expect(d.error).toBeUndefined();
    expect(d.history.map((x) => x.state)).toEqual(['queued', 'sending', 'retrying', 'sending', 'sent']);
  });

  it('when the provider answers 400, then the letter fails at once with the reason and is not retried', async () => {
    fake.script({ status: 400, errors: [{ message: 'Does not contain a valid address.', field: 'personalizations.0.to' }] });
    const token = await send(validForm({ recipients: ['gz-procuratorate'], email: 'bad@example.net' }));
    const letter = await settled(token);
    await new Promise((r) => setTimeout(r, 300)); // a retry, if there were one, would arrive within the 100 ms backoff
    expect(fake.requests).toHaveLength(1);
    const d = letter.deliveries[0]!.record;
    expect(d.state).toBe('failed');
    expect(d.error).toBe('The mail provider refused the letter (400): personalizations.0.to Does not contain a valid address..');

    const page = await request(h.app).get(`/letters/${token}`).expect(200);
    expect(page.text).toContain('badge-failed');
    expect(page.text).toContain('Reason:</strong> <span lang="en">The mail provider refused the letter (400)');
  });

  it('when the provider keeps failing, then the letter fails after the last attempt with the last reason', async () => {
    fake.script(...Array.from({ length: 4 }, () => ({ status: 503 })));
    const token = await send(validForm({ recipients: ['embassy-de'], email: 'down@example.net', country: 'DE' }));
    const letter = await settled(token);
    expect(fake.requests).toHaveLength(4);
    const d = letter.deliveries[0]!.record;
    expect(d.state).toBe('failed');
    expect(d.attempts).toBe(4);
    expect(d.error).toMatch(/^Gave up after 4 attempts\. Last error: The mail provider had a problem \(503\)/);
  });

  it('when all of that has happened, then the status page and the counters agree with the log', async () => {
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.letters).toBe(4);
    expect(counts.deliveries).toBe(6);
    expect(counts.byState).toMatchObject({ queued: 0, sending: 0, retrying: 0, sent: 4, failed: 2 });
    expect(counts.byTarget['gz-psb']).toMatchObject({ sent: 2, failed: 0 });
    expect(counts.byTarget['gz-procuratorate']).toMatchObject({ sent: 1, failed: 1 });
    expect(counts.byTarget['embassy-de']).toMatchObject({ failed: 1 });
    const recent = await h.log.recent(SHIPPED_CAMPAIGN, 100);
    expect(recent.filter((e) => e.event === 'provider-accepted')).toHaveLength(4);
    expect(recent.filter((e) => e.event === 'transient-error')).toHaveLength(4);
    expect(recent.find((e) => e.event === 'permanent-error')?.error).toMatch(/\(400\)/);
    const stats = await request(h.app).get(`/c/${SHIPPED_CAMPAIGN}/stats.json`).expect(200);
    expect(stats.body).toMatchObject({ letters: 4, sent: 4 });
  });
});
