import { DelayedError, RateLimitError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import { DELIVER_JOB_STATES } from '../domain/delivery-states.js';
import type { LetterEmailInput, OutgoingEmail } from '../domain/letter-email.js';
import type { LetterStore } from '../domain/letter-store.js';
import { intervalMs, isOpen, localDay, nextDayOpening, openAt } from '../domain/pacing.js';
import { secureRandomBytes } from '../domain/random-bytes.js';
import { isLimited, type SendGuard } from '../domain/send-guard.js';
import type { SendingControl } from '../domain/sending-control.js';
import { paceRuleFor } from '../domain/target-rules.js';
import { deliveryJobSchema, retryDelayMs, type DeliveryJob, type RetryPolicy } from './delivery-queue.js';
import type { Parking } from './parking.js';
import { SendError, type MailTransport } from './transports/mail-transport.js';
import type { WorkerMetrics } from './worker-metrics.js';

// The processor of one "deliver" job: load the letter, check the switches and the recipient's pace,
// render the email, send it, record the outcome.

export interface DeliverLetterDeps {
  campaigns: CampaignRegistry;
  letters: LetterStore;
  log: DeliveryLog;
  control: SendingControl;
  parking: Parking;
  sendGuard: SendGuard;
  transport: MailTransport;
  render: (input: LetterEmailInput) => OutgoingEmail;
  /** Pauses the whole queue for `ms` (queue.rateLimit), when the provider answers 429. */
  rateLimitQueue: (ms: number) => Promise<void>;
  clock: Clock;
  logger: Logger;
  /** False when pacing is switched off (PACING=off). */
  pacing?: boolean;
  /** Attempts in all and the first backoff, for failures that may pass. */
  retry: RetryPolicy;
  random?: () => number;
  /** Observes each send's duration and the provider's errors (Prometheus); nothing is observed without it. */
  metrics?: WorkerMetrics;
  /**
   * How long a delivery must have been "sending" before a job may take the send over as interrupted:
   * the worker's job lock (JOB_LOCK_MS), after which the attempt that started it cannot still be running.
   */
  takeOverAfterMs: number;
}

/** What a finished job returns (kept by BullMQ only as long as the job is). */
export type DeliverOutcome = { sent: string } | { skipped: string } | { parked: string };

/** Used when a 429 carries no reset time. */
const DEFAULT_RATE_LIMIT_MS = 60_000;

/**
 * Builds the processor. A permanent failure (bad payload, letter deleted, 400/403/413, attempts used
 * up) marks the delivery failed and throws UnrecoverableError; a transient one marks it retrying and
 * delays the job by the retry policy's backoff (attempts are counted in the delivery record, not by
 * BullMQ, so the job's options stay short); a 429 pauses the whole queue without counting an
 * attempt; a 401 pauses all sending. A delivery already sent is never sent again; one left "sending"
 * is sent again (flagged as possibly arriving twice) only once `takeOverAfterMs` has passed since the
 * send started, so a second job for it never overlaps the first's attempt.
 */
export function createDeliverLetterProcessor(deps: DeliverLetterDeps): (job: Job<DeliveryJob>, token?: string) => Promise<DeliverOutcome> {
  const random = deps.random ?? Math.random;
  return async (job, token) => {
    /** Puts the job back until `at` (ms); the job ends here for now (DelayedError tells BullMQ it was moved). */
    const waitUntil = async (at: number): Promise<never> => {
      await job.moveToDelayed(at, token);
      throw new DelayedError();
    };
    const parsed = deliveryJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Invalid delivery job payload: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const { letterId, targetId } = parsed.data;
    const letter = await deps.letters.get(letterId);
    if (!letter) throw new UnrecoverableError('The letter no longer exists (it was deleted).');
    const slug = letter.campaign;
    const ids = { campaign: slug, letter: letterId, target: targetId, job: job.id };

    const campaign = deps.campaigns.get(slug);
    if (!campaign) throw new UnrecoverableError(`Campaign "${slug}" is not loaded on this worker.`);
    const delivery = letter.deliveries.find((d) => d.targetId === targetId);
    if (!delivery) throw new UnrecoverableError(`The letter has no delivery to "${targetId}".`);
    const state = delivery.record.state;
    if (state === 'unconfirmed') {
      // Queued a moment before its writer's confirmation was recorded (letter-confirmation.ts): look again shortly.
      return waitUntil(deps.clock.now() + 5000);
    }
    if (!DELIVER_JOB_STATES.has(state)) {
      return { skipped: `delivery is ${state}${delivery.record.messageId ? ` (${delivery.record.messageId})` : ''}` };
    }
    if (state === 'sending' && deps.clock.now() - delivery.record.changedAt < deps.takeOverAfterMs) {
      // Another attempt started this send and may still be running (a second job for the delivery): look
      // again once it cannot be; by then it is recorded sent, or failed, or it was interrupted.
      return waitUntil(delivery.record.changedAt + deps.takeOverAfterMs);
    }
    if (state === 'retrying' && delivery.record.due !== undefined && delivery.record.due > deps.clock.now()) {
      // A retry waits for its backoff, whichever job finds it (its own is delayed until then; a second one, e.g. the sweep's, waits too).
      return waitUntil(delivery.record.due);
    }

    const target = campaign.targetById.get(targetId);
    if (!target) {
      await deps.log.apply(slug, letterId, targetId, 'permanent-error', { error: 'This recipient is no longer part of the campaign.' });
      throw new UnrecoverableError(`Recipient "${targetId}" is not in campaign "${slug}".`);
    }
    if (letter.textDeleted) {
      // Every copy had been delivered, so the text was deleted; a copy reported bounced afterwards cannot go again.
      const reason = "The letter's text was deleted after every copy was delivered; it cannot be sent again.";
      await deps.log.apply(slug, letterId, targetId, 'permanent-error', { error: reason });
      throw new UnrecoverableError(reason);
    }

    // The switches: a paused campaign or a held recipient parks the letter, in order. (The campaign comes
    // from the letter, so they are read after it; the store's connection pipelines both across jobs.)
    const block = await deps.control.check(slug, targetId);
    if (block.blocked) {
      // A send found "sending" (interrupted) is parked only if no other job has taken it over since it was read.
      const parked = await deps.parking.park(slug, letterId, targetId, block.reason, state === 'sending' ? { minAgeMs: deps.takeOverAfterMs } : {});
      if (!parked && state === 'sending') {
        return waitUntil(deps.clock.now() + deps.takeOverAfterMs);
      }
      return { parked: block.reason };
    }

    // The recipient's office hours and pace, counted on actual sends across all workers.
    if (state !== 'sending') {
      const rule = paceRuleFor(campaign, target, deps.pacing ?? true);
      const now = deps.clock.now();
      const interval = intervalMs(rule);
      let retryAt: number | undefined;
      if (!isOpen(rule, now)) {
        retryAt = openAt(rule, now);
      } else if (isLimited(rule)) {
        const verdict = await deps.sendGuard.admit(slug, targetId, {
          now,
          perHour: rule.perHour,
          perDay: rule.perDay,
          localDay: localDay(rule.timezone, now),
          minGapMs: interval / 2,
          sendId: `${letterId}:${job.id}:${job.attemptsStarted}:${now}`,
        });
        if (!verdict.ok) retryAt = verdict.limit === 'day' ? nextDayOpening(rule, now) : verdict.retryAt;
      }
      if (retryAt !== undefined) {
        // Spread letters that meet the limit together over the next interval, so they do not meet again.
        const at = Math.max(retryAt, now) + Math.floor(random() * Math.max(interval, 1000));
        await deps.log.apply(slug, letterId, targetId, 'rescheduled', { due: at });
        return waitUntil(at);
      }
    }

    const restarted = state === 'sending';
    // A send that starts again after an interruption is the same attempt; otherwise this is the next one.
    const attempt = restarted ? Math.max(delivery.record.attempts, 1) : delivery.record.attempts + 1;
    // This run's own id: if Redis restarts and the transition is re-sent, it is not mistaken for another worker's.
    const op = secureRandomBytes(9).toString('base64url');
    const started = await deps.log.apply(
      slug,
      letterId,
      targetId,
      restarted ? 'send-restarted' : 'send-started',
      restarted
        ? {
            attempt,
            possibleDuplicate: true,
            note: 'An earlier attempt was interrupted after it may have reached the mail provider; this letter may arrive twice.',
            op,
            minAgeMs: deps.takeOverAfterMs,
          }
        : { attempt, due: 0, op },
    );
    if (!started.applied && started.reason === 'too-soon') {
      // Another job took the send over since the letter was read: look again when that one cannot still be running.
      return waitUntil(started.since + deps.takeOverAfterMs);
    }
    if (!started.applied) return { skipped: `delivery was ${started.reason === 'missing' ? 'missing' : started.from}` };
    if (restarted) deps.logger.warn({ ...ids, attempt, possibleDuplicate: true }, 'sending again after an interrupted attempt: the letter may arrive twice');

    const email = deps.render({ campaign, target, letterId, letter });
    let messageId: string;
    try {
      const send = () => deps.transport.send(email);
      ({ messageId } = await (deps.metrics ? deps.metrics.timeSend(deps.transport.name, send) : send()));
    } catch (err) {
      const failure = err instanceof SendError ? err : new SendError('transient', `Sending failed unexpectedly (${(err as Error).message}).`);
      const maxAttempts = deps.retry.attempts;
      if (failure.kind === 'rate-limited') {
        const ms = failure.retryAfterMs ?? DEFAULT_RATE_LIMIT_MS;
        // The attempt does not count: the record goes back to the attempts before it.
        await deps.log.apply(slug, letterId, targetId, 'rate-limited', { error: failure.reason, attempt: attempt - 1 });
        deps.logger.warn({ ...ids, status: failure.status, waitMs: ms, reason: failure.reason }, 'mail provider rate limit: pausing the queue');
        await deps.rateLimitQueue(ms);
        throw new RateLimitError();
      }
      if (failure.kind === 'account') {
        await deps.control.pauseAll(failure.reason);
        await deps.parking.park(slug, letterId, targetId, failure.reason);
        deps.logger.error({ ...ids, status: failure.status }, `all sending paused: ${failure.reason}`);
        return { parked: failure.reason };
      }
      if (failure.kind === 'permanent') {
        await deps.log.apply(slug, letterId, targetId, 'permanent-error', { error: failure.reason });
        deps.logger.warn({ ...ids, status: failure.status, reason: failure.reason }, 'delivery failed permanently');
        throw new UnrecoverableError(failure.reason);
      }
      if (attempt >= maxAttempts) {
        const reason = `Gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}. Last error: ${failure.reason}`;
        await deps.log.apply(slug, letterId, targetId, 'attempts-exhausted', { error: reason });
        deps.logger.warn({ ...ids, status: failure.status, attempt, reason: failure.reason }, 'delivery failed after its last attempt');
        throw new UnrecoverableError(reason);
      }
      // After an answer that leaves open whether the provider took the letter, the retry may duplicate it: say so.
      const retryAt = deps.clock.now() + retryDelayMs(deps.retry, attempt, random);
      await deps.log.apply(slug, letterId, targetId, 'transient-error', {
        error: failure.reason,
        due: retryAt,
        ...(failure.ambiguous
          ? { possibleDuplicate: true, note: 'An attempt ended without a clear answer from the mail provider; this letter may arrive twice.' }
          : {}),
      });
      deps.logger.info(
        { ...ids, status: failure.status, attempt, reason: failure.reason, possibleDuplicate: failure.ambiguous || undefined, retryAt },
        'delivery attempt failed; will retry',
      );
      return waitUntil(retryAt);
    }
    await deps.log.apply(slug, letterId, targetId, 'provider-accepted', { messageId, error: '' });
    deps.logger.info({ ...ids, messageId, attempt }, 'letter sent');
    return { sent: messageId };
  };
}
