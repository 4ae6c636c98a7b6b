import type { OutgoingEmail } from '../../domain/letter-email.js';

// The one small interface every way of sending mail implements (SendGrid, the local outbox, ...).

/** How a failed send should be treated. */
export type SendFailureKind =
  /** May pass: network error, timeout, 5xx. Retry with backoff. */
  | 'transient'
  /** The provider is limiting us (429): wait, then retry without counting an attempt. */
  | 'rate-limited'
  /** The account cannot send at all (401: bad key, no credit): a person must act. */
  | 'account'
  /** Retrying cannot help (400, 403, 413): fail the letter with the reason. */
  | 'permanent';

/** A send that failed, classified; `reason` is safe to show to supporters and campaigners. */
export class SendError extends Error {
  constructor(
    readonly kind: SendFailureKind,
    readonly reason: string,
    readonly status?: number,
    /** For rate-limited: how long the provider asks us to wait. */
    readonly retryAfterMs?: number,
    /** The provider may have accepted the message anyway (a timeout, a 502/504 from a gateway): a retry may duplicate it. */
    readonly ambiguous = false,
  ) {
    super(reason);
    this.name = 'SendError';
  }
}

/** Sends one email. Resolves with the provider's message id; rejects with a SendError. */
export interface MailTransport {
  readonly name: string;
  send(email: OutgoingEmail): Promise<{ messageId: string }>;
}
