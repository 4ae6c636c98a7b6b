import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { slugSchema } from '../domain/campaign-schema.js';
import { letterIdSchema } from '../domain/ids.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import type { ReleaseParkedJob } from './release-parked.js';

// Email to supporters (not to officials) goes through its own queue, so it is never paced like
// letters nor held back by a backlog of them: the confirmation of a new letter (double opt-in), a fresh
// status link, and the deletion of letters never confirmed. Housekeeping runs here too (retention, the
// orphan sweep, the release of parked letters). Payloads carry ids only; links are minted by the worker when it sends.

export const SUPPORTER_MAIL_QUEUE = 'supporter-mail';

/** "status-link": email a supporter a new link to the letter they already wrote (after a refused repeat). */
export const statusLinkJobSchema = z.strictObject({
  campaign: slugSchema,
  letterId: letterIdSchema,
  /** The recipients the refused letter named (ids). */
  targetIds: z.array(slugSchema).min(1),
});
export type StatusLinkJob = z.infer<typeof statusLinkJobSchema>;

/** "confirm-letter": ask the writer to confirm their address; "expire-unconfirmed": delete the letter if they never did. */
export const letterRefJobSchema = z.strictObject({ campaign: slugSchema, letterId: letterIdSchema });
export type LetterRefJob = z.infer<typeof letterRefJobSchema>;

/** The hourly "retention" and five-minute "orphan-sweep" jobs carry nothing; "release-parked" (release-parked.ts) names a recipient. */
export type SupporterMailJob = StatusLinkJob | LetterRefJob | ReleaseParkedJob | Record<string, never>;

/** Opens the supporter-mail queue on `connection` (shared). */
export function createSupporterMailQueue(connection: Redis, keys: RedisKeys): Queue<SupporterMailJob> {
  return new Queue<SupporterMailJob>(SUPPORTER_MAIL_QUEUE, { connection, prefix: keys.bullPrefix });
}

/** Asks for a letter's status link to be emailed to its writer, at most once an hour per letter. Rejects if Redis does. */
export async function requestStatusLinkEmail(queue: Queue<SupporterMailJob>, data: StatusLinkJob, now: number): Promise<void> {
  const hour = Math.floor(now / 3_600_000);
  await queue.add('status-link', data, {
    attempts: 5,
    backoff: { type: 'exponential', delay: 30_000 },
    jobId: `status-link.${data.letterId}.${hour}`,
    removeOnComplete: { age: 3600 },
    removeOnFail: { age: 86_400 },
  });
}

/** Asks the writer of a new letter to confirm it, and schedules its deletion if they do not within `expireDays`. */
export async function requestConfirmation(queue: Queue<SupporterMailJob>, data: LetterRefJob, expireDays: number): Promise<void> {
  await queue.addBulk([
    {
      name: 'confirm-letter',
      data,
      opts: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 30_000 },
        jobId: `confirm.${data.letterId}`,
        removeOnComplete: true,
        removeOnFail: { age: 86_400 },
      },
    },
    {
      name: 'expire-unconfirmed',
      data,
      opts: { delay: expireDays * 86_400_000, attempts: 3, jobId: `expire.${data.letterId}`, removeOnComplete: true, removeOnFail: { age: 86_400 } },
    },
  ]);
}
