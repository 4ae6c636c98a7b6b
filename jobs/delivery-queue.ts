import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { slugSchema } from '../domain/campaign-schema.js';
import type { DeliveryScheduler } from '../domain/letter-submission.js';
import type { RedisKeys } from '../domain/redis-keys.js';

// The BullMQ queue of deliveries: one job per letter and recipient, carrying ids only.

/** The queue's name (under the deployment's BullMQ prefix). */
export const DELIVERY_QUEUE = 'deliveries';

/** A delivery job's payload: ids only, never personal data. The worker loads the letter from Redis. */
export const deliveryJobSchema = z.strictObject({
  campaign: slugSchema,
  letterId: z.string().regex(/^[0-9a-f]{32}$/),
  targetId: slugSchema,
});
export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

/** The job id of a delivery: the same letter and recipient can never be queued twice at once. */
export function deliveryJobId(letterId: string, targetId: string): string {
  return `${letterId}.${targetId}`;
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
export function createDeliveryQueue(connection: Redis, keys: RedisKeys): Queue<DeliveryJob> {
  return new Queue<DeliveryJob>(DELIVERY_QUEUE, { connection, prefix: keys.bullPrefix });
}

/** A DeliveryScheduler that adds one job per recipient in one round trip; rejects if Redis does. */
export function createQueueScheduler(queue: Queue<DeliveryJob>, policy: RetryPolicy): DeliveryScheduler {
  const opts = deliveryJobOptions(policy);
  return {
    async schedule(campaign, letterId, targetIds) {
      await queue.addBulk(
        targetIds.map((targetId) => ({
          name: 'deliver',
          data: { campaign, letterId, targetId },
          opts: { ...opts, jobId: deliveryJobId(letterId, targetId) },
        })),
      );
    },
  };
}
