import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../domain/clock.js';
import type { CampaignCounts } from '../../domain/delivery-log.js';
import { applyProviderEvents } from '../../domain/provider-events.js';
import { applyRetention } from '../../jobs/retention.js';
import { createHarness, eventually, expectStatus, postLetter, SHIPPED_CAMPAIGN, silentLogger, validForm, type Harness } from '../support/harness.js';
import { recordingTransport } from '../support/recording-transport.js';

// A supporter's data is kept only as long as needed: they can delete it (cancelling what is not yet
// sent), and retention deletes finished letters after the configured period. Counts stay.

/** Every key and string/hash value under the test prefix that contains `needle`. */
async function traces(h: Harness, needle: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await h.t.redis.scan(cursor, 'MATCH', `{${h.t.prefix}}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if (key.includes(needle)) found.push(key);
      const type = await h.t.redis.type(key);
      const text =
        type === 'string'
          ? await h.t.redis.get(key)
          : type === 'hash'
            ? JSON.stringify(await h.t.redis.hgetall(key))
            : type === 'list'
              ? JSON.stringify(await h.t.redis.lrange(key, 0, -1))
              : '';
      if (text?.includes(needle)) found.push(`${key} (value)`);
    }
  } while (cursor !== '0');
  return found;
}

describe('deleting one’s letter from the status link', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('withdraw');
    h.startWorker(recordingTransport());
  });
  afterAll(() => h.close());

  it('when a supporter deletes their letter, then unsent letters are cancelled, their data is gone, and the counts stay', async () => {
    await h.control.hold(SHIPPED_CAMPAIGN, 'embassy-fr', 'campaigner', 'waiting for a new address');
    const res = await expectStatus(
      postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'Private.Person@example.net', lastName: 'Privateperson', recipients: ['gz-psb', 'embassy-fr'] })),
      303,
    );
    const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
    const letterId = (await h.letters.findByToken(token))!;
    await eventually(async () =>
      (await h.log.get(letterId, 'gz-psb'))!.state === 'sent' && (await h.log.get(letterId, 'embassy-fr'))!.state === 'held' ? true : undefined,
    );

    const page = await request(h.app).get(`/letters/${token}/delete`).expect(200);
    expect(page.text).toMatch(/Public Security Bureau: already sent/);
    expect(page.text).toMatch(/in France: will be cancelled/);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const cookie = (page.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');

    // Without the token nothing happens.
    await request(h.app).post(`/letters/${token}/delete`).type('form').send({}).expect(403);
    expect(await h.letters.get(letterId)).toBeDefined();

    const done = await request(h.app).post(`/letters/${token}/delete`).set('Cookie', cookie).type('form').send({ _csrf: csrf }).expect(200);
    expect(done.text).toContain('1 letter not yet sent was cancelled');
    expect(done.text).toContain('1 had already been sent and cannot be recalled');
    await request(h.app).get(`/letters/${token}`).expect(404);
    expect(await traces(h, 'private.person@example.net')).toEqual([]);
    expect(await traces(h, 'Private.Person@example.net')).toEqual([]);
    expect(await traces(h, 'Privateperson')).toEqual([]);
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.letters).toBe(1);
    expect(counts.byTarget['embassy-fr']).toMatchObject({ held: 0, cancelled: 1 });
    expect(counts.byTarget['gz-psb']).toMatchObject({ sent: 1 });

    // Releasing the recipient sends nothing for the deleted letter, and the same person may write again.
    await h.control.release(SHIPPED_CAMPAIGN, 'embassy-fr');
    await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'private.person@example.net', recipients: ['embassy-fr'] })), 303);
  });
});

describe('deleting one’s letter while copies of it are on their way', () => {
  // No worker: the copies wait in the queue, and each test plays the worker's and the provider's part at the
  // moment that matters.
  // A harness (key prefix) of its own per test, so that each test's counts add up on their own.
  let h: Harness;
  beforeEach(() => {
    h = createHarness('withdraw-racing');
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await h.close();
  });

  async function write(email: string, recipients: string[]): Promise<{ token: string; letterId: string }> {
    const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email, recipients })), 303);
    const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
    return { token, letterId: (await h.letters.findByToken(token))! };
  }

  /** Deletes the letter as its writer does (the page, then the button); the text of the page that follows. */
  async function deleteFromStatusLink(token: string): Promise<string> {
    const page = await request(h.app).get(`/letters/${token}/delete`).expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const cookie = (page.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    return (await request(h.app).post(`/letters/${token}/delete`).set('Cookie', cookie).type('form').send({ _csrf: csrf }).expect(200)).text;
  }

  /** The provider's webhook reporting `event` for one copy, as SendGrid sends it. */
  const report = (letterId: string, target: string, event: string) =>
    applyProviderEvents(h.deps, [
      { event, sg_event_id: `${letterId}-${target}-${event}`, timestamp: Math.floor(Date.now() / 1000), campaign: SHIPPED_CAMPAIGN, letter: letterId, target },
    ]);

  /** Every copy is counted in exactly one state: the per-state counts add up to the deliveries written. */
  const addsUp = (counts: CampaignCounts) => expect(Object.values(counts.byState).reduce((a, b) => a + b, 0)).toBe(counts.deliveries);

  it('when a send starts after the delete page was opened but before the letter is deleted, then the page says it may still arrive and the dashboard counts it sent, then delivered', async () => {
    const { token, letterId } = await write('racing.writer@example.net', ['gz-psb']);
    const before = await h.log.get(letterId, 'gz-psb');
    expect(before!.state).toBe('queued');
    // A worker takes the letter between the removal reading it and cancelling it.
    const apply = h.log.apply.bind(h.log);
    vi.spyOn(h.log, 'apply').mockImplementation(async (campaign, id, target, event, details) => {
      if (event === 'writer-cancelled' && id === letterId) {
        vi.mocked(h.log.apply).mockRestore();
        expect((await apply(campaign, id, target, 'send-started', { attempt: 1 })).applied).toBe(true);
      }
      return apply(campaign, id, target, event, details);
    });

    const done = await deleteFromStatusLink(token);
    expect(done).toContain('1 was being sent at that moment and may still arrive');
    expect(done).not.toContain('cancelled');
    await request(h.app).get(`/letters/${token}`).expect(404);
    expect(await traces(h, 'racing.writer@example.net')).toEqual([]);

    // The worker's send ends, then the provider delivers it.
    await h.log.apply(SHIPPED_CAMPAIGN, letterId, 'gz-psb', 'provider-accepted', { messageId: 'racing-1' });
    let counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.byTarget['gz-psb']).toMatchObject({ queued: 0, sending: 0, sent: 1, cancelled: 0 });
    addsUp(counts);
    await report(letterId, 'gz-psb', 'delivered');
    counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.byTarget['gz-psb']).toMatchObject({ sending: 0, sent: 0, delivered: 1 });
    addsUp(counts);
  });

  it('when a letter is deleted with a copy delayed by the provider and one sent, then the page counts both as sent, and their later delivery moves the dashboard counts', async () => {
    const { token, letterId } = await write('delayed.writer@example.net', ['embassy-de', 'embassy-fr', 'embassy-ca']);
    for (const target of ['embassy-de', 'embassy-fr']) {
      await h.log.apply(SHIPPED_CAMPAIGN, letterId, target, 'send-started', { attempt: 1 });
      await h.log.apply(SHIPPED_CAMPAIGN, letterId, target, 'provider-accepted', { messageId: `${target}-1` });
    }
    await report(letterId, 'embassy-de', 'deferred');
    expect((await h.log.get(letterId, 'embassy-de'))!.state).toBe('deferred');

    const page = await request(h.app).get(`/letters/${token}/delete`).expect(200);
    expect(page.text).toMatch(/Germany: already sent/);
    const done = await deleteFromStatusLink(token);
    expect(done).toContain('1 letter not yet sent was cancelled');
    expect(done).toContain('2 had already been sent and cannot be recalled');
    expect(await traces(h, 'delayed.writer@example.net')).toEqual([]);
    let counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.byTarget['embassy-ca']).toMatchObject({ queued: 0, cancelled: 1 });
    addsUp(counts);

    // The provider's reports after the deletion still land.
    await report(letterId, 'embassy-de', 'delivered');
    await report(letterId, 'embassy-fr', 'delivered');
    counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.byTarget['embassy-de']).toMatchObject({ deferred: 0, delivered: 1 });
    expect(counts.byTarget['embassy-fr']).toMatchObject({ sent: 0, delivered: 1 });
    expect(counts.byState).toMatchObject({ deferred: 0, sending: 0 });
    addsUp(counts);
  });
});

describe('retention', () => {
  const clock = manualClock(Date.UTC(2026, 0, 5, 10, 0, 0));
  let h: Harness;
  beforeAll(() => {
    h = createHarness('retention', { clock, env: { RETENTION_DAYS: '30' } });
  });
  afterAll(() => h.close());

  it('when a finished letter is older than the retention period, then its personal data is deleted and the counts stay; a letter still on its way is kept', async () => {
    const post = async (email: string, recipients: string[]) => {
      const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email, recipients })), 303);
      const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
      return { token, letterId: (await h.letters.findByToken(token))! };
    };
    const done = await post('old-done@example.net', ['gz-psb']);
    const waiting = await post('old-waiting@example.net', ['gz-procuratorate']);
    await h.log.apply(SHIPPED_CAMPAIGN, done.letterId, 'gz-psb', 'send-started');
    await h.log.apply(SHIPPED_CAMPAIGN, done.letterId, 'gz-psb', 'provider-accepted', { messageId: 'm1' });

    clock.advance(29 * 86_400_000);
    const deps = { redis: h.t.redis, keys: h.t.keys, campaigns: h.campaigns, letters: h.letters, clock, logger: silentLogger, retentionDays: 30 };
    expect(await applyRetention(deps)).toEqual({ deleted: 0, kept: 0 });

    clock.advance(2 * 86_400_000);
    expect(await applyRetention(deps)).toEqual({ deleted: 1, kept: 1 });
    await request(h.app).get(`/letters/${done.token}`).expect(404);
    await request(h.app).get(`/letters/${waiting.token}`).expect(200);
    expect(await traces(h, 'old-done@example.net')).toEqual([]);
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.letters).toBe(2);
    expect(counts.byState.sent).toBe(1);
  });
});

describe('consent and the privacy notice', () => {
  let h: Harness;
  beforeAll(() => {
    h = createHarness('consent');
  });
  afterAll(() => h.close());

  it('when the form is shown, then "keep me informed" is unticked and the privacy notice is linked', async () => {
    const page = await request(h.app).get('/').expect(200);
    expect(page.text).toMatch(/<input type="checkbox" id="keepInformed" name="keepInformed" value="yes">/);
    expect(page.text).toContain(`href="/c/${SHIPPED_CAMPAIGN}/privacy"`);
    const notice = await request(h.app).get(`/c/${SHIPPED_CAMPAIGN}/privacy`).expect(200);
    expect(notice.text).toContain('<h1>How your data is used</h1>');
    expect(notice.text).toContain('keyed hash of your internet address');
  });

  it('when a supporter ticks it, then the wording they saw and the time are kept with the letter; when not, nothing is', async () => {
    const ticked = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'yes@example.net', keepInformed: 'yes' })), 303);
    const unticked = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'no@example.net' })), 303);
    const idOf = async (res: request.Response) => (await h.letters.findByToken(/\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!))!;
    const yes = (await h.letters.get(await idOf(ticked)))!;
    expect(yes.consent).toEqual({ text: h.campaigns.get(SHIPPED_CAMPAIGN)!.consent!.label, at: expect.any(Number) });
    expect(Math.abs(yes.consent!.at - Date.now())).toBeLessThan(10_000);
    expect((await h.letters.get(await idOf(unticked)))!.consent).toBeUndefined();
  });
});
