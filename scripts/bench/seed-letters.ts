import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Campaign } from '../../domain/campaign.js';
import { systemClock } from '../../domain/clock.js';
import { DeliveryPlanner } from '../../domain/delivery-planner.js';
import { LetterStore } from '../../domain/letter-store.js';
import { submitLetter } from '../../domain/letter-submission.js';
import { PaceBook } from '../../domain/pace-book.js';
import { redisKeys } from '../../domain/redis-keys.js';
import { SubmissionGuard } from '../../domain/submission-guard.js';
import { createQueueScheduler, DELIVERY_QUEUE, type QueueJobData } from '../../jobs/delivery-queue.js';
import { letterText } from './letter-forms.js';

// Queued letters made through the product's own submission path (submitLetter: one-time id,
// one letter per supporter per recipient, letter record, one job per recipient), without HTTP, with
// pacing off: the fast way to put a drain's worth of deliveries on the queue.

/** Submits `count` letters to `recipients` (`parallel` at a time); returns the deliveries queued. Throws if one is refused. */
export async function seedLetters(p: {
  redisUrl: string;
  prefix: string;
  campaign: Campaign;
  count: number;
  recipients: string[];
  bodyBytes: number;
  parallel?: number;
}): Promise<number> {
  const redis = new Redis(p.redisUrl, { maxRetriesPerRequest: 1 });
  const keys = redisKeys(p.prefix);
  const queue = new Queue<QueueJobData>(DELIVERY_QUEUE, { connection: redis, prefix: keys.bullPrefix });
  const deps = {
    letters: new LetterStore(redis, keys, systemClock, 1_000_000),
    planner: new DeliveryPlanner(new PaceBook(redis, keys, systemClock), systemClock, false),
    scheduler: createQueueScheduler(queue, { attempts: 8, backoffMs: 30_000 }, systemClock),
    guard: new SubmissionGuard(redis, keys),
    requestConfirmation: () => Promise.reject(new Error('the benchmark campaign has no double opt-in')),
  };
  const run = randomBytes(3).toString('hex');
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: p.parallel ?? 64 }, async () => {
        while (next < p.count) {
          const i = next++;
          const draft = {
            firstName: 'Ana',
            lastName: `Lima ${i}`,
            email: `seed-${run}-${i}@example.net`,
            country: 'FR',
            recipients: p.recipients,
            subject: p.campaign.letter.subject,
            body: letterText(p.campaign, p.bodyBytes, i),
          };
          const r = await submitLetter(deps, p.campaign, draft, randomBytes(18).toString('base64url'));
          if (r.kind !== 'accepted') throw new Error(`a seeded letter was not accepted: ${r.kind}`);
        }
      }),
    );
  } finally {
    await queue.close();
    await redis.quit();
  }
  return p.count * p.recipients.length;
}

/** Pauses (true) or resumes (false) the delivery queue for all workers (BullMQ's global pause). */
export async function setQueuePaused(redisUrl: string, prefix: string, paused: boolean): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(DELIVERY_QUEUE, { connection: redis, prefix: redisKeys(prefix).bullPrefix });
  if (paused) await queue.pause();
  else await queue.resume();
  await queue.close();
  await redis.quit();
}
