import { randomUUID } from 'node:crypto';
import type { OutgoingEmail } from '../../domain/letter-email.js';
import { SendError, type MailTransport, type SendFailureKind } from '../../jobs/transports/mail-transport.js';

// An in-process transport that records what it was given and when, and can be told to fail.

export interface RecordedSend {
  at: number;
  email: OutgoingEmail;
  messageId: string;
}

export interface RecordingTransport extends MailTransport {
  sends: RecordedSend[];
  /** The next sends fail with these kinds, in order. */
  failNext(...kinds: SendFailureKind[]): void;
  /** Sends to this recipient email. */
  to(address: string): RecordedSend[];
}

export function recordingTransport(): RecordingTransport {
  const sends: RecordedSend[] = [];
  const failures: SendFailureKind[] = [];
  return {
    name: 'recording',
    sends,
    failNext: (...kinds) => {
      failures.push(...kinds);
    },
    to: (address) => sends.filter((s) => s.email.to.email === address),
    async send(email) {
      const kind = failures.shift();
      if (kind) throw new SendError(kind, `scripted ${kind} failure`, kind === 'account' ? 401 : kind === 'permanent' ? 400 : 503);
      const messageId = `rec-${randomUUID()}`;
      sends.push({ at: Date.now(), email, messageId });
      return { messageId };
    },
  };
}
