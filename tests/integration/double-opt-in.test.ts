import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryOf } from '../../domain/campaign.js';
import { hashToken } from '../../domain/ids.js';
import { CONFIRMED_LINK_GRACE_SECONDS } from '../../domain/letter-confirmation.js';
import { fixtureCampaign, fixtureTarget } from '../support/campaign-fixture.js';
import { createHarness, eventually, expectStatus, postLetter, validForm, type Harness } from '../support/harness.js';
import { recordingTransport, type RecordingTransport } from '../support/recording-transport.js';

// Double opt-in: letters wait until the writer confirms their address from an emailed link; the
// confirmation email is not held back by letters; unconfirmed letters are deleted after a few days.

const target = fixtureTarget;
const campaign = fixtureCampaign(
  { confirmWriters: { enabled: true, expireDays: 3 }, pacing: { perHour: null, perDay: null, timezone: 'UTC', officeHours: null, jitter: 0 } },
  [target('bureau'), target('prison', { delivery: 'digest', digest: { at: '09:30', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] } })],
);
const slug = campaign.slug;

let h: Harness;
let mail: RecordingTransport;
beforeAll(() => {
  h = createHarness('opt-in', { campaigns: registryOf([campaign]) });
  mail = recordingTransport();
});
afterAll(() => h.close());

async function write(email: string) {
  const res = await expectStatus(postLetter(h.app, slug, validForm({ email, recipients: ['bureau', 'prison'] })), 303);
  const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
  return { token, letterId: (await h.letters.findByToken(token))!, location: res.headers.location! };
}

describe('double opt-in', () => {
  it('when a letter is written, then nothing goes to officials or is counted until the writer confirms from the emailed link', async () => {
    const { token, letterId, location } = await write('writer@example.net');
    const thanks = await request(h.app).get(location).expect(200);
    expect(thanks.text).toContain('One more step');
    expect((await h.log.get(letterId, 'bureau'))!.state).toBe('unconfirmed');
    expect(await h.queue.count()).toBe(0);
    let counts = await h.log.counts(slug);
    expect(counts.letters).toBe(0);
    expect(counts.byState.unconfirmed).toBe(2);

    h.startWorker(mail);
    const email = await eventually(async () => mail.to('writer@example.net')[0]);
    expect(email.email.subject).toBe('Please confirm your letter on "Free the Two"');
    const link = /https:\/\/letters\.example\.org(\/confirm\/[A-Za-z0-9_-]{32})/.exec(email.email.text)![1]!;
    expect(email.email.text).not.toContain(token);
    expect(mail.to('bureau@example.org')).toHaveLength(0);

    // Opening the link does not confirm (mail scanners open links); the button does.
    const page = await request(h.app).get(link).expect(200);
    expect((await h.log.get(letterId, 'bureau'))!.state).toBe('unconfirmed');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const cookie = (page.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    const confirmed = await request(h.app).post(link).set('Cookie', cookie).type('form').send({ _csrf: csrf }).expect(303);
    expect(confirmed.headers.location).toMatch(/^\/letters\/[A-Za-z0-9_-]{48}\/sent$/);

    await eventually(async () => (mail.to('bureau@example.org').length === 1 ? true : undefined));
    expect((await h.log.get(letterId, 'prison'))!.state).toBe('in-digest');
    counts = await h.log.counts(slug);
    expect(counts.letters).toBe(1);
    expect(counts.byState.unconfirmed).toBe(0);
    // A second press of the button (a double click, another tab) leads to the letter too, and confirms nothing more.
    const again = await request(h.app).post(link).set('Cookie', cookie).type('form').send({ _csrf: csrf }).expect(303);
    expect(again.headers.location).toMatch(/^\/letters\/[A-Za-z0-9_-]{48}\/sent$/);
    expect((await h.log.counts(slug)).letters).toBe(1);
    // The used link is gone a few minutes later.
    const linkTtl = await h.t.redis.ttl(h.t.keys.confirm(hashToken(link.slice('/confirm/'.length))));
    expect(linkTtl).toBeGreaterThan(0);
    expect(linkTtl).toBeLessThanOrEqual(CONFIRMED_LINK_GRACE_SECONDS);
  });

  it('when a writer never confirms, then the letter and their details are deleted after the offer expires', async () => {
    const { token, letterId } = await write('silent@example.net');
    await eventually(async () => mail.to('silent@example.net')[0]);
    const expiry = (await h.supporterQueue.getDelayed()).find(
      (j) => j.name === 'expire-unconfirmed' && (j.data as { letterId: string }).letterId === letterId,
    )!;
    expect(expiry.opts.delay).toBe(3 * 86_400_000);
    await expiry.promote();
    await eventually(async () => ((await h.letters.get(letterId)) === undefined ? true : undefined));
    await request(h.app).get(`/letters/${token}`).expect(404);
    const counts = await h.log.counts(slug);
    expect(counts.letters).toBe(1);
    expect(counts.byState.unconfirmed).toBe(0);
  });

  it('when many letters are waiting to be sent, then a confirmation email still goes out at once', async () => {
    // A backlog of 40 deliveries on a slow worker does not delay the supporter's email.
    await h.closeWorkers();
    const slow = recordingTransport();
    for (let i = 0; i < 40; i++) await h.queue.add('deliver', { campaign: slug, letterId: 'f'.repeat(32), targetId: 'bureau' }, { jobId: `backlog-${i}` });
    h.startWorker(slow, { ratePerSecond: 1, concurrency: 1 });
    const started = Date.now();
    await write('hurry@example.net');
    await eventually(async () => slow.to('hurry@example.net')[0], 5000);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await h.queue.getWaitingCount()).toBeGreaterThan(30);
  });
});
