import { z } from 'zod';
import { textsFor, type Campaign } from './campaign.js';
import { isCountryCode } from './countries.js';
import { translator, type Language, type Translator } from './i18n.js';
import { defaultRecipients } from './recipient-routing.js';
import { emailAddress, multiLine, singleLine, type FieldMessages } from './text-rules.js';

// The supporter's form: what it may contain, and the validated draft it turns into.

/** The form's fields, in the order they appear on the page. */
export const LETTER_FORM_FIELDS = ['firstName', 'lastName', 'email', 'country', 'recipients', 'letterLanguage', 'subject', 'body', 'keepInformed'] as const;
export type LetterFormField = (typeof LETTER_FORM_FIELDS)[number];

/** Field names the form may carry besides the letter's own (added by the page, not typed). */
const PAGE_FIELDS = new Set([
  '_csrf',
  'website',
  'startedAt',
  'send',
  'intent',
  'submission',
  'cf-turnstile-response',
  'h-captcha-response',
  'g-recaptcha-response',
]);

/** A letter that passed validation: clean text, a known country, recipients from the campaign's list. */
export interface LetterDraft {
  firstName: string;
  lastName: string;
  email: string;
  country: string;
  recipients: string[];
  /** The letter's language (one of the campaign's languages): it sets the salutation, closing and footer. */
  letterLanguage?: string;
  subject: string;
  body: string;
  /** The supporter ticked "keep me informed" (unticked unless they tick it). */
  keepInformed?: boolean;
}

/** What the supporter typed (strings as typed, the box as ticked), to put back into the form after an error. */
export type LetterFormValues = Required<LetterDraft>;

export type LetterFormResult =
  { ok: true; draft: LetterDraft } | { ok: false; errors: Partial<Record<LetterFormField | 'form', string>>; values: LetterFormValues };

/**
 * The values the empty form starts with: the subject and letter in `letterLanguage` (the campaign's
 * own language when it has no such version), and the default recipients for `country` (if known).
 */
export function initialFormValues(campaign: Campaign, opts: { letterLanguage?: string; country?: string } = {}): LetterFormValues {
  const texts = textsFor(campaign, opts.letterLanguage ?? campaign.language);
  const country = opts.country && isCountryCode(opts.country) ? opts.country : '';
  return {
    firstName: '',
    lastName: '',
    email: '',
    country,
    recipients: defaultRecipients(campaign, country).map((t) => t.id),
    letterLanguage: texts.lang,
    subject: texts.letter.subject,
    body: texts.letter.body,
    keepInformed: false,
  };
}

/** The letter's language for a page in `pageLanguage`: the same when the campaign has it, else the campaign's own. */
export function letterLanguageFor(campaign: Campaign, pageLanguage: Language): Language {
  return campaign.texts.has(pageLanguage) ? pageLanguage : campaign.language;
}

/** Message keys for a text field under validation.<field>.* (translated by parseLetterForm). */
function keys(field: string, withTooShort = false): FieldMessages {
  const k = (kind: string) => `validation.${field}.${kind}`;
  return { missing: k('missing'), tooShort: withTooShort ? k('tooShort') : undefined, tooLong: k('tooLong'), control: k('control') };
}

/** Field lengths, also used to fill {min}/{max} in the messages. */
const LIMITS = { firstName: { max: 60 }, lastName: { max: 60 }, subject: { max: 200 }, bodyMin: 20 } as const;

/** Schemas built so far, one per loaded campaign (building one costs more than using it). */
const schemas = new WeakMap<Campaign, ReturnType<typeof buildLetterFormSchema>>();

/**
 * The zod schema for one campaign's form: recipients must be ids from its own target list, the
 * letter's language one of its languages. Messages are keys (validation.*), translated by parseLetterForm.
 * Built once per campaign object and reused.
 */
export function letterFormSchema(campaign: Campaign) {
  let schema = schemas.get(campaign);
  if (!schema) schemas.set(campaign, (schema = buildLetterFormSchema(campaign)));
  return schema;
}

function buildLetterFormSchema(campaign: Campaign) {
  return z.object({
    firstName: singleLine(keys('firstName'), 1, LIMITS.firstName.max),
    lastName: singleLine(keys('lastName'), 1, LIMITS.lastName.max),
    email: emailAddress({ missing: 'validation.email.missing', tooLong: 'validation.email.tooLong', invalid: 'validation.email.invalid' }),
    country: z.string({ error: 'validation.country.missing' }).refine(isCountryCode, { error: 'validation.country.missing' }),
    recipients: z
      .array(z.string(), { error: 'validation.recipients.missing' })
      .min(1, { error: 'validation.recipients.missing' })
      .superRefine((ids, ctx) => {
        for (const id of ids) {
          if (id.includes('@')) {
            ctx.addIssue({ code: 'custom', message: 'validation.recipients.address' });
            return;
          }
          if (!campaign.targetById.has(id)) {
            ctx.addIssue({ code: 'custom', message: 'validation.recipients.unknown', params: { id: id.slice(0, 40) } });
            return;
          }
        }
      })
      .transform((ids) => [...new Set(ids)]),
    letterLanguage: z
      .string()
      .optional()
      .refine((v) => v === undefined || campaign.texts.has(v as Language), { error: 'validation.letterLanguage.invalid' })
      .transform((v) => v ?? campaign.language),
    subject: singleLine(keys('subject'), 1, LIMITS.subject.max),
    body: multiLine(keys('body', true), LIMITS.bodyMin, campaign.letter.maxLength),
    keepInformed: z
      .literal('yes', { error: 'validation.keepInformed.invalid' })
      .optional()
      .transform((v) => v === 'yes'),
  });
}

/**
 * Checks a posted form against the campaign. Never throws: returns the draft, or a message per
 * field at fault (in the language of `t`, English by default) plus everything typed so the page can show it again.
 */
export function parseLetterForm(campaign: Campaign, body: unknown, t: Translator = translator('en')): LetterFormResult {
  const raw = isRecord(body) ? body : {};
  const values = echoValues(raw, campaign);
  const errors: Partial<Record<LetterFormField | 'form', string>> = {};

  const unknown = Object.keys(raw).filter((k) => !(LETTER_FORM_FIELDS as readonly string[]).includes(k) && !PAGE_FIELDS.has(k));
  if (unknown.length) {
    const fields = unknown
      .slice(0, 3)
      .map((k) => k.slice(0, 30))
      .join(', ');
    errors.form = t('validation.form.unknownFields', { fields });
  }

  const input = { ...pick(raw), recipients: toArray(raw.recipients) };
  const result = letterFormSchema(campaign).safeParse(input);
  if (!result.success) {
    const limits = { min: t.number(LIMITS.bodyMin), max: '' };
    for (const issue of result.error.issues) {
      const field = issue.path[0] as LetterFormField | undefined;
      if (!field || errors[field]) continue;
      const max = field === 'body' ? campaign.letter.maxLength : field === 'firstName' || field === 'lastName' || field === 'subject' ? LIMITS[field].max : 0;
      const params = { ...limits, max: t.number(max), ...((issue as { params?: Record<string, string> }).params ?? {}) };
      errors[field] = issue.message.startsWith('validation.') ? t(issue.message, params) : issue.message;
    }
  }
  if (!result.success || errors.form) return { ok: false, errors, values };
  return { ok: true, draft: result.data };
}

function pick(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of LETTER_FORM_FIELDS) if (f !== 'recipients' && raw[f] !== undefined) out[f] = raw[f];
  return out;
}

function echoValues(raw: Record<string, unknown>, campaign: Campaign): LetterFormValues {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    firstName: str(raw.firstName),
    lastName: str(raw.lastName),
    email: str(raw.email),
    country: str(raw.country),
    recipients: toArray(raw.recipients).filter((v): v is string => typeof v === 'string'),
    letterLanguage: campaign.texts.has(raw.letterLanguage as Language) ? (raw.letterLanguage as string) : campaign.language,
    subject: str(raw.subject),
    body: str(raw.body),
    keepInformed: raw.keepInformed === 'yes',
  };
}

function toArray(v: unknown): unknown[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
