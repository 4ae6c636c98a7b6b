import type { Campaign } from './campaign.js';
import type { DeliveryPlanner, PlannedDelivery } from './delivery-planner.js';
import { newLetterId } from './ids.js';
import type { LetterDraft } from './letter-form.js';
import type { CreatedLetter, LetterMeta, LetterStore } from './letter-store.js';
import { letterDigest, type Admission, type SubmissionGuard, type SubmissionLimit, type SubmissionState } from './submission-guard.js';

// Accepting a letter: make sure it is not a repeat and within the limits, claim one letter per supporter
// per recipient (one step: submission-guard.ts), plan each delivery (its paced slot or its digest), store
// the letter, then queue the deliveries.

/** Puts planned deliveries on the queue (implemented by jobs/delivery-queue.ts). */
export interface DeliveryScheduler {
  /**
   * Adds one job per individual delivery, delayed to its slot, and makes sure each digest has its job;
   * rejects when the queue cannot take them. `releasedAt` (the time the delivery log recorded a letter's
   * release from a hold) gives the jobs ids of their own, as the old job may still be finishing.
   */
  schedule(campaign: string, letterId: string, deliveries: readonly PlannedDelivery[], options?: { releasedAt?: number }): Promise<void>;
}

/** The letter could not be accepted right now (Redis or the queue is unavailable); nothing was kept. */
export class SubmissionUnavailableError extends Error {
  constructor(cause: unknown) {
    super('The letter could not be accepted right now', { cause });
    this.name = 'SubmissionUnavailableError';
  }
}

/** A letter accepted, or what the guards said instead (a repeat, in progress, over a limit, already written). */
export type SubmissionResult = ({ kind: 'accepted' } & CreatedLetter) | Exclude<Admission, { kind: 'new' }>;

export interface SubmissionDeps {
  letters: LetterStore;
  scheduler: DeliveryScheduler;
  planner: DeliveryPlanner;
  guard: SubmissionGuard;
  /** Double opt-in: emails the writer a confirmation link and schedules the letter's deletion if unconfirmed. */
  requestConfirmation: (campaign: string, letterId: string, expireDays: number) => Promise<void>;
}

/**
 * Accepts a letter. A repeat of the same form with the same letter returns the first letter's token (a
 * changed letter from the same form is a new one); a letter over one of `limits` or from a supporter
 * who already wrote to one of the recipients is refused. If anything fails
 * after the claims, they are given back and the stored letter removed, so a letter is either stored and
 * queued or not kept at all (throws SubmissionUnavailableError).
 */
export async function submitLetter(
  deps: SubmissionDeps,
  campaign: Campaign,
  draft: LetterDraft,
  submissionId?: string,
  meta: LetterMeta = {},
  limits: readonly SubmissionLimit[] = [],
): Promise<SubmissionResult> {
  const letterId = newLetterId();
  const submission = submissionId ? { id: submissionId, letterDigest: letterDigest(draft) } : undefined;
  let admission;
  const admitted = { campaign: campaign.slug, email: draft.email, targetIds: draft.recipients, letterId, submission };
  try {
    admission = await deps.guard.admit({ ...admitted, limits });
  } catch (err) {
    throw new SubmissionUnavailableError(err);
  }
  if (admission.kind !== 'new') return admission;

  let created: CreatedLetter | undefined;
  try {
    if (campaign.confirmWriters?.enabled) {
      // Double opt-in: nothing is planned or queued until the writer confirms their address.
      const plans = Object.fromEntries(draft.recipients.map((t) => [t, { state: 'unconfirmed' as const }]));
      created = await deps.letters.create(campaign, draft, plans, letterId, meta);
      await deps.guard.completeAdmission(admitted, created.token);
      await deps.requestConfirmation(campaign.slug, letterId, campaign.confirmWriters.expireDays);
    } else {
      const plans = await deps.planner.plan(campaign, draft.recipients);
      created = await deps.letters.create(campaign, draft, Object.fromEntries(plans.map((p) => [p.targetId, p])), letterId, meta);
      // Its claims checked before any job is queued: a letter overtaken while stored is discarded unsent.
      await deps.guard.completeAdmission(admitted, created.token);
      await deps.scheduler.schedule(campaign.slug, letterId, plans);
    }
    return { kind: 'accepted', ...created };
  } catch (err) {
    // Give everything back; a slot reserved for this letter simply stays unused.
    if (created) await deps.letters.discard(campaign.slug, created.letterId, created.token).catch(() => undefined);
    await deps.guard.releaseRecipients(campaign.slug, draft.email, draft.recipients, letterId).catch(() => undefined);
    if (submission) await deps.guard.abandonSubmission(submission).catch(() => undefined);
    throw new SubmissionUnavailableError(err);
  }
}

/**
 * What an earlier request with the same form and the same letter came to, claiming nothing (a check
 * that works only once, such as a captcha answer, must not refuse a repeat): 'none' without a form id.
 * Throws SubmissionUnavailableError when Redis fails.
 */
export async function earlierSubmission(deps: Pick<SubmissionDeps, 'guard'>, draft: LetterDraft, submissionId?: string): Promise<SubmissionState> {
  if (!submissionId) return { kind: 'none' };
  try {
    return await deps.guard.peek({ id: submissionId, letterDigest: letterDigest(draft) });
  } catch (err) {
    throw new SubmissionUnavailableError(err);
  }
}
