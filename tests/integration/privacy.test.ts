import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../domain/clock.js';
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
