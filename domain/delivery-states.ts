// The life of one letter to one recipient (a "delivery"), as one table of allowed transitions.
// Every state change in the system goes through this table (see delivery-log.ts); nothing else
// writes a state.

/** Every state a delivery can be in. */
export const DELIVERY_STATES = [
  'unconfirmed',
  'queued',
  'waiting',
  'in-digest',
  'held',
  'sending',
  'retrying',
  'sent',
  'delivered',
  'deferred',
  'bounced',
  'dropped',
  'failed',
  'cancelled',
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** What each state means, in words a supporter or campaigner reads on the status pages. */
export const GLOSSARY: Record<DeliveryState, { label: string; meaning: string }> = {
  unconfirmed: {
    label: 'Waiting for your confirmation',
    meaning:
      'This campaign asks writers to confirm their email address first: open the link in the email we sent you. Unconfirmed letters are deleted after a few days.',
  },
  queued: { label: 'Queued', meaning: 'Accepted and about to be sent.' },
  waiting: {
    label: 'Waiting its turn',
    meaning:
      'Letters to this recipient are paced and sent only in their office hours, so that their inbox is never flooded; this one has its place in the line.',
  },
  'in-digest': { label: 'In a digest', meaning: 'This recipient receives letters collected into one email per period; this letter is in the next one.' },
  held: { label: 'Held', meaning: 'Sending to this recipient is on hold for now; the letter keeps its place and is sent when sending resumes.' },
  sending: { label: 'Sending', meaning: 'Being handed to the mail provider now.' },
  retrying: { label: 'Retrying', meaning: 'The last attempt failed for a reason that may pass; it will be tried again.' },
  sent: { label: 'Sent', meaning: 'The mail provider accepted the letter for delivery to the recipient.' },
  delivered: { label: 'Delivered', meaning: "The recipient's mail server accepted the letter." },
  deferred: { label: 'Delayed', meaning: "The recipient's mail server asked to try again later; the mail provider keeps trying." },
  bounced: { label: 'Bounced', meaning: "The recipient's mail server refused the letter; the reason is shown." },
  dropped: { label: 'Not delivered', meaning: 'The mail provider did not deliver the letter; the reason is shown.' },
  failed: { label: 'Failed', meaning: 'The letter could not be sent; the reason is shown.' },
  cancelled: { label: 'Cancelled', meaning: 'The writer withdrew the letter before it was sent.' },
};

/** States a delivery can start in when its letter is accepted (which one depends on the recipient's pacing and mode). */
export const INITIAL_STATES = ['unconfirmed', 'queued', 'waiting', 'in-digest'] as const satisfies readonly DeliveryState[];
export type InitialState = (typeof INITIAL_STATES)[number];

/** The events that move a delivery, with the states they start from and the state they lead to. */
export const TRANSITIONS = [
  // Double opt-in: the writer confirmed their address; the letter takes its place in the line.
  { event: 'writer-confirmed', from: ['unconfirmed'], to: 'queued' },
  { event: 'writer-confirmed-to-digest', from: ['unconfirmed'], to: 'in-digest' },
  { event: 'send-started', from: ['queued', 'waiting', 'retrying'], to: 'sending' },
  // A worker that died mid-send leaves the delivery in "sending"; the job comes back and starts again.
  { event: 'send-restarted', from: ['sending'], to: 'sending' },
  { event: 'provider-accepted', from: ['sending'], to: 'sent' },
  { event: 'transient-error', from: ['sending'], to: 'retrying' },
  // The last check before sending found the recipient's pace or office hours exceeded: wait again.
  { event: 'rescheduled', from: ['queued', 'waiting', 'retrying'], to: 'waiting' },
  // 429: the whole queue waits for the provider; the attempt does not count.
  { event: 'rate-limited', from: ['sending'], to: 'queued' },
  // Retrying cannot help (400/403/413, the recipient gone); a digest's letters fail with the part that carried them.
  { event: 'permanent-error', from: ['sending', 'queued', 'waiting', 'retrying', 'held', 'in-digest'], to: 'failed' },
  { event: 'attempts-exhausted', from: ['sending'], to: 'failed' },
  // Sending paused, or the recipient held (by a campaigner, or because its address bounces).
  { event: 'parked', from: ['queued', 'waiting', 'retrying', 'sending'], to: 'held' },
  { event: 'released', from: ['held'], to: 'waiting' },
  { event: 'released-to-digest', from: ['held'], to: 'in-digest' },
  { event: 'digest-sent', from: ['in-digest'], to: 'sent' },
  { event: 'campaigner-retry', from: ['failed', 'bounced', 'dropped'], to: 'queued' },
  // The writer deleted their letter: what was not yet sent is not sent.
  { event: 'writer-cancelled', from: ['unconfirmed', 'queued', 'waiting', 'in-digest', 'held', 'retrying'], to: 'cancelled' },
  // Events reported by the provider's webhook; they may arrive out of order or before "sent" is recorded
  // (for a digest, while its letters are still "in-digest": events name only letters of a part recorded as sent).
  { event: 'provider-delivered', from: ['sending', 'sent', 'deferred', 'in-digest'], to: 'delivered' },
  { event: 'provider-deferred', from: ['sending', 'sent', 'in-digest'], to: 'deferred' },
  { event: 'provider-bounced', from: ['sending', 'sent', 'deferred', 'delivered', 'in-digest'], to: 'bounced' },
  { event: 'provider-dropped', from: ['sending', 'sent', 'deferred', 'in-digest'], to: 'dropped' },
] as const satisfies readonly { event: string; from: readonly DeliveryState[]; to: DeliveryState }[];

export type DeliveryEvent = (typeof TRANSITIONS)[number]['event'];

/** States in which nothing more will happen unless the provider reports on it or a person acts. */
export const FINAL_STATES: ReadonlySet<DeliveryState> = new Set(['sent', 'delivered', 'bounced', 'dropped', 'failed', 'cancelled']);

/** States that count as "reached the provider" for campaign totals. */
export const SENT_STATES: ReadonlySet<DeliveryState> = new Set(['sent', 'delivered', 'deferred', 'bounced', 'dropped']);

/** States of letters still to be sent (for the forecast and the queue view). */
export const PENDING_STATES: ReadonlySet<DeliveryState> = new Set(['unconfirmed', 'queued', 'waiting', 'in-digest', 'held', 'sending', 'retrying']);
/** Pending states a "deliver" job acts on (sends, or puts back until due); in any other a job for the delivery does nothing. */
export const DELIVER_JOB_STATES: ReadonlySet<DeliveryState> = new Set(['queued', 'waiting', 'retrying', 'sending']);

/** What withdrawing a letter makes of one copy: cancelled, already with the provider, being sent right now, or never sent (failed). */
export type WithdrawnCopy = 'cancelled' | 'sent' | 'in-flight' | 'not-sent';

/**
 * How a copy found in `state` is reported when its letter is withdrawn (for a state the writer's cancel is
 * refused in, that is the state the refusal returned). Every state gives an answer; never throws.
 */
export function withdrawnCopy(state: DeliveryState): WithdrawnCopy {
  if (state === 'cancelled' || canApply('writer-cancelled', state)) return 'cancelled';
  // "deferred" too: the provider accepted the letter and keeps trying to deliver it.
  if (SENT_STATES.has(state)) return 'sent';
  // Still to be sent but not cancellable: a worker is handing it to the provider now ("sending").
  if (PENDING_STATES.has(state)) return 'in-flight';
  return 'not-sent';
}

/** The transition an event causes; throws on an event name that is not in the table. */
export function transitionFor(event: DeliveryEvent): { from: readonly DeliveryState[]; to: DeliveryState } {
  const row = TRANSITIONS.find((t) => t.event === event);
  if (!row) throw new Error(`unknown delivery event: ${event}`);
  return row;
}

/** True when `event` may happen to a delivery in state `from`. */
export function canApply(event: DeliveryEvent, from: DeliveryState): boolean {
  return (transitionFor(event).from as readonly DeliveryState[]).includes(from);
}

/** True for a string that names a delivery state (for data read back from Redis). */
export function isDeliveryState(s: string): s is DeliveryState {
  return (DELIVERY_STATES as readonly string[]).includes(s);
}
