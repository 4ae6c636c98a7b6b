import type { Campaign } from './campaign.js';
import type { LetterDraft } from './letter-form.js';
import type { CreatedLetter, LetterStore } from './letter-store.js';

// Accepting a letter: store it, then hand one delivery per recipient to the queue.

/** Puts deliveries on the queue (implemented by jobs/delivery-queue.ts). */
export interface DeliveryScheduler {
  /** Adds one job per recipient; rejects when the queue cannot take them (Redis down). */
  schedule(campaign: string, letterId: string, targetIds: readonly string[]): Promise<void>;
}

/** The letter could not be accepted right now (Redis or the queue is unavailable); nothing was kept. */
export class SubmissionUnavailableError extends Error {
  constructor(cause: unknown) {
    super('The letter could not be accepted right now', { cause });
    this.name = 'SubmissionUnavailableError';
  }
}

/**
 * Stores the letter and schedules its deliveries. If scheduling fails the stored letter is removed
 * again, so a letter is either stored and queued or not kept at all; throws SubmissionUnavailableError.
 */
export async function submitLetter(
  deps: { letters: LetterStore; scheduler: DeliveryScheduler },
  campaign: Campaign,
  draft: LetterDraft,
): Promise<CreatedLetter> {
  let created: CreatedLetter;
  try {
    created = await deps.letters.create(campaign, draft);
  } catch (err) {
    throw new SubmissionUnavailableError(err);
  }
  try {
    await deps.scheduler.schedule(campaign.slug, created.letterId, draft.recipients);
  } catch (err) {
    await deps.letters.discard(campaign.slug, created.letterId, created.token).catch(() => undefined);
    throw new SubmissionUnavailableError(err);
  }
  return created;
}
