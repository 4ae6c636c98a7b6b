import type { Queue } from 'bullmq';
import type { DeliveryLog } from '../domain/delivery-log.js';
import { withdrawnCopy } from '../domain/delivery-states.js';
import type { LetterStore } from '../domain/letter-store.js';
import { deliveryJobIds, type QueueJobData } from './delivery-queue.js';

// Removing a supporter's letter: when they ask (from their status link), letters not yet sent are
// cancelled and their jobs removed, then everything personal is deleted; the counts stay, and keep
// following the copies that had already left (or were leaving) through the provider's later reports.

export interface LetterRemovalDeps {
  letters: LetterStore;
  log: DeliveryLog;
  queue: Queue<QueueJobData>;
}

/** What a withdrawal did. `alreadySent` copies reached the provider (delayed ones too); `inFlight` ones were being sent at that moment and may still arrive. */
export interface Withdrawal {
  cancelled: number;
  alreadySent: number;
  inFlight: number;
}

/**
 * Cancels what is not yet sent and deletes the letter's personal data; copies the provider has or is being
 * given keep their delivery records, so its later reports still move the counters. Undefined when there is
 * no such letter. Fails only when Redis does.
 */
export async function withdrawLetter(deps: LetterRemovalDeps, letterId: string): Promise<Withdrawal | undefined> {
  const letter = await deps.letters.get(letterId);
  if (!letter) return undefined;
  const result: Withdrawal = { cancelled: 0, alreadySent: 0, inFlight: 0 };
  for (const { targetId } of letter.deliveries) {
    const cancel = await deps.log.apply(letter.campaign, letterId, targetId, 'writer-cancelled', { note: 'Withdrawn by the writer.' });
    if (cancel.applied) {
      result.cancelled += 1;
      for (const id of deliveryJobIds(letterId, letter.recipients, targetId)) {
        const job = await deps.queue.getJob(id);
        if (job && !(await job.isActive())) await job.remove().catch(() => undefined);
      }
      continue;
    }
    // Refused: the copy was not in a state it could be cancelled from when the cancel ran (a send may have
    // started since the letter was read), and the refusal says which state that was.
    if (cancel.reason === 'missing') continue;
    const copy = withdrawnCopy(cancel.from);
    if (copy === 'cancelled') result.cancelled += 1;
    else if (copy === 'sent') result.alreadySent += 1;
    else if (copy === 'in-flight') result.inFlight += 1;
  }
  // The provider may still report on sent copies (delivered, bounced...) and a copy being sent is still to be
  // recorded: their records stay (without anything personal) so those changes are counted; else all goes at once.
  await deps.letters.purge(letterId, { keepDeliveryRecords: result.inFlight + result.alreadySent > 0 });
  return result;
}
