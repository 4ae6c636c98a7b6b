import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { slugSchema } from '../domain/campaign-schema.js';
import type { Clock } from '../domain/clock.js';
import type { PlannedDelivery } from '../domain/delivery-planner.js';
import type { DeliveryScheduler } from '../domain/letter-submission.js';
import { letterIdSchema } from '../domain/ids.js';
import type { RedisKeys } from '../domain/redis-keys.js';

// The BullMQ queue of deliveries: one "deliver" job per letter and recipient, delayed to the
// recipient's paced slot, and one "digest" job per digest recipient and period. Payloads carry ids
// only. A deliver job's id, payload and options are each kept under 64 bytes, so BullMQ's hash for
// it stays in Redis's compact (listpack) encoding: about a third of the memory.

/** The queue's name (under the deployment's BullMQ prefix). */
export const DELIVERY_QUEUE = 'deliveries';

/**
 * A "deliver" job: one letter (`l`) to one recipient (`t`); the worker loads the rest, the campaign
 * included, from the letter. Jobs queued before payloads were shortened (`{ campaign, letterId,
 * targetId }`) are read too. Both become `{ letterId, targetId }`.
 */
export const deliveryJobSchema = z.union([
  z.strictObject({ l: letterIdSchema, t: slugSchema }).transform(({ l, t }) => ({ letterId: l, targetId: t })),
  z.strictObject({ campaign: slugSchema, letterId: letterIdSchema, targetId: slugSchema }).transform(({ letterId, targetId }) => ({ letterId, targetId })),
]);
export type DeliveryJob = z.input<typeof deliveryJobSchema>;

/** A "digest" job: the letters collected for one recipient's digest of one period (its local date). */
export const digestJobSchema = z.strictObject({
  campaign: slugSchema,
  targetId: slugSchema,
  period: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
});
export type DigestJob = z.infer<typeof digestJobSchema>;

/** A "test-letter" job: a letter a campaigner asked for, to an address of their choosing (kept in Redis under the request id). */
export const testLetterJobSchema = z.strictObject({ campaign: slugSchema, requestId: z.string().regex(/^[0-9a-f]{24}$/) });
export type TestLetterJob = z.infer<typeof testLetterJobSchema>;

export type QueueJobData = DeliveryJob | DigestJob | TestLetterJob;

/**
 * The job id of a delivery, so the same letter and recipient can never be queued twice at once:
 * `<letterId>.<place>`, the recipient's place among the letter's recipients (short enough that
 * BullMQ's job hash stays in Redis's compact encoding), or `<letterId>.<targetId>` when the place
 * is not known (and for jobs queued before places were used).
 */
export function deliveryJobId(letterId: string, targetId: string, place?: number): string {
  return place === undefined || place < 0 ? `${letterId}.${targetId}` : `${letterId}.${place}`;
}

/**
 * The id of the job for a delivery given back to its line at `releasedAt` (after a hold): its own id
 * and `.r<time in base 36>`. Not its own id, as the job that parked it may still be finishing; derived
 * from the time the delivery log recorded for the release, so the orphan sweep can find it.
 */
export function releaseJobId(jobId: string, releasedAt: number): string {
  return `${jobId}.r${releasedAt.toString(36)}`;
}

/** Every id a delivery's job may have (see deliveryJobId), for finding it. */
export function deliveryJobIds(letterId: string, recipients: readonly string[], targetId: string): string[] {
  const place = recipients.indexOf(targetId);
  return place < 0 ? [deliveryJobId(letterId, targetId)] : [deliveryJobId(letterId, targetId, place), deliveryJobId(letterId, targetId)];
}

/** The job id of a digest: one job per recipient and period, however many letters join it. */
export function digestJobId(campaign: string, targetId: string, period: string): string {
  return `digest.${campaign}.${targetId}.${period}`;
}

/** How a delivery that failed for a reason that may pass is tried again (SEND_ATTEMPTS, SEND_BACKOFF_MS). */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** First backoff; it doubles each attempt, with jitter. */
  backoffMs: number;
}

/**
 * The wait before trying again after failed attempt number `attempt` (1 for the first): exponential,
 * `backoffMs * 2^(attempt - 1)`, less up to half of it at random (BullMQ's exponential backoff with jitter 0.5).
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const max = Math.round(policy.backoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(max / 2 + random() * (max / 2));
}

/**
 * What the worker keeps of finished "deliver" jobs (set on the worker, not on each job, so job
 * options stay short): nothing of completed ones (the delivery log is the record), failed ones for two weeks.
 */
export const FINISHED_DELIVERY_JOBS = { removeOnComplete: { count: 0 }, removeOnFail: { age: 14 * 24 * 3600, count: 50_000 } };

/**
 * The options of a digest job. Deliver jobs carry none but their id and delay: the deliver processor
 * retries by itself (it records each attempt in the delivery log), and the worker removes finished jobs.
 */
export function digestJobOptions(policy: RetryPolicy): JobsOptions {
  return { attempts: policy.attempts, backoff: { type: 'exponential', delay: policy.backoffMs, jitter: 0.5 }, ...FINISHED_DELIVERY_JOBS };
}

/** Opens the delivery queue on `connection` (shared, not duplicated). Importing this module starts nothing. */
export function createDeliveryQueue(connection: Redis, keys: RedisKeys): Queue<QueueJobData> {
  return new Queue<QueueJobData>(DELIVERY_QUEUE, { connection, prefix: keys.bullPrefix });
}

/**
 * The jobs for planned deliveries: each delayed to its slot (its job id by its place, when the plan
 * has one), and one per digest period. With `releasedAt`, deliver jobs get the ids of deliveries
 * given back to their line at that time (releaseJobId).
 */
export function jobsFor(campaign: string, letterId: string, deliveries: readonly PlannedDelivery[], policy: RetryPolicy, now: number, releasedAt?: number) {
  return deliveries.map((d) => {
    const delay = Math.max(0, d.due - now);
    if (d.state === 'in-digest' && d.digestPeriod) {
      return {
        name: 'digest',
        data: { campaign, targetId: d.targetId, period: d.digestPeriod } satisfies DigestJob,
        opts: { ...digestJobOptions(policy), delay, jobId: digestJobId(campaign, d.targetId, d.digestPeriod) },
      };
    }
    const jobId = deliveryJobId(letterId, d.targetId, d.place);
    return {
      name: 'deliver',
      data: { l: letterId, t: d.targetId } satisfies DeliveryJob,
      opts: { delay, jobId: releasedAt === undefined ? jobId : releaseJobId(jobId, releasedAt) },
    };
  });
}

/**
 * A DeliveryScheduler that adds the jobs side by side; rejects if Redis does. (Not addBulk: its MULTI
 * builds an ioredis pipeline that copies every BullMQ script, about 0.06 ms more CPU per letter of three.
 * If the process dies between two adds, the orphan sweep queues the delivery left without a job.)
 */
export function createQueueScheduler(queue: Queue<QueueJobData>, policy: RetryPolicy, clock: Clock): DeliveryScheduler {
  return {
    async schedule(campaign, letterId, deliveries, options) {
      const jobs = jobsFor(campaign, letterId, deliveries, policy, clock.now(), options?.releasedAt);
      await Promise.all(jobs.map((j) => queue.add(j.name, j.data, j.opts)));
    },
  };
}
