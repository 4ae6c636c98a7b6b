import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Parking } from '../../jobs/parking.js';
import { deliveryJobIds } from '../../jobs/delivery-queue.js';
import { queueReleases, releaseParkedJobId } from '../../jobs/release-parked.js';
import { adminCsrf, ADMIN_ENV, loginAsAdmin } from '../support/admin.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { recordingTransport, type RecordingTransport } from '../support/recording-transport.js';

// Lifting a pause or a hold: the request only queues the release, the worker gives the held letters
// their places in batches, and letters left parked by a release that died are released by the sweep.

const DASH = `/admin/c/${SHIPPED_CAMPAIGN}`;
/** Letters per run of a release job here, so a few letters take several runs. */
const BATCH = 3;
let h: Harness;
let agent: Awaited<ReturnType<typeof loginAsAdmin>>;
let parking: Parking;
let n = 0;

beforeAll(async () => {
  h = createHarness('release-parked', { env: ADMIN_ENV });
  agent = await loginAsAdmin(h.app);
  parking = new Parking({ ...h.deps, redis: h.t.redis, clock: h.deps.clock! });
});
afterAll(() => h.close());

/** Writes one letter per recipient listed (a new writer each), returning each letter's id and writer address. */
async function write(...targets: string[]): Promise<{ letterId: string; email: string; targetId: string }[]> {
  const out = [];
  for (const targetId of targets) {
    const email = `writer${++n}@example.net`;
    const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email, recipients: [targetId] })), 303);
    const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
    out.push({ letterId: (await h.letters.findByToken(token))!, email, targetId });
  }
  return out;
}

/** Waits until every letter is in `state`. */
async function allIn(letters: readonly { letterId: string; targetId: string }[], state: string) {
  await eventually(async () => {
    for (const l of letters) if ((await h.log.get(l.letterId, l.targetId))!.state !== state) return undefined;
    return true;
  }, 20_000);
}

/** Each letter reached its recipient exactly once. */
async function eachSentOnce(mail: RecordingTransport, letters: readonly { letterId: string; targetId: string; email: string }[]) {
  await allIn(letters, 'sent');
  for (const l of letters) expect(mail.sends.filter((s) => s.email.replyTo.email === l.email)).toHaveLength(1);
}

/** The dashboard's count of deliveries held now. */
async function heldOnDashboard(): Promise<number> {
  const html = (await agent.get(`${DASH}/live`).expect(200)).text;
  return Number(/data-now="held">([\d,]+)</.exec(html)![1]!.replace(/,/g, ''));
}

/** Runs the worker's orphan sweep now (as its five-minute scheduler does) and returns what it did. */
async function runSweep(): Promise<{ strandedReleases: number }> {
  const id = `sweep-now-${++n}`;
  await h.supporterQueue.add('orphan-sweep', {}, { jobId: id });
  return eventually(async () => {
    const job = await h.supporterQueue.getJob(id);
    return job?.finishedOn ? (job.returnvalue as { strandedReleases: number }) : undefined;
  }, 20_000);
}

/** Letters parked while all sending is paused (a worker parks them, then stops). */
async function parkedWhilePaused(...targets: string[]) {
  await h.control.pauseAll('Checking a complaint');
  h.startWorker(recordingTransport());
  const letters = await write(...targets);
  await allIn(letters, 'held');
  await h.closeWorkers();
  return letters;
}

describe('resuming from the dashboard', () => {
  it('when sending is resumed with letters held, then the response returns at once saying they are being released, and the worker then sends every one exactly once', async () => {
    const letters = await parkedWhilePaused(...Array.from({ length: 5 }, () => 'embassy-gb'), ...Array.from({ length: 5 }, () => 'embassy-fr'));
    expect(await heldOnDashboard()).toBe(10);

    // No worker runs: whatever the request did itself is all that happens before the response.
    const csrf = await adminCsrf(agent, DASH);
    const res = await agent.post(`${DASH}/resume`).type('form').send({ _csrf: csrf }).expect(303);
    expect(res.headers.location).toBe(`${DASH}?notice=resumed&n=10`);
    const page = (await agent.get(res.headers.location!).expect(200)).text;
    expect(page).toContain('Sending resumed. Releasing 10 held letters: they are being given new places');
    expect(page).not.toContain('All sending is paused');
    for (const l of letters) expect((await h.log.get(l.letterId, l.targetId))!.state).toBe('held');
    expect(await heldOnDashboard()).toBe(10);

    // A second click queues no second release of the same letters.
    await agent.post(`${DASH}/resume`).type('form').send({ _csrf: csrf }).expect(303);
    const queued = (await h.supporterQueue.getJobs(['waiting', 'delayed', 'prioritized'])).filter((j) => j.name === 'release-parked');
    expect(queued.map((j) => j.id).sort()).toEqual([releaseParkedJobId(SHIPPED_CAMPAIGN, 'embassy-fr'), releaseParkedJobId(SHIPPED_CAMPAIGN, 'embassy-gb')]);

    // The worker releases them, a few per run, and each goes once.
    const mail = recordingTransport();
    h.startWorker(mail, { releaseBatch: BATCH });
    await eachSentOnce(mail, letters);
    expect(mail.sends).toHaveLength(10);
    expect(await heldOnDashboard()).toBe(0);
    expect(await parking.counts(SHIPPED_CAMPAIGN)).toMatchObject({ 'embassy-gb': 0, 'embassy-fr': 0 });
    await h.closeWorkers();
  });
});

describe('a release that died part-way', () => {
  it('when the pause was lifted but one recipient was only partly released and the other lost its release job, then the next sweep releases the rest and each letter goes once', async () => {
    const letters = await parkedWhilePaused(...Array.from({ length: 7 }, () => 'embassy-de'), 'embassy-au', 'embassy-au', 'embassy-au');

    // embassy-au: the pause lifted and its release queued, then the job lost (Redis failover, a deleted job).
    await h.deps.switches.resumeAll();
    await (await h.supporterQueue.getJob(releaseParkedJobId(SHIPPED_CAMPAIGN, 'embassy-au')))!.remove();
    // embassy-de: its job died after one batch of three (as if the worker was killed), its job gone too.
    await (await h.supporterQueue.getJob(releaseParkedJobId(SHIPPED_CAMPAIGN, 'embassy-de')))!.remove();
    expect(await parking.releaseBatch(SHIPPED_CAMPAIGN, 'embassy-de', 3)).toEqual({ released: 3, more: true });
    expect(await parking.counts(SHIPPED_CAMPAIGN)).toMatchObject({ 'embassy-de': 4, 'embassy-au': 3 });
    expect(await h.control.status([SHIPPED_CAMPAIGN])).toEqual({ paused: null, held: {} });

    expect((await h.supporterQueue.getJobs(['waiting', 'delayed', 'prioritized', 'active'])).filter((j) => j.name === 'release-parked')).toEqual([]);

    // A worker starts; its sweep (run at once here, as its five-minute scheduler would) finds them.
    const mail = recordingTransport();
    h.startWorker(mail, { releaseBatch: BATCH });
    await runSweep();
    await eachSentOnce(mail, letters);
    expect(mail.sends).toHaveLength(10);
    expect(await parking.counts(SHIPPED_CAMPAIGN)).toMatchObject({ 'embassy-de': 0, 'embassy-au': 0 });
    // Nothing is left for the next sweep.
    expect((await runSweep()).strandedReleases).toBe(0);
    await h.closeWorkers();
  });
});

describe('a recipient still held', () => {
  it('when sending resumes while one recipient is still held, then only the others’ letters go, the sweep leaves the held one’s parked, and releasing it sends them once', async () => {
    await h.deps.switches.hold(SHIPPED_CAMPAIGN, 'embassy-ca', 'Waiting for a new address');
    const letters = await parkedWhilePaused('embassy-ca', 'embassy-ca', 'embassy-us', 'embassy-us');
    const ca = letters.filter((l) => l.targetId === 'embassy-ca');
    const us = letters.filter((l) => l.targetId === 'embassy-us');

    const csrf = await adminCsrf(agent, DASH);
    const res = await agent.post(`${DASH}/resume`).type('form').send({ _csrf: csrf }).expect(303);
    expect(res.headers.location).toBe(`${DASH}?notice=resumed&n=2`);
    const mail = recordingTransport();
    h.startWorker(mail, { releaseBatch: BATCH });
    await eachSentOnce(mail, us);
    expect((await runSweep()).strandedReleases).toBe(0);
    for (const l of ca) expect((await h.log.get(l.letterId, l.targetId))!.state).toBe('held');
    expect(await parking.counts(SHIPPED_CAMPAIGN)).toMatchObject({ 'embassy-ca': 2 });
    expect(mail.to('embassy-ca@example.org')).toHaveLength(0);

    const released = await agent.post(`${DASH}/targets/embassy-ca/release`).type('form').send({ _csrf: csrf }).expect(303);
    expect(released.headers.location).toBe(`${DASH}?notice=released&n=2`);
    expect((await agent.get(released.headers.location!).expect(200)).text).toContain('The recipient is released. Releasing 2 held letters');
    await eachSentOnce(mail, ca);
    expect(mail.sends).toHaveLength(4);
    await h.closeWorkers();
  });
});

describe('a release job with a bad payload', () => {
  it('when a release job names no recipient, then it fails at once with the reason and releases nothing', async () => {
    h.startWorker(recordingTransport());
    await h.supporterQueue.add('release-parked', { campaign: SHIPPED_CAMPAIGN } as never, { jobId: 'bad-release', attempts: 3 });
    const job = await eventually(async () => {
      const j = await h.supporterQueue.getJob('bad-release');
      return j?.finishedOn ? j : undefined;
    });
    expect(job.failedReason).toMatch(/^Invalid release job payload/);
    expect(job.attemptsMade).toBe(1);
    await h.closeWorkers();
  });
});

describe('a letter parked just as its switch is lifted', () => {
  it('when a send parks its letter after the pause was lifted and the release had looked, then it asks for its recipient’s release job instead of releasing beside it, and the letter goes once', async () => {
    await h.control.pauseAll('Checking a complaint');
    const [letter] = await write('gz-procuratorate');
    // The send that found the pause ends (its job gone), and the pause is lifted before it parks the letter.
    for (const id of deliveryJobIds(letter!.letterId, [letter!.targetId], letter!.targetId)) await (await h.queue.getJob(id))?.remove();
    await h.deps.switches.resumeAll();
    const asking = new Parking({
      ...h.deps,
      redis: h.t.redis,
      clock: h.deps.clock!,
      requestRelease: (campaign, targetId) => queueReleases(h.supporterQueue, [{ campaign, targetId }]),
    });
    expect(await asking.park(SHIPPED_CAMPAIGN, letter!.letterId, letter!.targetId, 'Sending is paused.')).toBe(true);
    expect((await h.log.get(letter!.letterId, letter!.targetId))!.state).toBe('held');
    expect(await h.supporterQueue.getJob(releaseParkedJobId(SHIPPED_CAMPAIGN, 'gz-procuratorate'))).toBeDefined();

    const mail = recordingTransport();
    h.startWorker(mail, { releaseBatch: BATCH });
    await eachSentOnce(mail, [letter!]);
    expect(mail.sends).toHaveLength(1);
    await h.closeWorkers();
  });
});
