import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import type { LetterStore } from '../domain/letter-store.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import { deliveryJobId, deliveryJobIds, jobsFor, releaseJobId, type QueueJobData, type RetryPolicy } from './delivery-queue.js';

// A letter is stored, then its jobs are queued. If the web process dies between the two (a crash,
// a kill, Redis going away at that instant), the letter exists with deliveries "queued" or "waiting"
// and no job to send them. This sweep finds such deliveries among the letters written or released
// from a hold in the last day and queues them again at their planned time. It looks at deliveries that have not moved since
// they were planned (at writing, or at confirmation), and at those whose last move was a release from
// a hold (at least a couple of minutes ago): the first are queued under their own job id, the others
// under the id their release's recorded time gives (releaseJobId), so a missing job is a lost one. (A
// delivery moved otherwise, e.g. rescheduled by the processor, keeps the job that moved it.)
// A delivery "retrying" must also have a job (its own or its release's, delayed by the processor's
// backoff; queued again, it waits for the next attempt's time kept in the record). So must one left
// "sending" for a couple of minutes (its job ended mid-send: it stalled more often than BullMQ allows,
// or the processor met an unexpected error); the job queued again takes the send over, flagged as
// possibly arriving twice. A job that has ended as failed while its delivery still waits (delaying a
// retry failed as Redis went away, or the processor met an unexpected error) counts as no job.
// Such deliveries are queued again under the ids "<job id>.s1", ".s2", ".s3" (the job id of their
// latest release, if any), which later sweeps look for too; when all three have failed as well, the
// failure is not passing and the delivery is marked failed with the last job's reason. Even if a job
// did exist, the letter goes once: the delivery log lets only one attempt start a send, and a send is
// taken over only once the attempt that started it cannot still be running (deliver-letter.ts).

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
  /** Letters looked at per run at the most (20,000 unless a test sets fewer). */
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
 * Queues again every recent delivery that is waiting without a job, and marks failed those whose
 * jobs the sweep queued failed SWEEP_REQUEUES_MAX times; returns how many letters were looked at,
 * deliveries re-queued and deliveries given up. Rejects if Redis does (the next run goes on).
 */
export async function sweepOrphans(deps: OrphanSweepDeps): Promise<{ examined: number; requeued: number; gaveUp: number }> {
  const now = deps.clock.now();
  let examined = 0;
  let requeued = 0;
  let gaveUp = 0;
  const campaigns = deps.campaigns.list();
  // Each campaign has its share of the run, so a busy one never leaves the others unswept; of it, a
  // quarter goes to letters released from a hold (fewer than those written, but they come in bulk).
  const share = Math.max(2, Math.floor((deps.maxPerRun ?? MAX_PER_RUN) / Math.max(1, campaigns.length)));
  const [from, to] = [now - SWEEP_WINDOW_MS, now - SWEEP_MIN_AGE_MS];
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
        const releasedAt = lastReleaseAt(d.record.history);
        // Released moments ago: its job may still be on its way to the queue.
        if (releasedAt !== undefined && now - releasedAt < SWEEP_MIN_AGE_MS) continue;
        const own = deliveryJobIds(letterId, letter.recipients, d.targetId);
        // A release names its job after the delivery's id without its place (a release knows no place); the
        // sweep names its jobs after the release's, so each time the delivery is given back it has three of its own.
        const released = releasedAt === undefined ? undefined : releaseJobId(deliveryJobId(letterId, d.targetId), releasedAt);
        const lookups = released ? [...own, released] : own;
        const base = released ?? own[0]!;
        const ids = [...lookups, ...sweepJobIds(base)];
        const found = await Promise.all(ids.map((id) => deps.queue.getJob(id)));
        // A job that has ended (failed: delaying a retry failed, or the processor met an unexpected error) is no job either.
        if (found.some((job) => job !== undefined && !job.finishedOn)) continue;
        const next = found.findIndex((job, i) => i >= lookups.length && job === undefined);
        if (next < 0) {
          // Every job the sweep queued failed too: the failure does not pass, so it is recorded, not repeated.
          const last = found[found.length - 1]!;
          const reason = `Its job kept failing before the letter could be sent (${SWEEP_REQUEUES_MAX} times queued again); last error: ${last.failedReason ?? 'unknown'}`;
          const applied = await deps.log.apply(campaign.slug, letterId, d.targetId, 'permanent-error', { error: reason });
          if (applied.applied) gaveUp++;
          deps.logger.error({ campaign: campaign.slug, letter: letterId, target: d.targetId, reason }, 'delivery given up after its jobs kept failing');
          continue;
        }
        const planned = {
          targetId: d.targetId,
          state: (d.record.state === 'waiting' ? 'waiting' : 'queued') as 'queued' | 'waiting',
          due: d.record.state === 'sending' ? now : (d.record.due ?? now),
          place: letter.recipients.indexOf(d.targetId),
        };
        // Not the delivery's own id: a failed job keeps its id for a while (FINISHED_DELIVERY_JOBS).
        for (const job of jobsFor(campaign.slug, letterId, [planned], deps.policy, now)) jobs.push({ ...job, opts: { ...job.opts, jobId: ids[next]! } });
      }
      if (!jobs.length) continue;
      await deps.queue.addBulk(jobs);
      requeued += jobs.length;
      deps.logger.warn({ campaign: campaign.slug, letter: letterId, jobs: jobs.map((j) => j.opts.jobId) }, 'deliveries found without a job were queued again');
    }
  }
  return { examined, requeued, gaveUp };
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
