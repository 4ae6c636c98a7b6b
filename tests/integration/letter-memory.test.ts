import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryCsv } from '../../domain/delivery-export.js';
import { hashToken } from '../../domain/ids.js';
import { deliveryJobId } from '../../jobs/delivery-queue.js';
import { createHarness, SHIPPED_CAMPAIGN, type Harness } from '../support/harness.js';

// What a letter keeps in Redis: its text only until every copy is delivered; letters stored in the
// older layout still open, export and delete; delivery jobs small enough for Redis's compact hashes.

const recipients = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];
let h: Harness;
beforeAll(() => {
  h = createHarness('letter-memory');
});
afterAll(() => h.close());

async function writeLetter(email: string) {
  const campaign = h.campaigns.get(SHIPPED_CAMPAIGN)!;
  const body = `${campaign.letterBody}\n\nMy own words, written for ${email}.`;
  const created = await h.letters.create(campaign, { firstName: 'Ana', lastName: 'Lima', email, country: 'FR', recipients, subject: 'Release them', body });
  for (const t of recipients) {
    await h.log.apply(SHIPPED_CAMPAIGN, created.letterId, t, 'send-started', { attempt: 1 });
    await h.log.apply(SHIPPED_CAMPAIGN, created.letterId, t, 'provider-accepted', { messageId: `msg-${t}` });
  }
  return { ...created, body };
}

describe('a letter’s text after delivery', () => {
  it('when every copy is reported delivered, then its subject and text are deleted, the status page says so, and who wrote to whom stays', async () => {
    const { letterId, token, body } = await writeLetter('all-delivered@example.net');
    for (const t of recipients.slice(0, 2)) await h.log.apply(SHIPPED_CAMPAIGN, letterId, t, 'provider-delivered');
    expect((await h.letters.get(letterId))!.body).toBe(body);
    await h.log.apply(SHIPPED_CAMPAIGN, letterId, 'embassy-fr', 'provider-delivered');

    const letter = (await h.letters.get(letterId))!;
    expect(letter).toMatchObject({ textDeleted: true, subject: '', body: '', firstName: 'Ana', email: 'all-delivered@example.net', recipients });
    expect(letter.deliveries.map((d) => [d.record.state, d.record.messageId])).toEqual(recipients.map((t) => ['delivered', `msg-${t}`]));
    const page = await request(h.app).get(`/letters/${token}`).expect(200);
    expect(page.text).toContain('its subject and text have been deleted');
    expect(page.text).not.toContain('My own words');
    expect(page.text.match(/badge-delivered/g)).toHaveLength(3);
  });

  it('when one copy bounces, then the text is kept so a campaigner can send it again', async () => {
    const { letterId, body } = await writeLetter('one-bounced@example.net');
    await h.log.apply(SHIPPED_CAMPAIGN, letterId, 'gz-psb', 'provider-bounced', { error: 'mailbox full' });
    for (const t of recipients.slice(1)) await h.log.apply(SHIPPED_CAMPAIGN, letterId, t, 'provider-delivered');
    expect((await h.letters.get(letterId))!).toMatchObject({ body, subject: 'Release them' });
    expect(await h.deps.actions.retry(SHIPPED_CAMPAIGN, letterId, 'gz-psb')).toBe(true);
  });

  it('when a copy bounces after every copy was delivered, then a campaigner’s retry is refused: the text is gone', async () => {
    const { letterId } = await writeLetter('late-bounce@example.net');
    for (const t of recipients) await h.log.apply(SHIPPED_CAMPAIGN, letterId, t, 'provider-delivered');
    await h.log.apply(SHIPPED_CAMPAIGN, letterId, 'gz-psb', 'provider-bounced', { error: 'late bounce' });
    expect(await h.deps.actions.retry(SHIPPED_CAMPAIGN, letterId, 'gz-psb')).toBe(false);
    expect((await h.log.get(letterId, 'gz-psb'))!.state).toBe('bounced');
  });
});

describe('letters stored before the compact layout', () => {
  it('when a letter has one field per item, a 32-hex id and a token key, then its status page, export and deletion still work', async () => {
    const letterId = 'c0ffee'.padEnd(32, '0');
    const token = 'T'.repeat(32);
    const at = Date.now();
    const record = (state: string) => JSON.stringify({ s: state, a: 0, t: at, h: [[state, at]] });
    await h.t.redis.hset(h.t.keys.letter(letterId), {
      c: SHIPPED_CAMPAIGN,
      fn: 'Old',
      ln: 'Layout',
      em: 'old@example.net',
      co: 'GB',
      su: 'An old subject',
      bo: 'An old letter, stored as it was typed.',
      at: String(at),
      r: 'gz-psb,embassy-fr',
      th: hashToken(token),
      'd:gz-psb': record('sent'),
      'd:embassy-fr': record('queued'),
    });
    await h.t.redis.set(h.t.keys.token(hashToken(token)), letterId);
    await h.t.redis.zadd(h.t.keys.letterIndex(SHIPPED_CAMPAIGN), at, letterId);

    const page = await request(h.app).get(`/letters/${token}`).expect(200);
    expect(page.text).toContain('An old letter, stored as it was typed.');
    expect(page.text).toContain('badge-sent');
    let csv = '';
    for await (const chunk of deliveryCsv(h.t.redis, h.t.keys, h.campaigns.get(SHIPPED_CAMPAIGN)!, { personal: true })) csv += chunk;
    expect(csv).toContain(`${letterId},`);
    expect(csv).toContain('Old,Layout,old@example.net,An old subject');

    // Its next transition writes the record in the current form; it reads the same.
    await h.log.apply(SHIPPED_CAMPAIGN, letterId, 'gz-psb', 'provider-delivered');
    expect((await h.log.get(letterId, 'gz-psb'))!.history.map((e) => [e.state, e.at])).toEqual([
      ['sent', at],
      ['delivered', expect.any(Number)],
    ]);

    expect(await h.letters.purge(letterId)).toBe(true);
    expect(await h.t.redis.exists(h.t.keys.letter(letterId), h.t.keys.token(hashToken(token)))).toBe(0);
    await request(h.app).get(`/letters/${token}`).expect(404);
  });
});

describe('delivery jobs in Redis', () => {
  it('when a letter is queued for a week ahead, then each job hash stays in the compact encoding and a second link still opens the letter', async () => {
    const campaign = h.campaigns.get(SHIPPED_CAMPAIGN)!;
    const created = await h.letters.create(campaign, {
      firstName: 'Ana',
      lastName: 'Lima',
      email: 'week@example.net',
      country: 'FR',
      recipients,
      subject: 's',
      body: 'b'.repeat(40),
    });
    const due = Date.now() + 7 * 86_400_000;
    await h.deps.scheduler.schedule(
      SHIPPED_CAMPAIGN,
      created.letterId,
      recipients.map((targetId, place) => ({ targetId, state: 'waiting', due, place })),
    );
    for (let place = 0; place < recipients.length; place++) {
      const key = `${h.t.keys.bullPrefix}:deliveries:${deliveryJobId(created.letterId, recipients[place]!, place)}`;
      expect(await h.t.redis.object('ENCODING', key)).toBe('listpack');
    }
    const again = await h.letters.addToken(created.letterId);
    expect(await h.letters.findByToken(again)).toBe(created.letterId);
    expect(await h.letters.findByToken(created.token)).toBe(created.letterId);
    expect(await h.letters.findByToken(`${created.letterId}${'x'.repeat(32)}`)).toBeUndefined();
  });
});
