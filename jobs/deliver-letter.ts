import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import type { LetterEmailInput, OutgoingEmail } from '../domain/letter-email.js';
import type { LetterStore } from '../domain/letter-store.js';
import { deliveryJobSchema, type DeliveryJob } from './delivery-queue.js';
import { SendError, type MailTransport } from './transports/mail-transport.js';

// The processor of one delivery job: load the letter, render the email, send it, record the outcome.

export interface DeliverLetterDeps {
  campaigns: CampaignRegistry;
  letters: LetterStore;
  log: DeliveryLog;
  transport: MailTransport;
  render: (input: LetterEmailInput) => OutgoingEmail;
  logger: Logger;
}

/** What a finished job returns (kept by BullMQ only as long as the job is). */
export type DeliverOutcome = { sent: string } | { skipped: string };

/**
 * Builds the processor. A permanent failure (bad payload, letter deleted, 400/403/413, attempts used
 * up) marks the delivery failed and throws UnrecoverableError; a transient one marks it retrying and
 * throws so BullMQ retries with backoff. A delivery already sent is never sent again.
 */
export function createDeliverLetterProcessor(deps: DeliverLetterDeps): (job: Job<DeliveryJob>) => Promise<DeliverOutcome> {
  return async (job) => {
    const parsed = deliveryJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Invalid delivery job payload: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const { campaign: slug, letterId, targetId } = parsed.data;
    const ids = { campaign: slug, letter: letterId, target: targetId, job: job.id };

    const campaign = deps.campaigns.get(slug);
    if (!campaign) throw new UnrecoverableError(`Campaign "${slug}" is not loaded on this worker.`);
    const letter = await deps.letters.get(letterId);
    if (!letter) throw new UnrecoverableError('The letter no longer exists (it was deleted).');
    const delivery = letter.deliveries.find((d) => d.targetId === targetId);
    if (!delivery) throw new UnrecoverableError(`The letter has no delivery to "${targetId}".`);
    const state = delivery.record.state;
    if (state === 'sent') return { skipped: `already sent as ${delivery.record.messageId ?? 'unknown id'}` };
    if (state === 'failed') return { skipped: 'already failed' };

    const target = campaign.targetById.get(targetId);
    if (!target) {
      await deps.log.apply(slug, letterId, targetId, 'permanent-error', { error: 'This recipient is no longer part of the campaign.' });
      throw new UnrecoverableError(`Recipient "${targetId}" is not in campaign "${slug}".`);
    }

    const attempt = job.attemptsMade + 1;
    const started = await deps.log.apply(slug, letterId, targetId, state === 'sending' ? 'send-restarted' : 'send-started', { attempt });
    if (!started.applied) return { skipped: `delivery was ${started.reason === 'missing' ? 'missing' : started.from}` };

    const email = deps.render({ campaign, target, letterId, letter });
    let messageId: string;
    try {
      ({ messageId } = await deps.transport.send(email));
    } catch (err) {
      const failure = err instanceof SendError ? err : new SendError('transient', `Sending failed unexpectedly (${(err as Error).message}).`);
      const maxAttempts = job.opts.attempts ?? 1;
      if (failure.kind === 'permanent') {
        await deps.log.apply(slug, letterId, targetId, 'permanent-error', { error: failure.reason });
        deps.logger.warn({ ...ids, status: failure.status }, 'delivery failed permanently');
        throw new UnrecoverableError(failure.reason);
      }
      if (attempt >= maxAttempts) {
        const reason = `Gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}. Last error: ${failure.reason}`;
        await deps.log.apply(slug, letterId, targetId, 'attempts-exhausted', { error: reason });
        deps.logger.warn({ ...ids, status: failure.status }, 'delivery failed after its last attempt');
        throw new UnrecoverableError(reason);
      }
      await deps.log.apply(slug, letterId, targetId, 'transient-error', { error: failure.reason });
      deps.logger.info({ ...ids, status: failure.status, attempt }, 'delivery attempt failed; will retry');
      throw failure;
    }
    await deps.log.apply(slug, letterId, targetId, 'provider-accepted', { messageId, error: '' });
    deps.logger.info({ ...ids, messageId, attempt }, 'letter sent');
    return { sent: messageId };
  };
}
