import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import type { Campaign } from './campaign.js';
import type { Target } from './campaign-schema.js';
import { countryName } from './countries.js';
import type { LetterDraft } from './letter-form.js';

// What an official receives: one email per recipient, from the campaign's one verified sender,
// with the supporter in Reply-To, a plain-text and an escaped HTML part, and a one-line footer.

/** An email ready for a transport: addresses, both parts, and ids (never personal data) to track it by. */
export interface OutgoingEmail {
  from: { email: string; name: string };
  replyTo: { email: string; name: string };
  to: { email: string; name: string };
  subject: string;
  text: string;
  html: string;
  /** Ids only: they come back on provider events and may be logged. */
  customArgs: Record<string, string>;
}

/** The parts of one recipient's letter, shared by the email and the page's preview. */
export interface LetterParts {
  salutation: string;
  paragraphs: string[][];
  closing: string;
  signatureName: string;
  signatureCountry: string;
}

/** Splits the letter into its salutation, paragraphs (each a list of lines), closing and signature. */
export function letterParts(campaign: Campaign, target: Target, letter: LetterDraft): LetterParts {
  const paragraphs = letter.body
    .split(/\n\s*\n/)
    .map((p) => p.split('\n').map((l) => l.trimEnd()))
    .filter((lines) => lines.some((l) => l.trim() !== ''));
  return {
    salutation: `${target.salutation},`,
    paragraphs,
    closing: campaign.letter.closing,
    signatureName: `${letter.firstName} ${letter.lastName}`,
    signatureCountry: countryName(letter.country),
  };
}

/** The whole letter as plain text, exactly as the recipient reads it (without the footer). */
export function letterText(parts: LetterParts): string {
  const body = parts.paragraphs.map((lines) => lines.join('\n')).join('\n\n');
  return `${parts.salutation}\n\n${body}\n\n${parts.closing}\n${parts.signatureName}\n${parts.signatureCountry}`;
}

/** A display name safe in any From/To/Reply-To header: no quotes, commas, semicolons, angle brackets or control characters. */
export function safeDisplayName(name: string, max = 100): string {
  const clean = name
    .replace(/[\u0000-\u001F\u007F-\u009F\u2028\u2029"\\,;<>]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  // Cut by characters, not UTF-16 units, so no half of a 4-byte character is left.
  return Array.from(clean).slice(0, max).join('').trim();
}

/** The one-line footer of every letter: how it was sent, and that replies reach the writer. */
export function letterFooter(campaign: Pick<Campaign, 'name'>, writer: string, country: string, site: string): string {
  return `This letter was written by ${writer} (${country}) on the "${campaign.name}" campaign at ${site} and sent by email on their behalf; replying reaches ${writer} directly.`;
}

export interface LetterEmailSettings {
  /** The campaign's verified sender address (MAIL_FROM). */
  mailFrom: string;
  /** The public address of this deployment, named in the footer. */
  publicUrl: string;
}

export interface LetterEmailInput {
  campaign: Campaign;
  target: Target;
  letterId: string;
  letter: LetterDraft;
}

/**
 * Builds the email renderer from templates/emails/ (letter.txt.ejs, letter.html.ejs). Reading the
 * templates happens here, once; a missing template throws at start-up, not at send time.
 */
export function createLetterEmailRenderer(emailTemplatesDir: string, settings: LetterEmailSettings): (input: LetterEmailInput) => OutgoingEmail {
  const compile = (name: string, escape: boolean) => {
    const file = path.join(emailTemplatesDir, name);
    const fn = ejs.compile(readFileSync(file, 'utf8'), { filename: file, ...(escape ? {} : { escape: (s: unknown) => String(s) }) });
    return (data: Record<string, unknown>) => fn(data) as string;
  };
  const renderText = compile('letter.txt.ejs', false);
  const renderHtml = compile('letter.html.ejs', true);
  const site = new URL(settings.publicUrl).host;

  return ({ campaign, target, letterId, letter }) => {
    const parts = letterParts(campaign, target, letter);
    const writer = parts.signatureName;
    const footer = letterFooter(campaign, writer, parts.signatureCountry, site);
    const data = { ...parts, subject: letter.subject, footer, lang: 'en' };
    return {
      from: { email: settings.mailFrom, name: safeDisplayName(`${writer} via ${campaign.sender.name}`) },
      replyTo: { email: letter.email, name: safeDisplayName(writer) },
      to: { email: target.email, name: safeDisplayName(`${target.title} (${target.institution})`) },
      subject: letter.subject,
      text: renderText(data),
      html: renderHtml(data),
      customArgs: { campaign: campaign.slug, letter: letterId, target: target.id },
    };
  };
}
