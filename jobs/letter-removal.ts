import type { Queue } from 'bullmq';
import type { DeliveryLog } from '../domain/delivery-log.js';
import { FINAL_STATES } from '../domain/delivery-states.js';
import type { LetterStore } from '../domain/letter-store.js';
import { deliveryJobIds, type QueueJobData } from './delivery-queue.js';

// Removing a supporter's letter: when they ask (from their status link), letters not yet sent are
// cancelled and their jobs removed, then everything personal is deleted; the counts stay.

export interface LetterRemovalDeps {
  letters: LetterStore;
  log: DeliveryLog;
  queue: Queue<QueueJobData>;
}

/** What a withdrawal did. `inFlight` letters were being sent at that moment and may still arrive. */
export interface Withdrawal {
  cancelled: number;
  alreadySent: number;
  inFlight: number;
}

/** Cancels what is not yet sent and deletes the letter's personal data. Undefined when there is no such letter. Fails only when Redis does. */
export async function withdrawLetter(deps: LetterRemovalDeps, letterId: string): Promise<Withdrawal | undefined> {
  const letter = await deps.letters.get(letterId);
  if (!letter) return undefined;
  const result: Withdrawal = { cancelled: 0, alreadySent: 0, inFlight: 0 };
  for (const { targetId, record } of letter.deliveries) {
    const cancelled = await deps.log.apply(letter.campaign, letterId, targetId, 'writer-cancelled', { note: 'Withdrawn by the writer.' });
    if (cancelled.applied) {
      result.cancelled += 1;
      for (const id of deliveryJobIds(letterId, letter.recipients, targetId)) {
        const job = await deps.queue.getJob(id);
        if (job && !(await job.isActive())) await job.remove().catch(() => undefined);
      }
    } else if (record.state === 'sending') result.inFlight += 1;
    else if (FINAL_STATES.has(record.state)) result.alreadySent += record.state === 'failed' ? 0 : 1;
  }
  // A delivery being sent right now still needs its record to be counted; the rest goes at once.
  await deps.letters.purge(letterId, { keepDeliveryRecords: result.inFlight > 0 });
  return result;
}
