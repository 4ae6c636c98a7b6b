import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../domain/clock.js';
import { deliveryJobId, releaseJobId } from '../../jobs/delivery-queue.js';
import { sweepJobId, sweepJobIds, sweepOrphans, SWEEP_FAILED_SETTLE_MS, SWEEP_MIN_AGE_MS } from '../../jobs/orphan-sweep.js';
import { Parking } from '../../jobs/parking.js';
import { createHarness, eventually, expectStatus, postLetter, SHIPPED_CAMPAIGN, silentLogger, validForm, type Harness } from '../support/harness.js';
import { recordingTransport } from '../support/recording-transport.js';

// A letter stored without its jobs (the web process died between storing and queueing) is found and sent.

/** A manual clock; with `tick` set, every reading moves it on by that many ms (so two readings never agree). */
const clock = {
  at: Date.now(),
  tick: 0,
  now() {
    const t = this.at;
    this.at += this.tick;
    return t;
  },
} satisfies Clock & { at: number; tick: number };
let h: Harness;
beforeAll(() => {
  h = createHarness('orphan-sweep', { clock });
});
// A failed test must not leave its worker taking the next test's jobs.
afterEach(() => h.closeWorkers());
afterAll(() => h.close());

/** One run of the sweep, looking at `maxPerRun` letters at the most (its default, 20,000, unless given). */
const sweep = (maxPerRun?: number) =>
  sweepOrphans({
    maxPerRun,
    redis: h.t.redis,
    keys: h.t.keys,
    campaigns: h.campaigns,
    letters: h.letters,
    log: h.log,
    queue: h.queue,
    policy: h.config.delivery,
    clock,
    logger: silentLogger,
  });

/** Queues jobs under `ids` with a payload the processor refuses, and resolves once a worker (sending through `mail`) has failed them all. */
async function failJobs(ids: readonly string[], mail = recordingTransport()): Promise<void> {
  for (const jobId of ids) await h.queue.add('deliver', { broken: true } as never, { jobId });
  h.startWorker(mail);
  await eventually(async () => ((await Promise.all(ids.map((id) => h.queue.getJob(id)))).every((j) => j?.finishedOn) ? true : undefined));
}

/** A letter from `email` to `targetId` stored with the given plan and no job, as if the request that stored it died before queueing. */
async function storedLetter(email: string, targetId: string, plan: { state: 'queued' } | { state: 'waiting'; due: number } = { state: 'queued' }) {
  const draft = { ...validForm({ email }), recipients: [targetId], keepInformed: false } as never;
  return h.letters.create(h.campaigns.get(SHIPPED_CAMPAIGN)!, draft, { [targetId]: plan });
}

/** Records a first attempt that failed for a reason that may pass, leaving the delivery "retrying" (its job would be delayed by the backoff). */
async function failFirstAttempt(letterId: string, targetId: string) {
  await h.log.apply(SHIPPED_CAMPAIGN, letterId, targetId, 'send-started', { attempt: 1, due: 0 });
  await h.log.apply(SHIPPED_CAMPAIGN, letterId, targetId, 'transient-error', { error: 'The provider answered 503.' });
}

/**
 * Runs the deliver jobs `jobs` (queued under their ids unless already queued) while Redis answers each
 * one's letter with an error reply (WRONGTYPE here, as it may answer OOM, or READONLY during a failover),
 * so each ends failed with its delivery left as it was; then moves the clock on until the sweep looks
 * at such jobs (SWEEP_FAILED_SETTLE_MS). The letters read again only once the worker has stopped.
 */
async function failOnRedisError(jobs: readonly { letterId: string; targetId: string; jobId: string }[]): Promise<void> {
  const saved = [];
  for (const letterId of new Set(jobs.map((j) => j.letterId))) {
    const key = h.t.keys.letter(letterId);
    saved.push({ key, ttl: await h.t.redis.pttl(key), dump: (await h.t.redis.dumpBuffer(key))! });
    await h.t.redis.set(key, 'not a hash');
  }
  try {
    for (const { letterId, targetId, jobId } of jobs) await h.queue.add('deliver', { l: letterId, t: targetId }, { jobId });
    h.startWorker(recordingTransport());
    await eventually(async () => ((await Promise.all(jobs.map((j) => h.queue.getJob(j.jobId)))).every((j) => j?.finishedOn) ? true : undefined));
    await h.closeWorkers();
  } finally {
    for (const { key, ttl, dump } of saved) await h.t.redis.restore(key, Math.max(0, ttl), dump, 'REPLACE');
  }
  for (const { jobId } of jobs) expect((await h.queue.getJob(jobId))!.failedReason).toMatch(/WRONGTYPE/);
  clock.at = Math.max(clock.at, Date.now()) + SWEEP_FAILED_SETTLE_MS + 1000;
}

/** Waits until the delivery is recorded sent, checks the writer's letter reached `mail` exactly once, and returns its record. */
async function sentOnce(mail: ReturnType<typeof recordingTransport>, letterId: string, targetId: string, email: string) {
  const record = await eventually(async () => {
    const r = (await h.log.get(letterId, targetId))!;
    return r.state === 'sent' ? r : undefined;
  });
  expect(mail.sends.filter((s) => s.email.replyTo.email === email)).toHaveLength(1);
  return record;
}

describe('the orphan sweep', () => {
  it('when a letter was stored but its jobs never queued, then the sweep queues exactly its deliveries, they go once, and a second sweep finds nothing', async () => {
    const campaign = h.campaigns.get(SHIPPED_CAMPAIGN)!;
    // A letter written normally (its jobs are queued), and one stored as if the process died before queueing.
    await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'normal@example.net', recipients: ['gz-psb', 'embassy-fr'] })), 303);
    const draft = { ...validForm({ email: 'orphan@example.net' }), recipients: ['gz-psb', 'embassy-gb'], keepInformed: false } as never;
    const orphan = await h.letters.create(campaign, draft, { 'gz-psb': { state: 'queued' }, 'embassy-gb': { state: 'queued' } });
    const queued = await h.queue.count();

    // Too young: the request that stored it may still be queueing.
    expect(await sweep()).toEqual({ examined: 0, failedJobs: 0, requeued: 0, gaveUp: 0 });
    clock.at += SWEEP_MIN_AGE_MS + 1000;
    expect(await sweep()).toEqual({ examined: 2, failedJobs: 0, requeued: 2, gaveUp: 0 });
    expect(await h.queue.count()).toBe(queued + 2);

    const mail = recordingTransport();
    h.startWorker(mail);
    await eventually(async () => (mail.sends.length === 4 ? true : undefined));
    // The worker records "sent" just after the provider answers.
    const states = async () => [(await h.log.get(orphan.letterId, 'gz-psb'))!.state, (await h.log.get(orphan.letterId, 'embassy-gb'))!.state];
    await eventually(async () => ((await states()).every((s) => s === 'sent') ? true : undefined));
    const toOrphan = mail.sends.filter((s) => s.email.replyTo.email === 'orphan@example.net').map((s) => s.email.to.email);
    expect(toOrphan.sort()).toEqual(['embassy-gb@example.org', 'gz-psb@example.org']);
    expect(await sweep()).toEqual({ examined: 2, failedJobs: 0, requeued: 0, gaveUp: 0 });
    await h.closeWorkers();
  });

  it('when a delivery is left retrying without a job (delaying its job failed), then the sweep queues it again and it goes once', async () => {
    const letter = await storedLetter('retrying@example.net', 'gz-procuratorate');
    await failFirstAttempt(letter.letterId, 'gz-procuratorate');
    expect((await h.log.get(letter.letterId, 'gz-procuratorate'))!.state).toBe('retrying');
    clock.at += SWEEP_MIN_AGE_MS + 1000;

    expect((await sweep()).requeued).toBe(1);
    const mail = recordingTransport();
    h.startWorker(mail);
    await sentOnce(mail, letter.letterId, 'gz-procuratorate', 'retrying@example.net');
    expect((await sweep()).requeued).toBe(0);
    await h.closeWorkers();
  });

  it('when a delivery left retrying without a job has its next attempt due later, then the sweep queues it for that time, not at once', async () => {
    const letter = await storedLetter('retry-later@example.net', 'embassy-fr');
    await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-fr', 'send-started', { attempt: 1, due: 0 });
    clock.at += SWEEP_MIN_AGE_MS + 1000;
    const due = clock.at + 10 * 60_000;
    await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-fr', 'transient-error', { error: 'The provider answered 503.', due });

    expect((await sweep()).requeued).toBe(1);
    const job = (await h.queue.getJob(sweepJobId(deliveryJobId(letter.letterId, 'embassy-fr', 0), 1)))!;
    expect(job.delay).toBe(10 * 60_000);
    await job.remove();
    await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-fr', 'writer-cancelled');
  });

  it('when a delivery still waits but its job ended as failed, then the sweep queues it again under a fresh id and it goes once', async () => {
    const letter = await storedLetter('failed-job@example.net', 'embassy-fr');
    // Its job, under its own id, fails at once (a payload the processor refuses), leaving the delivery queued.
    const mail = recordingTransport();
    await failJobs([deliveryJobId(letter.letterId, 'embassy-fr', 0)], mail);
    expect((await h.log.get(letter.letterId, 'embassy-fr'))!.state).toBe('queued');
    clock.at += SWEEP_MIN_AGE_MS + 1000;

    expect((await sweep()).requeued).toBe(1);
    await sentOnce(mail, letter.letterId, 'embassy-fr', 'failed-job@example.net');
    expect((await sweep()).requeued).toBe(0);
    await h.closeWorkers();
  });

  it('when a waiting delivery was queued again after its job failed, then later sweeps find that job and queue nothing more', async () => {
    const due = clock.at + 6 * 3_600_000;
    const letter = await storedLetter('later@example.net', 'embassy-gb', { state: 'waiting', due });
    await failJobs([deliveryJobId(letter.letterId, 'embassy-gb', 0)]);
    await h.closeWorkers();
    clock.at += SWEEP_MIN_AGE_MS + 1000;
    const delayedBefore = await h.queue.getDelayedCount();

    expect((await sweep()).requeued).toBe(1);
    expect(await h.queue.getJob(sweepJobId(deliveryJobId(letter.letterId, 'embassy-gb', 0), 1))).toBeDefined();
    // Every five minutes, as the worker runs it: the job queued by the first sweep is still waiting for its slot.
    for (let run = 0; run < 3; run++) {
      clock.at += 5 * 60_000;
      expect((await sweep()).requeued).toBe(0);
    }
    expect(await h.queue.getDelayedCount()).toBe(delayedBefore + 1);
  });

  it('when the jobs the sweep queued failed too, then the delivery is marked failed with their reason and nothing more is queued', async () => {
    const letter = await storedLetter('stuck@example.net', 'gz-psb');
    // The delivery's own job and the three the sweep would queue, all refused by the processor.
    const own = deliveryJobId(letter.letterId, 'gz-psb', 0);
    const ids = [own, ...sweepJobIds(own)];
    await failJobs(ids);
    await h.closeWorkers();
    clock.at += SWEEP_MIN_AGE_MS + 1000;

    expect(await sweep()).toMatchObject({ requeued: 0, gaveUp: 1 });
    const record = (await h.log.get(letter.letterId, 'gz-psb'))!;
    expect(record.state).toBe('failed');
    expect(record.error).toMatch(/kept failing before the letter could be sent \(3 times queued again\); last error: Invalid delivery job payload/);
    clock.at += 5 * 60_000;
    expect(await sweep()).toMatchObject({ requeued: 0, gaveUp: 0 });
  });

  it('when a campaigner retries a delivery the sweep gave up on, then a later lost job of it is queued again, not given up at once', async () => {
    const letter = await storedLetter('given-up@example.net', 'embassy-de');
    const own = deliveryJobId(letter.letterId, 'embassy-de', 0);
    await failJobs([own, ...sweepJobIds(own)]);
    await h.closeWorkers();
    clock.at += SWEEP_MIN_AGE_MS + 1000;
    expect(await sweep()).toMatchObject({ gaveUp: 1 });

    expect(await h.deps.actions.retry(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-de')).toBe(true);
    // Its new job fails to delay a retry (Redis went away at that moment): the delivery is left retrying without a job.
    await (await h.queue.getJob(own))!.remove();
    await failFirstAttempt(letter.letterId, 'embassy-de');
    expect(await sweep()).toMatchObject({ requeued: 1, gaveUp: 0 });
    expect((await h.log.get(letter.letterId, 'embassy-de'))!.state).toBe('retrying');
    await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-de', 'writer-cancelled');
  });

  it('when a delivery was left "sending" and its job ended (it stalled too often), then the sweep queues it again and it goes once, flagged', async () => {
    const letter = await storedLetter('stuck-sending@example.net', 'embassy-au');
    clock.at += SWEEP_MIN_AGE_MS + 1000;
    await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-au', 'send-started', { attempt: 1, due: 0 });
    // A minute into its send (its job may be on it still): left alone.
    clock.at += 60_000;
    expect((await sweep()).requeued).toBe(0);
    clock.at += SWEEP_MIN_AGE_MS;

    expect((await sweep()).requeued).toBe(1);
    const mail = recordingTransport();
    h.startWorker(mail);
    const record = await sentOnce(mail, letter.letterId, 'embassy-au', 'stuck-sending@example.net');
    expect(record.possibleDuplicate).toBe(true);
    expect((await sweep()).requeued).toBe(0);
  });

  describe('with a delivery given back to its line after a hold', () => {
    /**
     * A letter to `targetId` written a while ago, then parked and at once released (no switch is on), so
     * its job is the release's; returns the letter and that job's id. The clock moves at every reading
     * meanwhile, so the job id must come from the time the release was recorded, not from another reading.
     */
    async function releasedLetter(email: string, targetId: string, writtenAgo = SWEEP_MIN_AGE_MS + 1000) {
      const letter = await storedLetter(email, targetId);
      clock.at += writtenAgo;
      const parking = new Parking({ ...h.deps, redis: h.t.redis, clock });
      clock.tick = 7;
      try {
        expect(await parking.park(SHIPPED_CAMPAIGN, letter.letterId, targetId, 'Held while the address was checked.')).toBe(true);
      } finally {
        clock.tick = 0;
      }
      const record = (await h.log.get(letter.letterId, targetId))!;
      expect(record.history.map((e) => e.state)).toEqual(['queued', 'held', 'waiting']);
      const jobId = releaseJobId(deliveryJobId(letter.letterId, targetId), record.history[2]!.at);
      expect(await h.queue.getJob(jobId)).toBeDefined();
      return { letter, jobId };
    }

    it('when it is retrying under the job its release queued, then the sweep finds that job and queues nothing', async () => {
      const { letter, jobId } = await releasedLetter('released-retrying@example.net', 'embassy-fr');
      // Its first attempt failed; the processor delayed the same job by the backoff.
      await failFirstAttempt(letter.letterId, 'embassy-fr');
      clock.at += SWEEP_MIN_AGE_MS + 1000;

      expect((await sweep()).requeued).toBe(0);
      expect(await h.queue.getJob(sweepJobId(deliveryJobId(letter.letterId, 'embassy-fr', 0), 1))).toBeUndefined();
      // Withdrawn, so the later tests' sweeps and workers leave it alone.
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-fr', 'writer-cancelled');
      await (await h.queue.getJob(jobId))!.remove();
    });

    it('when its job was lost after the release was recorded, then the sweep queues it again and it goes once', async () => {
      const { letter, jobId } = await releasedLetter('released-lost@example.net', 'embassy-gb');
      // As if the process died between recording the release and queueing its job.
      await (await h.queue.getJob(jobId))!.remove();
      clock.at += SWEEP_MIN_AGE_MS + 1000;

      expect((await sweep()).requeued).toBe(1);
      const mail = recordingTransport();
      h.startWorker(mail);
      await sentOnce(mail, letter.letterId, 'embassy-gb', 'released-lost@example.net');
      expect((await sweep()).requeued).toBe(0);
    });

    it('when a campaigner retries a released delivery the sweep gave up on, then a later lost job of it is queued again, not given up at once', async () => {
      const { letter, jobId } = await releasedLetter('released-given-up@example.net', 'embassy-ca');
      // The release's job and the three the sweep queues after it all fail; the sweep gives up.
      await (await h.queue.getJob(jobId))!.remove();
      await failJobs([jobId, ...sweepJobIds(jobId)]);
      await h.closeWorkers();
      clock.at += SWEEP_MIN_AGE_MS + 1000;
      expect(await sweep()).toMatchObject({ gaveUp: 1 });

      expect(await h.deps.actions.retry(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-ca')).toBe(true);
      // The retried delivery's job is lost after an attempt failed: it is retrying without a job.
      for (const id of [deliveryJobId(letter.letterId, 'embassy-ca', 0), deliveryJobId(letter.letterId, 'embassy-ca')])
        await (await h.queue.getJob(id))?.remove();
      await failFirstAttempt(letter.letterId, 'embassy-ca');
      expect(await sweep()).toMatchObject({ requeued: 1, gaveUp: 0 });
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-ca', 'writer-cancelled');
    });

    it('when a delivery was released moments ago and its job is not in the queue yet, then the sweep waits two minutes before queueing it', async () => {
      const { letter, jobId } = await releasedLetter('released-just-now@example.net', 'gz-procuratorate');
      // The release's job is still on its way (the release was recorded, the add has not landed).
      await (await h.queue.getJob(jobId))!.remove();

      expect((await sweep()).requeued).toBe(0);
      clock.at += SWEEP_MIN_AGE_MS + 1000;
      expect((await sweep()).requeued).toBe(1);
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'gz-procuratorate', 'writer-cancelled');
    });

    it('when a letter written days ago is released from a long hold and its job is lost, then the sweep still finds it and queues it again', async () => {
      const { letter, jobId } = await releasedLetter('held-for-days@example.net', 'gz-psb', 3 * 24 * 3_600_000);
      await (await h.queue.getJob(jobId))!.remove();
      clock.at += SWEEP_MIN_AGE_MS + 1000;

      expect((await sweep()).requeued).toBe(1);
      expect(await h.queue.getJob(sweepJobId(jobId, 1))).toBeDefined();
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'gz-psb', 'writer-cancelled');
      // A day later its release is no longer remembered.
      clock.at += 24 * 3_600_000;
      await sweep();
      expect(await h.t.redis.zscore(h.t.keys.releases(SHIPPED_CAMPAIGN), letter.letterId)).toBeNull();
    });

    it('when more letters were released than one run looks at, then each run goes on to the next ones until every lost job is queued again', async () => {
      // This campaign's releases are only these five (the earlier tests' are forgotten).
      const releases = h.t.keys.releases(SHIPPED_CAMPAIGN);
      await h.t.redis.del(releases, `${releases}:orphan-sweep-offset`);
      // Five letters written days ago, released together after a long hold; every release's job is lost.
      const letters = [];
      for (let i = 0; i < 5; i++) letters.push(await storedLetter(`bulk-release-${i}@example.net`, 'embassy-us'));
      clock.at += 3 * 24 * 3_600_000;
      const parking = new Parking({ ...h.deps, redis: h.t.redis, clock });
      for (const letter of letters) {
        expect(await parking.park(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-us', 'Held while the address was checked.')).toBe(true);
        const released = (await h.log.get(letter.letterId, 'embassy-us'))!.history[2]!;
        await (await h.queue.getJob(releaseJobId(deliveryJobId(letter.letterId, 'embassy-us'), released.at)))!.remove();
      }
      clock.at += SWEEP_MIN_AGE_MS + 1000;

      // Eight letters a run: up to six of those written in the last day, two of those released.
      const runs = [];
      for (let run = 0; run < 4; run++) runs.push((await sweep(8)).requeued);
      expect(runs.reduce((a, b) => a + b, 0)).toBe(5);
      expect(runs[0]).toBe(2);
      for (const letter of letters) await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-us', 'writer-cancelled');
    });
  });

  describe('with a deliver job that ended failed on an unexpected error', () => {
    const DAY = 24 * 3_600_000;

    it('when a letter written weeks ago was rescheduled and then its job failed on a Redis error, then the sweep queues it again and it goes once', async () => {
      const letter = await storedLetter('weeks-old@example.net', 'embassy-fr', { state: 'waiting', due: clock.at + DAY });
      clock.at += 20 * DAY;
      // Its job found the recipient's pace used up and put itself back (the delivery's last move), then met the error.
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-fr', 'rescheduled', { due: clock.at });
      await failOnRedisError([{ letterId: letter.letterId, targetId: 'embassy-fr', jobId: deliveryJobId(letter.letterId, 'embassy-fr', 0) }]);
      expect((await h.log.get(letter.letterId, 'embassy-fr'))!.state).toBe('waiting');

      expect((await sweep()).requeued).toBe(1);
      const mail = recordingTransport();
      h.startWorker(mail);
      await sentOnce(mail, letter.letterId, 'embassy-fr', 'weeks-old@example.net');
      expect((await sweep()).requeued).toBe(0);
    });

    it("when an old retrying delivery's job failed on a Redis error, then the sweep queues it for its next attempt's time, not at once", async () => {
      const letter = await storedLetter('old-retry@example.net', 'embassy-gb');
      clock.at += 3 * DAY;
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-gb', 'send-started', { attempt: 1, due: 0 });
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-gb', 'transient-error', { error: 'The provider answered 503.', due: clock.at + DAY });
      await failOnRedisError([{ letterId: letter.letterId, targetId: 'embassy-gb', jobId: deliveryJobId(letter.letterId, 'embassy-gb', 0) }]);
      const due = (await h.log.get(letter.letterId, 'embassy-gb'))!.due!;

      expect((await sweep()).requeued).toBe(1);
      const job = (await h.queue.getJob(sweepJobId(deliveryJobId(letter.letterId, 'embassy-gb', 0), 1)))!;
      expect(job.delay).toBe(due - clock.at);
      expect(job.delay).toBeGreaterThan(DAY - SWEEP_FAILED_SETTLE_MS - 2000);
      await job.remove();
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-gb', 'writer-cancelled');
    });

    it('when an old send was left "sending" by a job that then failed, then the sweep queues it and it goes once, flagged as possibly twice', async () => {
      const letter = await storedLetter('old-sending@example.net', 'embassy-au');
      clock.at += 2 * DAY;
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-au', 'send-started', { attempt: 1, due: 0 });
      await failOnRedisError([{ letterId: letter.letterId, targetId: 'embassy-au', jobId: deliveryJobId(letter.letterId, 'embassy-au', 0) }]);

      expect((await sweep()).requeued).toBe(1);
      const mail = recordingTransport();
      h.startWorker(mail);
      const record = await sentOnce(mail, letter.letterId, 'embassy-au', 'old-sending@example.net');
      expect(record.possibleDuplicate).toBe(true);
    });

    it("when a delivery's job failed after its processor recorded it failed, then the sweep leaves it alone and a campaigner's retry sends it once", async () => {
      const letter = await storedLetter('refused@example.net', 'embassy-de');
      clock.at += 2 * DAY;
      // The provider refuses it for good: the processor records the failure and fails its job (UnrecoverableError).
      const mail = recordingTransport();
      mail.failNext('permanent');
      const own = deliveryJobId(letter.letterId, 'embassy-de', 0);
      await h.queue.add('deliver', { l: letter.letterId, t: 'embassy-de' }, { jobId: own });
      h.startWorker(mail);
      await eventually(async () => ((await h.queue.getJob(own))?.finishedOn ? true : undefined));
      await h.closeWorkers();
      clock.at = Math.max(clock.at, Date.now()) + SWEEP_FAILED_SETTLE_MS + 1000;
      expect((await h.queue.getJob(own))!.failedReason).toMatch(/scripted permanent failure/);

      expect(await sweep()).toMatchObject({ requeued: 0, gaveUp: 0 });
      expect(await h.queue.getJob(sweepJobId(own, 1))).toBeUndefined();
      expect((await h.log.get(letter.letterId, 'embassy-de'))!.state).toBe('failed');

      expect(await h.deps.actions.retry(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-de')).toBe(true);
      h.startWorker(mail);
      await sentOnce(mail, letter.letterId, 'embassy-de', 'refused@example.net');
      await h.closeWorkers();
      expect((await sweep()).requeued).toBe(0);
    });

    it('when the job the sweep queued fails on a Redis error too, then the next sweep queues the next one, the letter goes once, and a sweep looking at every failed job again queues nothing twice', async () => {
      const letter = await storedLetter('failed-twice@example.net', 'gz-psb', { state: 'waiting', due: clock.at });
      clock.at += 2 * DAY;
      await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'gz-psb', 'rescheduled', { due: clock.at + 3_600_000 });
      const own = deliveryJobId(letter.letterId, 'gz-psb', 0);
      await failOnRedisError([{ letterId: letter.letterId, targetId: 'gz-psb', jobId: own }]);
      expect((await sweep()).requeued).toBe(1);
      // The sweep's job meets the error as well (its delay cut short, as if its time had come).
      await (await h.queue.getJob(sweepJobId(own, 1)))!.promote();
      await failOnRedisError([{ letterId: letter.letterId, targetId: 'gz-psb', jobId: sweepJobId(own, 1) }]);

      expect((await sweep()).requeued).toBe(1);
      const next = (await h.queue.getJob(sweepJobId(own, 2)))!;
      expect(next.delay).toBeGreaterThan(0);
      // As when the sweep's place in the failed jobs expired: every failed job is looked at again, and none queued twice.
      await h.t.redis.del(h.t.keys.orphanSweepFailedCursor());
      const delayed = await h.queue.getDelayedCount();
      expect(await sweep()).toMatchObject({ requeued: 0, gaveUp: 0 });
      expect(await h.queue.getDelayedCount()).toBe(delayed);
      expect(await h.queue.getJob(sweepJobId(own, 3))).toBeUndefined();

      await next.promote();
      const mail = recordingTransport();
      h.startWorker(mail);
      await sentOnce(mail, letter.letterId, 'gz-psb', 'failed-twice@example.net');
    });

    it("when one failed job's letter cannot be read, then the sweep passes over it and still queues the others", async () => {
      await sweep();
      const [unreadable, readable] = [await storedLetter('unreadable@example.net', 'embassy-ca'), await storedLetter('readable@example.net', 'embassy-ca')];
      clock.at += 2 * DAY;
      for (const letter of [unreadable, readable]) await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-ca', 'rescheduled', { due: clock.at + DAY });
      await failOnRedisError(
        [unreadable, readable].map((l) => ({ letterId: l.letterId, targetId: 'embassy-ca', jobId: deliveryJobId(l.letterId, 'embassy-ca', 0) })),
      );
      // While the sweep runs, one letter answers with an error reply.
      const key = h.t.keys.letter(unreadable.letterId);
      const dump = (await h.t.redis.dumpBuffer(key))!;
      await h.t.redis.set(key, 'not a hash');
      try {
        const run = await sweep();
        expect(run.failedJobs).toBe(2);
        expect(run.requeued).toBe(1);
        expect(await h.queue.getJob(sweepJobId(deliveryJobId(readable.letterId, 'embassy-ca', 0), 1))).toBeDefined();
      } finally {
        await h.t.redis.restore(key, 0, dump, 'REPLACE');
      }
      for (const letter of [unreadable, readable]) await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-ca', 'writer-cancelled');
    });

    it('when more jobs failed than one run looks at, then each run goes on from where the last one stopped and none is looked at twice', async () => {
      // Whatever failed before is looked at first.
      await sweep();
      const letters = [];
      for (let i = 0; i < 3; i++) letters.push(await storedLetter(`many-failed-${i}@example.net`, 'embassy-us'));
      clock.at += 2 * DAY;
      for (const letter of letters) await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-us', 'rescheduled', { due: clock.at + DAY });
      await failOnRedisError(letters.map((l) => ({ letterId: l.letterId, targetId: 'embassy-us', jobId: deliveryJobId(l.letterId, 'embassy-us', 0) })));

      // Eight letters a run: two failed jobs.
      const runs = [];
      for (let run = 0; run < 3; run++) runs.push(await sweep(8));
      expect(runs.map((r) => r.failedJobs)).toEqual([2, 1, 0]);
      expect(runs.map((r) => r.requeued)).toEqual([2, 1, 0]);
      for (const letter of letters) {
        expect(await h.queue.getJob(sweepJobId(deliveryJobId(letter.letterId, 'embassy-us', 0), 1))).toBeDefined();
        await h.log.apply(SHIPPED_CAMPAIGN, letter.letterId, 'embassy-us', 'writer-cancelled');
      }
    });
  });
});
