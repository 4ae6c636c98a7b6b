import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { slugSchema } from '../domain/campaign-schema.js';
import type { Clock } from '../domain/clock.js';
import type { PlannedDelivery } from '../domain/delivery-planner.js';
import type { DeliveryScheduler } from '../domain/letter-submission.js';
import type { RedisKeys } from '../domain/redis-keys.js';

// The BullMQ queue of deliveries: one "deliver" job per letter and recipient, delayed to the
// recipient's paced slot, and one "digest" job per digest recipient and period. Payloads carry ids only.

/** The queue's name (under the deployment's BullMQ prefix). */
export const DELIVERY_QUEUE = 'deliveries';

/** A "deliver" job: one letter to one recipient. The worker loads the letter from Redis. */
export const deliveryJobSchema = z.strictObject({
  campaign: slugSchema,
  letterId: z.string().regex(/^[0-9a-f]{32}$/),
  targetId: slugSchema,
});
export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

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

/** The job id of a delivery: the same letter and recipient can never be queued twice at once. */
export function deliveryJobId(letterId: string, targetId: string): string {
  return `${letterId}.${targetId}`;
}

/** The job id of a digest: one job per recipient and period, however many letters join it. */
export function digestJobId(campaign: string, targetId: string, period: string): string {
  return `digest.${campaign}.${targetId}.${period}`;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** First backoff; it doubles each attempt, with jitter. */
  backoffMs: number;
}

/** The options every delivery job is added with. */
export function deliveryJobOptions(policy: RetryPolicy): JobsOptions {
  return {
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs, jitter: 0.5 },
    // The delivery log keeps the record; finished jobs need not stay in the queue.
    removeOnComplete: true,
    removeOnFail: { age: 14 * 24 * 3600, count: 50_000 },
  };
}

/** Opens the delivery queue on `connection` (shared, not duplicated). Importing this module starts nothing. */
export function createDeliveryQueue(connection: Redis, keys: RedisKeys): Queue<QueueJobData> {
  return new Queue<QueueJobData>(DELIVERY_QUEUE, { connection, prefix: keys.bullPrefix });
}

/** The jobs for planned deliveries: each delayed to its slot, and one per digest period. */
export function jobsFor(campaign: string, letterId: string, deliveries: readonly PlannedDelivery[], policy: RetryPolicy, now: number, fresh = false) {
  const opts = deliveryJobOptions(policy);
  return deliveries.map((d) => {
    const delay = Math.max(0, d.due - now);
    if (d.state === 'in-digest' && d.digestPeriod) {
      return {
        name: 'digest',
        data: { campaign, targetId: d.targetId, period: d.digestPeriod } satisfies DigestJob,
        opts: { ...opts, delay, jobId: digestJobId(campaign, d.targetId, d.digestPeriod) },
      };
    }
    return {
      name: 'deliver',
      data: { campaign, letterId, targetId: d.targetId } satisfies DeliveryJob,
      opts: {
        ...opts,
        delay,
        jobId: fresh
          ? `${deliveryJobId(letterId, d.targetId)}.r${now.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
          : deliveryJobId(letterId, d.targetId),
      },
    };
  });
}

/** A DeliveryScheduler that adds the jobs in one round trip; rejects if Redis does. */
export function createQueueScheduler(queue: Queue<QueueJobData>, policy: RetryPolicy, clock: Clock): DeliveryScheduler {
  return {
    async schedule(campaign, letterId, deliveries, options) {
      await queue.addBulk(jobsFor(campaign, letterId, deliveries, policy, clock.now(), options?.fresh));
    },
  };
}
