// The life of one letter to one recipient (a "delivery"), as one table of allowed transitions.
// Every state change in the system goes through this table (see delivery-log.ts); nothing else
// writes a state.

/** Every state a delivery can be in. */
export const DELIVERY_STATES = ['queued', 'sending', 'retrying', 'sent', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** What each state means, in words a supporter or campaigner reads on the status pages. */
export const GLOSSARY: Record<DeliveryState, { label: string; meaning: string }> = {
  queued: { label: 'Queued', meaning: 'Accepted and waiting its turn to be sent.' },
  sending: { label: 'Sending', meaning: 'Being handed to the mail provider now.' },
  retrying: { label: 'Retrying', meaning: 'The last attempt failed for a reason that may pass; it will be tried again.' },
  sent: { label: 'Sent', meaning: 'The mail provider accepted the letter for delivery to the recipient.' },
  failed: { label: 'Failed', meaning: 'The letter could not be sent; the reason is shown.' },
};

/** The events that move a delivery, with the states they start from and the state they lead to. */
export const TRANSITIONS = [
  { event: 'send-started', from: ['queued', 'retrying'], to: 'sending' },
  // A worker that died mid-send leaves the delivery in "sending"; the job comes back and starts again.
  { event: 'send-restarted', from: ['sending'], to: 'sending' },
  { event: 'provider-accepted', from: ['sending'], to: 'sent' },
  { event: 'transient-error', from: ['sending'], to: 'retrying' },
  { event: 'permanent-error', from: ['sending', 'queued', 'retrying'], to: 'failed' },
  { event: 'attempts-exhausted', from: ['sending'], to: 'failed' },
  { event: 'campaigner-retry', from: ['failed'], to: 'queued' },
] as const satisfies readonly { event: string; from: readonly DeliveryState[]; to: DeliveryState }[];

export type DeliveryEvent = (typeof TRANSITIONS)[number]['event'];

/** States in which nothing more will happen without a person acting. */
export const FINAL_STATES: ReadonlySet<DeliveryState> = new Set(['sent', 'failed']);

/** The state every delivery starts in when a letter is accepted. */
export const INITIAL_STATE: DeliveryState = 'queued';

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
