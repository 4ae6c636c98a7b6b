import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import ejs from 'ejs';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { LetterStore } from '../domain/letter-store.js';
import { sendToWriter } from './writer-email.js';
import { longDate, writerLanguage } from '../domain/writer-language.js';
import { textsFor } from '../domain/campaign.js';
import { statusLinkJobSchema, type StatusLinkJob } from './supporter-mail.js';
import type { MailTransport } from './transports/mail-transport.js';

// Emails a supporter a fresh link to the letter they already wrote, when a second letter to the same
// recipient was refused and the browser did not have the first link. Only the address on the letter
// gets it, so the link never reaches someone who merely typed that address.

export interface SendStatusLinkDeps {
  campaigns: CampaignRegistry;
  letters: LetterStore;
  transport: MailTransport;
  emailTemplatesDir: string;
  mailFrom: string;
  publicUrl: string;
  logger: Logger;
}

/** Builds the processor. A deleted letter or a permanent refusal fails the job; a transient one retries. */
export function createSendStatusLinkProcessor(deps: SendStatusLinkDeps): (job: Job<StatusLinkJob>) => Promise<{ sent: string }> {
  const file = path.join(deps.emailTemplatesDir, 'status-link.txt.ejs');
  const render = ejs.compile(readFileSync(file, 'utf8'), { filename: file, escape: (s: unknown) => String(s) });
  return async (job) => {
    const parsed = statusLinkJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('Invalid status-link job payload');
    const { campaign: slug, letterId, targetIds } = parsed.data;
    const campaign = deps.campaigns.get(slug);
    const letter = await deps.letters.get(letterId);
    if (!campaign || !letter) throw new UnrecoverableError('The letter no longer exists.');
    const t = writerLanguage(campaign, letter);
    const token = await deps.letters.addToken(letterId);
    const statusUrl = `${deps.publicUrl}/letters/${token}`;
    const recipients = targetIds.map((t) => campaign.targetById.get(t)?.institution ?? t).join(', ');
    const text = render({
      t,
      campaignName: textsFor(campaign, t.lang).name,
      firstName: letter.firstName,
      recipients,
      campaign,
      writtenOn: longDate(letter.createdAt, t.lang),
      statusUrl,
      site: new URL(deps.publicUrl).host,
    }) as string;
    const subject = t('email.statusLink.subject', { campaign: textsFor(campaign, t.lang).name });
    const messageId = await sendToWriter(deps, campaign, letter, { subject, text, lang: t.lang, kind: 'status-link' });
    deps.logger.info({ campaign: slug, letter: letterId }, 'status link emailed to the writer');
    return { sent: messageId };
  };
}
