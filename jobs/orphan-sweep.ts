import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import { DELIVER_JOB_STATES } from '../domain/delivery-states.js';
import type { LetterStore, StoredLetter } from '../domain/letter-store.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import {
  deliveryJobId,
  deliveryJobIds,
  deliveryJobSchema,
  FINISHED_DELIVERY_JOBS,
  jobsFor,
  releaseJobId,
  type QueueJobData,
  type RetryPolicy,
} from './delivery-queue.js';

// A letter is stored, then its jobs are queued. If the web process dies between the two (a crash,
// a kill, Redis going away at that instant), the letter exists with deliveries "queued" or "waiting"
// and no job to send them. This sweep finds such deliveries among the letters written or released
// from a hold in the last day and queues them again at their planned time. It looks at deliveries that
// have not moved since they were planned (at writing, or at confirmation), and at those whose last move
// was a release from a hold (at least a couple of minutes ago): the first are queued under their own job
// id, the others under the id their release's recorded time gives (releaseJobId), so a missing job is a
// lost one. (A delivery moved otherwise, e.g. rescheduled by the processor, keeps the job that moved it.)
// A delivery "retrying" must also have a job (its own or its release's, delayed by the processor's
// backoff; queued again, it waits for the next attempt's time kept in the record). So must one left
// "sending" for a couple of minutes (its job ended mid-send: it stalled more often than BullMQ allows,
// or the processor met an unexpected error); the job queued again takes the send over, flagged as
// possibly arriving twice. A job that has ended as failed while its delivery still waits (delaying a
// retry failed as Redis went away, or the processor met an unexpected error) counts as no job.
// Deliver jobs have no BullMQ attempts (the processor counts them in the delivery record), so such an
// unexpected error (a Redis error reply such as OOM or READONLY, a lost lock, a job stalled more often
// than BullMQ allows) fails the job for good while its delivery stays queued, waiting, retrying or
// sending, and pacing makes most such letters older than a day, moved since they were planned. So the
// sweep also pages through the queue's failed set (kept two weeks, FINISHED_DELIVERY_JOBS) from a
// cursor in Redis, oldest first, jobs failed at least SWEEP_FAILED_SETTLE_MS ago, a quarter of
// maxPerRun a run: every pending delivery whose deliver job failed, whatever its letter's age or last
// move, is queued again at its due time (a retry's backoff, a waiting letter's slot; a send left
// "sending" at once, its job waiting until the attempt that started it cannot still be running).
// A delivery its processor recorded failed (UnrecoverableError) is no longer pending and is left alone.
// Such deliveries are queued again under the ids "<job id>.s1", ".s2", ".s3" (the job id of their
// latest release, if any), which later sweeps look for too; when all three have failed as well, the
// failure is not passing and the delivery is marked failed with the last job's reason. Even if a job
// did exist, the letter goes once: the delivery log lets only one attempt start a send, and a send is
// taken over only once the attempt that started it cannot still be running (deliver-letter.ts).
// The same five-minute job also queues a release for letters still parked while neither the pause nor
// their recipient's hold is on (sweepStrandedParked in release-parked.ts): a lost release strands none.

export interface OrphanSweepDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignRegistry;
  letters: LetterStore;
  log: DeliveryLog;
  queue: Queue<QueueJobData>;
  policy: RetryPolicy;
  clock: Clock;
  logger: Logger;
  /** Letters looked at per run at the most (20,000 unless a test sets fewer); failed jobs, a quarter of that. */
  maxPerRun?: number;
}

/** Letters younger than this are still being queued by the request that stored them. */
export const SWEEP_MIN_AGE_MS = 2 * 60_000;
/** How far back the sweep looks (it runs every few minutes, so a day is ample margin). */
export const SWEEP_WINDOW_MS = 24 * 3_600_000;
/** Letters looked at per run at the most, shared equally by the campaigns. */
const MAX_PER_RUN = 20_000;

/** How many times the sweep queues one delivery again before it gives up on it. */
export const SWEEP_REQUEUES_MAX = 3;

/** The id of the sweep's `n`th job (1-based) for the delivery whose own job id is `jobId`. */
export function sweepJobId(jobId: string, n: number): string {
  return `${jobId}.s${n}`;
}

/** The ids of every job the sweep may queue for the delivery whose own job id is `jobId`, first to last. */
export function sweepJobIds(jobId: string): string[] {
  return Array.from({ length: SWEEP_REQUEUES_MAX }, (_, i) => sweepJobId(jobId, i + 1));
}

/** States in which a delivery just planned must have a job waiting for it. */
const NEEDS_JOB = new Set(['queued', 'waiting']);

/** True when the delivery is still as planned: its first state, or its first after the writer confirmed. */
function unmovedSincePlanned(history: readonly { state: string }[]): boolean {
  return history.length === 1 || (history.length === 2 && history[0]!.state === 'unconfirmed');
}

/** True when entry `i` of a history is a release from a hold ("held", then back in the line). */
function isRelease(history: readonly { state: string }[], i: number): boolean {
  return i > 0 && history[i - 1]!.state === 'held' && history[i]!.state === 'waiting';
}

/** States a campaigner's retry starts from: the delivery's jobs start afresh there (campaigner-actions.ts). */
const RETRIED_FROM = new Set(['failed', 'bounced', 'dropped']);

/** When the delivery was last given back to its line after a hold, if it was since it was last retried by a campaigner. */
function lastReleaseAt(history: readonly { state: string; at: number }[]): number | undefined {
  for (let i = history.length - 1; i > 0; i--) {
    if (isRelease(history, i)) return history[i]!.at;
    if (RETRIED_FROM.has(history[i - 1]!.state)) return undefined;
  }
  return undefined;
}

/**
 * Queues again every recent delivery that is waiting without a job, and every pending delivery whose
 * job ended failed (whatever its letter's age); marks failed those whose jobs the sweep queued failed
 * SWEEP_REQUEUES_MAX times. Returns how many letters and failed jobs were looked at, deliveries
 * re-queued and deliveries given up. Rejects if Redis does (the next run goes on).
 */
export async function sweepOrphans(deps: OrphanSweepDeps): Promise<{ examined: number; failedJobs: number; requeued: number; gaveUp: number }> {
  const now = deps.clock.now();
  let examined = 0;
  let requeued = 0;
  let gaveUp = 0;
  const campaigns = deps.campaigns.list();
  const maxPerRun = deps.maxPerRun ?? MAX_PER_RUN;
  // Each campaign has its share of the run, so a busy one never leaves the others unswept; of it, a
  // quarter goes to letters released from a hold (fewer than those written, but they come in bulk).
  const share = Math.max(2, Math.floor(maxPerRun / Math.max(1, campaigns.length)));
  const [from, to] = [now - SWEEP_WINDOW_MS, now - SWEEP_MIN_AGE_MS];
  // The failed jobs get their turn even when the scan of recent letters stops on an error (the run still
  // fails with it, and the next run scans again).
  let scanError: unknown;
  try {
    for (const campaign of campaigns) {
      const written = await nextPage(deps.redis, deps.keys.letterIndex(campaign.slug), from, to, share - Math.floor(share / 4));
      // Letters released from a hold in the last day, however long ago they were written (a hold may last days).
      const releases = deps.keys.releases(campaign.slug);
      await deps.redis.zremrangebyscore(releases, '-inf', `(${from}`);
      const released = await nextPage(deps.redis, releases, from, to, Math.floor(share / 4));
      const ids = [...new Set([...written, ...released])];
      for (const letterId of ids) {
        examined++;
        const letter = await deps.letters.get(letterId);
        if (!letter) continue;
        const waiting = letter.deliveries.filter(
          (d) =>
            ((NEEDS_JOB.has(d.record.state) && (unmovedSincePlanned(d.record.history) || isRelease(d.record.history, d.record.history.length - 1))) ||
              d.record.state === 'retrying' ||
              (d.record.state === 'sending' && now - d.record.changedAt >= SWEEP_MIN_AGE_MS)) &&
            campaign.targetById.get(d.targetId)?.delivery !== 'digest',
        );
        if (!waiting.length) continue;
        const jobs = [];
        for (const d of waiting) {
          const found = await lostJob(deps, campaign.slug, letter, d, now);
          if (found === 'gave-up') gaveUp++;
          else if (found) jobs.push(found);
        }
        if (!jobs.length) continue;
        await deps.queue.addBulk(jobs);
        requeued += jobs.length;
        deps.logger.warn(
          { campaign: campaign.slug, letter: letterId, jobs: jobs.map((j) => j.opts.jobId) },
          'deliveries found without a job were queued again',
        );
      }
    }
  } catch (err) {
    scanError = err;
  }
  const failed = await sweepFailedJobs(deps, now, Math.max(1, Math.floor(maxPerRun / 4)));
  if (scanError !== undefined) throw scanError;
  return { examined, failedJobs: failed.examined, requeued: requeued + failed.requeued, gaveUp: gaveUp + failed.gaveUp };
}

/** A job the sweep queues for a delivery (a "deliver" job under one of the sweep's ids). */
type SweepJob = ReturnType<typeof jobsFor>[number];

/**
 * What the sweep does for a pending delivery that may have lost its job: nothing (a job of it is still
 * in the queue, or it was released from a hold moments ago: undefined), the job to queue under its next
 * sweep id, or, once the sweep's jobs for it have all failed, 'gave-up' when it was recorded failed. Rejects if Redis does.
 */
async function lostJob(
  deps: OrphanSweepDeps,
  campaign: string,
  letter: StoredLetter,
  d: StoredLetter['deliveries'][number],
  now: number,
): Promise<SweepJob | 'gave-up' | undefined> {
  const letterId = letter.id;
  const releasedAt = lastReleaseAt(d.record.history);
  // Released moments ago: its job may still be on its way to the queue.
  if (releasedAt !== undefined && now - releasedAt < SWEEP_MIN_AGE_MS) return undefined;
  const own = deliveryJobIds(letterId, letter.recipients, d.targetId);
  // A release names its job after the delivery's id without its place (a release knows no place); the
  // sweep names its jobs after the release's, so each time the delivery is given back it has three of its own.
  const released = releasedAt === undefined ? undefined : releaseJobId(deliveryJobId(letterId, d.targetId), releasedAt);
  const lookups = released ? [...own, released] : own;
  const base = released ?? own[0]!;
  const ids = [...lookups, ...sweepJobIds(base)];
  const found = await Promise.all(ids.map((id) => deps.queue.getJob(id)));
  // A job that has ended (failed: delaying a retry failed, or the processor met an unexpected error) is no job either.
  if (found.some((job) => job !== undefined && !job.finishedOn)) return undefined;
  const next = found.findIndex((job, i) => i >= lookups.length && job === undefined);
  if (next < 0) {
    // Every job the sweep queued failed too: the failure does not pass, so it is recorded, not repeated.
    const last = found[found.length - 1]!;
    const reason = `Its job kept failing before the letter could be sent (${SWEEP_REQUEUES_MAX} times queued again); last error: ${last.failedReason ?? 'unknown'}`;
    const applied = await deps.log.apply(campaign, letterId, d.targetId, 'permanent-error', { error: reason });
    deps.logger.error({ campaign, letter: letterId, target: d.targetId, reason }, 'delivery given up after its jobs kept failing');
    return applied.applied ? 'gave-up' : undefined;
  }
  const planned = {
    targetId: d.targetId,
    state: (d.record.state === 'waiting' ? 'waiting' : 'queued') as 'queued' | 'waiting',
    // A retry keeps its backoff, a waiting letter its slot; a send left "sending" is taken over at once (the
    // processor itself waits until the attempt that started it cannot still be running).
    due: d.record.state === 'sending' ? now : (d.record.due ?? now),
    place: letter.recipients.indexOf(d.targetId),
  };
  // Not the delivery's own id: a failed job keeps its id for a while (FINISHED_DELIVERY_JOBS).
  const [job] = jobsFor(campaign, letterId, [planned], deps.policy, now);
  return { ...job!, opts: { ...job!.opts, jobId: ids[next]! } };
}

/**
 * Failed jobs are looked at once they have been failed this long: a worker takes the time it fails a
 * job before Redis files it, so a job filed late (a worker's clock behind, or its command held while
 * Redis failed over) still comes after the point the sweep has reached.
 */
export const SWEEP_FAILED_SETTLE_MS = 10 * 60_000;

/**
 * Looks at the "deliver" jobs that ended failed since the last run (at most `limit`, oldest first) and
 * queues again each delivery still pending without a job, the old letters' too: an unexpected error (a
 * Redis error reply, a lost lock, a job stalled too often) fails a job without recording anything in the
 * delivery log. A delivery its processor recorded failed (UnrecoverableError) is not pending, so it is
 * left alone. A job that cannot be looked at (its letter unreadable, say) is logged and passed over, so
 * it never holds back the later ones. Returns the counts; rejects when none of the page could be looked
 * at or the cursor cannot be saved (Redis is failing: the cursor stays where it was).
 */
async function sweepFailedJobs(deps: OrphanSweepDeps, now: number, limit: number): Promise<{ examined: number; requeued: number; gaveUp: number }> {
  const counts = { examined: 0, requeued: 0, gaveUp: 0 };
  const page = await nextFailedPage(deps, now - SWEEP_FAILED_SETTLE_MS, limit);
  let errors = 0;
  let lastError: unknown;
  for (const jobId of page.ids) {
    counts.examined++;
    try {
      await sweepFailedJob(deps, jobId, now, counts);
    } catch (err) {
      // One job that cannot be looked at (its letter unreadable, say) must not hold back every later one.
      errors++;
      lastError = err;
      deps.logger.error({ err, failedJob: jobId }, 'a failed delivery job could not be looked at; the sweep goes on without it');
    }
  }
  // Every job of the page failed to be looked at: Redis itself is failing, so the page is done again by the next run.
  if (errors > 0 && errors === page.ids.length) throw lastError;
  // Moved on only once the page is done: a run that stops half-way (Redis went away) is done again by the next.
  if (page.last) await deps.redis.set(deps.keys.orphanSweepFailedCursor(), JSON.stringify(page.last), 'EX', FINISHED_DELIVERY_JOBS.removeOnFail.age);
  return counts;
}

/** Looks at one failed job of the delivery queue and queues its delivery again if it still waits without a job (counted in `counts`). Rejects if Redis does. */
async function sweepFailedJob(deps: OrphanSweepDeps, jobId: string, now: number, counts: { requeued: number; gaveUp: number }): Promise<void> {
  const failedJob = await deps.queue.getJob(jobId);
  if (!failedJob || failedJob.name !== 'deliver') return;
  const payload = deliveryJobSchema.safeParse(failedJob.data);
  if (!payload.success) return;
  const { letterId, targetId } = payload.data;
  const letter = await deps.letters.get(letterId);
  const campaign = letter && deps.campaigns.get(letter.campaign);
  const d = letter?.deliveries.find((x) => x.targetId === targetId);
  if (!letter || !campaign || !d || !DELIVER_JOB_STATES.has(d.record.state)) return;
  const found = await lostJob(deps, campaign.slug, letter, d, now);
  if (found === 'gave-up') counts.gaveUp++;
  if (!found || found === 'gave-up') return;
  // Queued one by one: a delivery may have failed jobs further on in this page, which must find this one.
  await deps.queue.add(found.name, found.data, found.opts);
  counts.requeued++;
  deps.logger.warn(
    { campaign: campaign.slug, letter: letterId, target: targetId, failedJob: jobId, reason: failedJob.failedReason, job: found.opts.jobId },
    'a delivery whose job had failed was queued again',
  );
}

/** Where the sweep stopped in the failed set: the score (finish time) and id of the last failed job it looked at. */
const failedCursorSchema = z.strictObject({ at: z.number(), id: z.string().min(1) });

/**
 * The ids of the next `limit` jobs of the delivery queue's failed set (scored by their finish time)
 * after the sweep's cursor, none finished after `settled`, and the cursor at the last of them. Without
 * a cursor (the first run, or a cursor kept past its expiry) it starts from the oldest failed job kept.
 */
async function nextFailedPage(deps: OrphanSweepDeps, settled: number, limit: number): Promise<{ ids: string[]; last?: { at: number; id: string } }> {
  const key = deps.queue.toKey('failed');
  const raw = await deps.redis.get(deps.keys.orphanSweepFailedCursor());
  const cursor = failedCursorSchema.safeParse(raw ? safeJson(raw) : undefined);
  let flat: string[];
  if (cursor.success) {
    // By rank after the cursor's own job (jobs failed in the same millisecond are ordered by id) while it is still there.
    const [score, rank] = ((await deps.redis.multi().zscore(key, cursor.data.id).zrank(key, cursor.data.id).exec()) ?? []).map(([err, v]) => (err ? null : v));
    flat =
      score != null && Number(score) === cursor.data.at && typeof rank === 'number'
        ? await deps.redis.zrange(key, rank + 1, rank + limit, 'WITHSCORES')
        : // Its job is gone (removed, or trimmed from the set): from its time on, those of that very time looked at again.
          await deps.redis.zrangebyscore(key, cursor.data.at, settled, 'WITHSCORES', 'LIMIT', 0, limit);
  } else {
    flat = await deps.redis.zrangebyscore(key, '-inf', settled, 'WITHSCORES', 'LIMIT', 0, limit);
  }
  const page: { at: number; id: string }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const at = Number(flat[i + 1]);
    if (at > settled) break;
    page.push({ at, id: flat[i]! });
  }
  return { ids: page.map((p) => p.id), last: page[page.length - 1] };
}

/** `text` parsed as JSON, or undefined when it is not JSON. */
function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The next `limit` members of the sorted set `key` scored from `from` to `to`: a busy day holds more
 * letters than one run looks at, so each run goes on from where the last one stopped, and starts
 * again from the oldest once it reaches the newest.
 */
async function nextPage(redis: Redis, key: string, from: number, to: number, limit: number): Promise<string[]> {
  const cursorKey = `${key}:orphan-sweep-offset`;
  const offset = Number((await redis.get(cursorKey)) ?? 0);
  const ids = await redis.zrangebyscore(key, from, to, 'LIMIT', offset, limit);
  await redis.set(cursorKey, ids.length < limit ? 0 : offset + ids.length, 'EX', SWEEP_WINDOW_MS / 1000);
  return ids;
}
