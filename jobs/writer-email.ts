import { UnrecoverableError } from 'bullmq';
import type { Campaign } from '../domain/campaign.js';
import { plainTextEmailHtml } from '../domain/html-escape.js';
import { safeDisplayName } from '../domain/letter-email.js';
import type { StoredLetter } from '../domain/letter-store.js';
import { SendError, type MailTransport } from './transports/mail-transport.js';

// An email to a letter's writer (a confirmation link, a status link): from the campaign's sender to
// the address on the letter, plain text with the same text as HTML, ids only in the tracking data.

/**
 * Sends it and returns the provider's message id. A permanent refusal becomes an UnrecoverableError
 * (the job fails at once); a transient one is thrown as it is, for the queue to retry.
 */
export async function sendToWriter(
  deps: { transport: MailTransport; mailFrom: string },
  campaign: Campaign,
  letter: Pick<StoredLetter, 'id' | 'email' | 'firstName' | 'lastName'>,
  email: { subject: string; text: string; lang: string; kind: string },
): Promise<string> {
  const sender = { email: deps.mailFrom, name: safeDisplayName(campaign.sender.name) };
  try {
    const { messageId } = await deps.transport.send({
      from: sender,
      replyTo: sender,
      to: { email: letter.email, name: safeDisplayName(`${letter.firstName} ${letter.lastName}`) },
      subject: email.subject,
      text: email.text,
      html: plainTextEmailHtml(email.subject, email.text, email.lang),
      customArgs: { campaign: campaign.slug, letter: letter.id, kind: email.kind },
    });
    return messageId;
  } catch (err) {
    if (err instanceof SendError && err.kind === 'permanent') throw new UnrecoverableError(err.reason);
    throw err;
  }
}
