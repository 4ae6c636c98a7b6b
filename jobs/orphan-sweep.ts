import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { LetterStore } from '../domain/letter-store.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import { deliveryJobIds, jobsFor, type QueueJobData, type RetryPolicy } from './delivery-queue.js';

// A letter is stored, then its jobs are queued. If the web process dies between the two (a crash,
// a kill, Redis going away at that instant), the letter exists with deliveries "queued" or "waiting"
// and no job to send them. This sweep finds such deliveries among recent letters and queues them
// again at their planned time. It looks only at deliveries that have not moved since they were
// planned (at writing, or at confirmation): those are queued under their own job id, so a missing
// job is a lost one. Deliveries given back to their line later (after a hold) carry other job ids and
// a longer history, and are left alone. A delivery "retrying" must also have a job (its own, delayed
// by the processor's backoff). A job that has ended as failed while its delivery still waits (delaying
// a retry failed as Redis went away, or the processor met an unexpected error) counts as no job. Such
// deliveries are queued again under fresh job ids. Even if a job did exist, the letter goes once: the
// delivery log lets only one attempt start a send.

export interface OrphanSweepDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignRegistry;
  letters: LetterStore;
  queue: Queue<QueueJobData>;
  policy: RetryPolicy;
  clock: Clock;
  logger: Logger;
}

/** Letters younger than this are still being queued by the request that stored them. */
export const SWEEP_MIN_AGE_MS = 2 * 60_000;
/** How far back the sweep looks (it runs every few minutes, so a day is ample margin). */
export const SWEEP_WINDOW_MS = 24 * 3_600_000;
/** Letters looked at per run at the most. */
const MAX_PER_RUN = 20_000;

/** States in which a delivery just planned must have a job waiting for it. */
const NEEDS_JOB = new Set(['queued', 'waiting']);

/** True when the delivery is still as planned: its first state, or its first after the writer confirmed. */
function unmovedSincePlanned(history: readonly { state: string }[]): boolean {
  return history.length === 1 || (history.length === 2 && history[0]!.state === 'unconfirmed');
}

/** Queues again every recent delivery that is waiting without a job; returns how many letters were looked at and deliveries re-queued. */
export async function sweepOrphans(deps: OrphanSweepDeps): Promise<{ examined: number; requeued: number }> {
  const now = deps.clock.now();
  let examined = 0;
  let requeued = 0;
  for (const campaign of deps.campaigns.list()) {
    if (examined >= MAX_PER_RUN) break;
    // A busy day holds more letters than one run looks at: each run goes on from where the last one
    // stopped, and starts again from the window's oldest letter once it reaches the newest.
    const index = deps.keys.letterIndex(campaign.slug);
    const cursorKey = `${index}:orphan-sweep-offset`;
    const offset = Number((await deps.redis.get(cursorKey)) ?? 0);
    const limit = MAX_PER_RUN - examined;
    const ids = await deps.redis.zrangebyscore(index, now - SWEEP_WINDOW_MS, now - SWEEP_MIN_AGE_MS, 'LIMIT', offset, limit);
    await deps.redis.set(cursorKey, ids.length < limit ? 0 : offset + ids.length, 'EX', SWEEP_WINDOW_MS / 1000);
    for (const letterId of ids) {
      examined++;
      const letter = await deps.letters.get(letterId);
      if (!letter) continue;
      const waiting = letter.deliveries.filter(
        (d) =>
          ((NEEDS_JOB.has(d.record.state) && unmovedSincePlanned(d.record.history)) || d.record.state === 'retrying') &&
          campaign.targetById.get(d.targetId)?.delivery !== 'digest',
      );
      if (!waiting.length) continue;
      const missing: typeof waiting = [];
      for (const d of waiting) {
        const found = (await Promise.all(deliveryJobIds(letterId, letter.recipients, d.targetId).map((id) => deps.queue.getJob(id)))).filter(
          (job) => job !== undefined,
        );
        // A job that has ended (failed: delaying a retry failed, or the processor met an unexpected error) is no job either.
        const live = found.some((job) => !job.finishedOn);
        if (!live) missing.push(d);
      }
      if (!missing.length) continue;
      const planned = missing.map((d) => ({
        targetId: d.targetId,
        state: (d.record.state === 'waiting' ? 'waiting' : 'queued') as 'queued' | 'waiting',
        due: d.record.state === 'retrying' ? now : (d.record.due ?? now),
        place: letter.recipients.indexOf(d.targetId),
      }));
      // Fresh job ids: a failed job keeps its id for a while (FINISHED_DELIVERY_JOBS).
      await deps.queue.addBulk(jobsFor(campaign.slug, letterId, planned, deps.policy, now, true));
      requeued += missing.length;
      deps.logger.warn(
        { campaign: campaign.slug, letter: letterId, targets: missing.map((d) => d.targetId) },
        'deliveries found without a job were queued again',
      );
    }
    if (examined >= MAX_PER_RUN) break;
  }
  return { examined, requeued };
}
