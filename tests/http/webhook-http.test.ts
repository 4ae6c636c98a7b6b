import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inFlightField, inFlightRecord, sentRecord } from '../../domain/digest.js';
import { createHarness, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// SendGrid's key pair; the public half configured as SendGrid shows it (base64 DER SPKI).
const keyPair = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicB64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
};
const sendgrid = keyPair();

let h: Harness;
let off: Harness;
beforeAll(() => {
  h = createHarness('http-webhook', { env: { SENDGRID_WEBHOOK_PUBLIC_KEY: sendgrid.publicB64 } });
  off = createHarness('http-webhook-off');
});
afterAll(async () => {
  await h.close();
  await off.close();
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Posts `events` as SendGrid does: the raw JSON, signed over timestamp + body. */
const postEvents = (events: unknown, opts: { key?: KeyObject; timestamp?: number; unsigned?: boolean; app?: Harness['app'] } = {}) => {
  const body = typeof events === 'string' ? events : JSON.stringify(events);
  const timestamp = String(opts.timestamp ?? nowSeconds());
  const req = request(opts.app ?? h.app)
    .post('/webhooks/sendgrid')
    .set('Content-Type', 'application/json');
  if (!opts.unsigned) {
    const signature = sign('sha256', Buffer.concat([Buffer.from(timestamp), Buffer.from(body)]), opts.key ?? sendgrid.privateKey).toString('base64');
    req.set('X-Twilio-Email-Event-Webhook-Signature', signature).set('X-Twilio-Email-Event-Webhook-Timestamp', timestamp);
  }
  return req.send(body);
};

/** A supporter's letter, submitted through the form and handed to the provider for each recipient. */
async function sentLetter(email: string, recipients = ['gz-psb', 'gz-procuratorate', 'embassy-fr']): Promise<{ token: string; letterId: string }> {
  const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email, recipients })), 303);
  const token = /^\/letters\/([A-Za-z0-9_-]{48})\/sent$/.exec(res.headers.location ?? '')![1]!;
  const letterId = (await h.letters.findByToken(token))!;
  for (const target of recipients) {
    expect((await h.log.apply(SHIPPED_CAMPAIGN, letterId, target, 'send-started')).applied).toBe(true);
    expect((await h.log.apply(SHIPPED_CAMPAIGN, letterId, target, 'provider-accepted', { messageId: `msg-${letterId}` })).applied).toBe(true);
  }
  return { token, letterId };
}

const letterEvent = (letterId: string, target: string, fields: Record<string, unknown>) => ({
  sg_event_id: randomUUID(),
  sg_message_id: `msg-${letterId}.filter0001`,
  timestamp: nowSeconds(),
  email: 'official@example.org',
  campaign: SHIPPED_CAMPAIGN,
  letter: letterId,
  target,
  ...fields,
});

const stateOf = async (letterId: string, target: string) => (await h.log.get(letterId, target))?.state;

describe('the SendGrid event webhook', () => {
  it('when SendGrid reports a letter delivered, then its status page shows "Delivered"', async () => {
    const { token, letterId } = await sentLetter('delivered@example.net');
    const res = await postEvents([letterEvent(letterId, 'gz-psb', { event: 'delivered', response: '250 OK' })]).expect(200);
    expect(res.body).toEqual({ applied: 1, duplicates: 0, ignored: 0 });
    expect(await stateOf(letterId, 'gz-psb')).toBe('delivered');
    const page = await request(h.app).get(`/letters/${token}`).expect(200);
    expect(page.text).toContain('<span class="badge badge-delivered">Delivered</span>');
    expect(page.text.match(/badge-sent">Sent</g)).toHaveLength(2);
  });

  it('when the same event is posted twice, then it is applied once', async () => {
    const { letterId } = await sentLetter('twice@example.net');
    const event = letterEvent(letterId, 'gz-procuratorate', { event: 'deferred', response: '451 4.7.1 try again later' });
    await postEvents([event]).expect(200, { applied: 1, duplicates: 0, ignored: 0 });
    const after = await h.log.counts(SHIPPED_CAMPAIGN);
    const history = (await h.log.get(letterId, 'gz-procuratorate'))!.history;

    await postEvents([event]).expect(200, { applied: 0, duplicates: 1, ignored: 0 });
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).byState).toEqual(after.byState);
    const record = (await h.log.get(letterId, 'gz-procuratorate'))!;
    expect(record.state).toBe('deferred');
    expect(record.error).toBe('451 4.7.1 try again later');
    expect(record.history).toEqual(history);
  });

  it('when a request is unsigned, signed with another key or stale, then it is refused with 401 and nothing changes', async () => {
    const { letterId } = await sentLetter('forged@example.net');
    const event = letterEvent(letterId, 'gz-psb', { event: 'bounce', type: 'bounce', reason: '550 5.1.1 forged' });
    const before = await h.log.counts(SHIPPED_CAMPAIGN);

    const unsigned = await postEvents([event], { unsigned: true }).expect(401);
    expect(unsigned.body).toEqual({ error: 'invalid signature' });
    await postEvents([event], { key: keyPair().privateKey }).expect(401, { error: 'invalid signature' });
    await postEvents([event], { timestamp: nowSeconds() - 601 }).expect(401, { error: 'invalid signature' });

    expect(await stateOf(letterId, 'gz-psb')).toBe('sent');
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).byState).toEqual(before.byState);
    expect((await h.control.status([SHIPPED_CAMPAIGN])).held[SHIPPED_CAMPAIGN]?.['gz-psb']).toBeUndefined();
    // The refused requests did not use up the event: SendGrid's genuine copy still applies.
    await postEvents([letterEvent(letterId, 'gz-psb', { event: 'delivered', sg_event_id: event.sg_event_id })]).expect(200, {
      applied: 1,
      duplicates: 0,
      ignored: 0,
    });
  });

  it('when a hard bounce is reported, then the delivery is bounced with the reason and the recipient is held', async () => {
    const { token, letterId } = await sentLetter('bounce@example.net', ['gz-procuratorate']);
    const reason = '550 5.1.1 The email account that you tried to reach does not exist';
    await postEvents([letterEvent(letterId, 'gz-procuratorate', { event: 'bounce', type: 'bounce', status: '5.1.1', reason })]).expect(200, {
      applied: 1,
      duplicates: 0,
      ignored: 0,
    });
    const record = (await h.log.get(letterId, 'gz-procuratorate'))!;
    expect(record.state).toBe('bounced');
    expect(record.error).toBe(reason);
    const hold = (await h.control.status([SHIPPED_CAMPAIGN])).held[SHIPPED_CAMPAIGN]?.['gz-procuratorate'];
    expect(hold?.kind).toBe('bouncing');
    expect(hold?.reason).toContain(reason);
    expect(await h.control.check(SHIPPED_CAMPAIGN, 'gz-procuratorate')).toMatchObject({ blocked: true, scope: 'target' });

    // A "delivered" arriving after the bounce changes nothing and is still answered 200.
    await postEvents([letterEvent(letterId, 'gz-procuratorate', { event: 'delivered' })]).expect(200, { applied: 1, duplicates: 0, ignored: 0 });
    expect(await stateOf(letterId, 'gz-procuratorate')).toBe('bounced');
    const page = await request(h.app).get(`/letters/${token}`).expect(200);
    expect(page.text).toContain('<span class="badge badge-bounced">Bounced</span>');
    expect(page.text).toContain('does not exist');
  });

  it('when a recipient reports a letter as spam, then the recipient is held and the delivery stays as it was', async () => {
    const { letterId } = await sentLetter('spam@example.net', ['embassy-fr']);
    await postEvents([letterEvent(letterId, 'embassy-fr', { event: 'spamreport' })]).expect(200, { applied: 1, duplicates: 0, ignored: 0 });
    expect(await stateOf(letterId, 'embassy-fr')).toBe('sent');
    expect((await h.control.status([SHIPPED_CAMPAIGN])).held[SHIPPED_CAMPAIGN]?.['embassy-fr']?.kind).toBe('spam-report');
  });

  it('when a digest email is delivered, then every letter listed in that part is delivered, and no other', async () => {
    const a = await sentLetter('digest-a@example.net', ['embassy-fr']);
    const b = await sentLetter('digest-b@example.net', ['embassy-fr']);
    const other = await sentLetter('digest-other@example.net', ['embassy-fr']);
    await h.t.redis.hset(
      h.t.keys.digestParts(SHIPPED_CAMPAIGN, 'embassy-fr', '2026-01-05'),
      '1',
      JSON.stringify({ m: 'digest-msg-1', l: [a.letterId, b.letterId] }),
    );

    const event = {
      event: 'delivered',
      sg_event_id: randomUUID(),
      sg_message_id: 'digest-msg-1.filter0001',
      timestamp: nowSeconds(),
      campaign: SHIPPED_CAMPAIGN,
      target: 'embassy-fr',
      digest: '2026-01-05',
      part: '1',
    };
    await postEvents([event]).expect(200, { applied: 1, duplicates: 0, ignored: 0 });
    expect(await stateOf(a.letterId, 'embassy-fr')).toBe('delivered');
    expect(await stateOf(b.letterId, 'embassy-fr')).toBe('delivered');
    expect(await stateOf(other.letterId, 'embassy-fr')).toBe('sent');

    // A part we have no record of is ignored.
    await postEvents([{ ...event, sg_event_id: randomUUID(), part: '2' }]).expect(200, { applied: 0, duplicates: 0, ignored: 1 });
  });

  /** A letter to the digest-mode recipient, waiting in its digest. */
  const inDigest = async (email: string) => {
    const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email, recipients: ['gd-womens-prison'] })), 303);
    const token = /^\/letters\/([A-Za-z0-9_-]{48})\/sent$/.exec(res.headers.location ?? '')![1]!;
    const letterId = (await h.letters.findByToken(token))!;
    expect(await stateOf(letterId, 'gd-womens-prison')).toBe('in-digest');
    return { token, letterId };
  };
  /** A SendGrid event for part 1 of digest run `run` to the digest-mode recipient. */
  const digestEvent = (run: string, fields: Record<string, unknown>) => ({
    sg_event_id: randomUUID(),
    sg_message_id: `digest-${run}.filter0001`,
    timestamp: nowSeconds(),
    campaign: SHIPPED_CAMPAIGN,
    target: 'gd-womens-prison',
    digest: run,
    part: '1',
    ...fields,
  });

  it('when SendGrid reports a digest bounced before its letters are recorded sent, then it is asked again until they are, and the bounce is recorded', async () => {
    const a = await inDigest('early-a@example.net');
    const b = await inDigest('early-b@example.net');
    // The digest job has handed the part to SendGrid and not yet written down its answer.
    const run = '2026-01-06-r1767686400000';
    const partsKey = h.t.keys.digestParts(SHIPPED_CAMPAIGN, 'gd-womens-prison', run);
    await h.t.redis.hset(partsKey, inFlightField(1), inFlightRecord([a.letterId, b.letterId], Date.now()));
    const reason = '550 5.1.1 mailbox unavailable';
    const event = digestEvent(run, { event: 'bounce', type: 'bounce', reason });
    // Not a 2xx, so SendGrid sends the batch again later.
    const early = await postEvents([event]).expect(503);
    expect(early.body).toMatchObject({ applied: 0, notYet: 1 });
    expect(await stateOf(a.letterId, 'gd-womens-prison')).toBe('in-digest');

    // The part is now recorded; its letters are still being marked sent when SendGrid tries again: again later.
    await h.t.redis.hset(partsKey, '1', sentRecord('digest-early', [a.letterId, b.letterId], Date.now(), false));
    await h.log.apply(SHIPPED_CAMPAIGN, a.letterId, 'gd-womens-prison', 'digest-sent', { messageId: 'digest-early', due: 0 });
    await postEvents([event]).expect(503);
    expect(await stateOf(a.letterId, 'gd-womens-prison')).toBe('sent');
    await h.log.apply(SHIPPED_CAMPAIGN, b.letterId, 'gd-womens-prison', 'digest-sent', { messageId: 'digest-early', due: 0 });

    await postEvents([event]).expect(200, { applied: 1, duplicates: 0, ignored: 0 });
    for (const { letterId } of [a, b]) {
      const record = (await h.log.get(letterId, 'gd-womens-prison'))!;
      expect(record.state).toBe('bounced');
      expect(record.error).toBe(reason);
      // Marked sent first, so the campaign sees which email carried it.
      expect(record.messageId).toBe('digest-early');
      expect(record.history.map((x) => x.state)).toContain('sent');
    }
    const page = await request(h.app).get(`/letters/${a.token}`).expect(200);
    expect(page.text).toContain('<span class="badge badge-bounced">Bounced</span>');
  });

  it('when a digest part was left marked as being sent hours ago (its job gave up), then its events are ignored with 200, not asked again', async () => {
    const a = await inDigest('stale-mark@example.net');
    const run = '2026-01-07-r1767772800000';
    const partsKey = h.t.keys.digestParts(SHIPPED_CAMPAIGN, 'gd-womens-prison', run);
    await h.t.redis.hset(partsKey, inFlightField(1), inFlightRecord([a.letterId], Date.now() - 2 * 3_600_000));
    await postEvents([digestEvent(run, { event: 'delivered' }), letterEvent('no-such-letter', 'gz-psb', { event: 'open' })]).expect(200, {
      applied: 0,
      duplicates: 0,
      ignored: 2,
    });
    expect(await stateOf(a.letterId, 'gd-womens-prison')).toBe('in-digest');
  });

  it('when a digest part was recorded hours ago but its letters were never marked sent, then its events apply at once', async () => {
    const a = await inDigest('stale-record@example.net');
    const run = '2026-01-08-r1767859200000';
    const partsKey = h.t.keys.digestParts(SHIPPED_CAMPAIGN, 'gd-womens-prison', run);
    await h.t.redis.hset(partsKey, '1', sentRecord('digest-stale', [a.letterId], Date.now() - 2 * 3_600_000, false));
    await postEvents([digestEvent(run, { event: 'delivered' })]).expect(200, { applied: 1, duplicates: 0, ignored: 0 });
    expect(await stateOf(a.letterId, 'gd-womens-prison')).toBe('delivered');
  });

  it('when events are not ours, name an unknown campaign or recipient, or are opens and clicks, then they are ignored', async () => {
    const { letterId } = await sentLetter('ignored@example.net', ['gz-psb']);
    const res = await postEvents([
      { event: 'delivered', sg_event_id: randomUUID(), timestamp: nowSeconds(), email: 'someone@example.com' },
      letterEvent(letterId, 'gz-psb', { event: 'open' }),
      letterEvent(letterId, 'gz-psb', { event: 'processed' }),
      letterEvent(letterId, 'gz-psb', { event: 'delivered', campaign: 'another-campaign' }),
      letterEvent(letterId, 'not-a-recipient', { event: 'delivered' }),
      'not an event',
    ]).expect(200);
    expect(res.body).toEqual({ applied: 0, duplicates: 0, ignored: 6 });
    expect(await stateOf(letterId, 'gz-psb')).toBe('sent');
  });

  it('when the signed body is not a JSON array, then it is refused with 400', async () => {
    await postEvents('{"event":"delivered"}').expect(400, { error: 'expected a JSON array of events' });
    await postEvents('[{"event": "deliv').expect(400);
  });

  it('when no public key is configured, then the webhook does not exist', async () => {
    await postEvents([], { app: off.app }).expect(404);
    await postEvents([]).expect(200, { applied: 0, duplicates: 0, ignored: 0 });
  });
});
