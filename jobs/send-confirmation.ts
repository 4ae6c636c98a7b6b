import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import ejs from 'ejs';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { LetterConfirmation } from '../domain/letter-confirmation.js';
import { sendToWriter } from './writer-email.js';
import { longDate, writerLanguage } from '../domain/writer-language.js';
import { textsFor } from '../domain/campaign.js';
import type { LetterStore } from '../domain/letter-store.js';
import { letterRefJobSchema, type LetterRefJob } from './supporter-mail.js';
import type { MailTransport } from './transports/mail-transport.js';

// Double opt-in, the worker's side: email the writer a confirmation link, and delete letters whose
// writer never confirmed.

export interface ConfirmationMailDeps {
  campaigns: CampaignRegistry;
  letters: LetterStore;
  confirmation: LetterConfirmation;
  transport: MailTransport;
  emailTemplatesDir: string;
  mailFrom: string;
  publicUrl: string;
  logger: Logger;
}

/** The "confirm-letter" processor. A letter already confirmed or gone needs no email; a permanent refusal fails the job. */
export function createConfirmLetterProcessor(deps: ConfirmationMailDeps): (job: Job<LetterRefJob>) => Promise<{ sent: string } | { skipped: string }> {
  const file = path.join(deps.emailTemplatesDir, 'confirm-letter.txt.ejs');
  const render = ejs.compile(readFileSync(file, 'utf8'), { filename: file, escape: (s: unknown) => String(s) });
  return async (job) => {
    const parsed = letterRefJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('Invalid confirm-letter job payload');
    const campaign = deps.campaigns.get(parsed.data.campaign);
    const letter = await deps.letters.get(parsed.data.letterId);
    if (!campaign || !letter) return { skipped: 'the letter no longer exists' };
    if (!letter.deliveries.some((d) => d.record.state === 'unconfirmed')) return { skipped: 'already confirmed' };
    const days = campaign.confirmWriters?.expireDays ?? 7;
    const t = writerLanguage(campaign, letter);
    const subject = t('email.confirm.subject', { campaign: textsFor(campaign, t.lang).name });
    const token = await deps.confirmation.mint(letter.id, days);
    const text = render({
      t,
      campaignName: textsFor(campaign, t.lang).name,
      firstName: letter.firstName,
      recipients: letter.recipients.map((t) => campaign.targetById.get(t)?.institution ?? t).join(', '),
      campaign,
      confirmUrl: `${deps.publicUrl}/confirm/${token}`,
      expiresOn: longDate(letter.createdAt + days * 86_400_000, t.lang),
      site: new URL(deps.publicUrl).host,
    }) as string;
    const messageId = await sendToWriter(deps, campaign, letter, { subject, text, lang: t.lang, kind: 'confirm-letter' });
    deps.logger.info({ campaign: campaign.slug, letter: letter.id }, 'confirmation email sent to the writer');
    return { sent: messageId };
  };
}

/** The "expire-unconfirmed" processor: deletes the letter if its writer never confirmed it. */
export function createExpireUnconfirmedProcessor(
  deps: Pick<ConfirmationMailDeps, 'letters' | 'logger'>,
): (job: Job<LetterRefJob>) => Promise<{ deleted: boolean }> {
  return async (job) => {
    const parsed = letterRefJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('Invalid expire-unconfirmed job payload');
    const deleted = await deps.letters.discardUnconfirmed(parsed.data.letterId);
    if (deleted) deps.logger.info({ campaign: parsed.data.campaign, letter: parsed.data.letterId }, 'unconfirmed letter deleted');
    return { deleted };
  };
}
