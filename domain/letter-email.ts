import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import { textsFor, type Campaign } from './campaign.js';
import type { Target } from './campaign-schema.js';
import { countryName } from './countries.js';
import { isLanguage, translator, type Language } from './i18n.js';
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

/** The language a letter is written in: its own when the campaign has it, else the campaign's. */
export function letterLanguageOf(campaign: Campaign, letter: Pick<LetterDraft, 'letterLanguage'>): Language {
  const lang = letter.letterLanguage;
  return isLanguage(lang) && campaign.texts.has(lang) ? lang : campaign.language;
}

/** The recipient's salutation in `lang` (its `salutations` entry, else its default one), without punctuation. */
export function salutationFor(target: Target, lang: string): string {
  return target.salutations?.[lang] ?? target.salutation;
}

/** Splits the letter into its salutation, paragraphs (each a list of lines), closing and signature, in the letter's language. */
export function letterParts(campaign: Campaign, target: Target, letter: LetterDraft): LetterParts {
  const lang = letterLanguageOf(campaign, letter);
  const paragraphs = letter.body
    .split(/\n\s*\n/)
    .map((p) => p.split('\n').map((l) => l.trimEnd()))
    .filter((lines) => lines.some((l) => l.trim() !== ''));
  return {
    salutation: `${salutationFor(target, lang)}${translator(lang)('letter.salutationEnd')}`,
    paragraphs,
    closing: textsFor(campaign, lang).letter.closing,
    signatureName: `${letter.firstName} ${letter.lastName}`,
    signatureCountry: countryName(letter.country, lang),
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

/** The one-line footer of every letter, in `lang`: how it was sent, and that replies reach the writer. */
export function letterFooter(campaign: Campaign, writer: string, country: string, site: string, lang: Language = campaign.language): string {
  return translator(lang)('letter.footer', { writer, country, site, campaign: textsFor(campaign, lang).name });
}

/** The From display name in `lang`: the writer "via" the campaign's one sender identity. */
export function fromName(campaign: Campaign, writer: string, lang: Language = campaign.language): string {
  return translator(lang)('letter.from', { writer, sender: campaign.sender.name });
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
  // The recipient's display name is the same in every letter to it.
  const toNames = new WeakMap<Target, string>();
  const toName = (target: Target) => {
    let name = toNames.get(target);
    if (name === undefined) toNames.set(target, (name = safeDisplayName(`${target.title} (${target.institution})`)));
    return name;
  };

  return ({ campaign, target, letterId, letter }) => {
    const lang = letterLanguageOf(campaign, letter);
    const parts = letterParts(campaign, target, letter);
    const writer = parts.signatureName;
    const footer = letterFooter(campaign, writer, parts.signatureCountry, site, lang);
    const data = { ...parts, subject: letter.subject, footer, lang };
    return {
      from: { email: settings.mailFrom, name: safeDisplayName(fromName(campaign, writer, lang)) },
      replyTo: { email: letter.email, name: safeDisplayName(writer) },
      to: { email: target.email, name: toName(target) },
      subject: letter.subject,
      text: renderText(data),
      html: renderHtml(data),
      customArgs: { campaign: campaign.slug, letter: letterId, target: target.id },
    };
  };
}
