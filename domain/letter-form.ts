import { z } from 'zod';
import type { Campaign } from './campaign.js';
import { isCountryCode } from './countries.js';
import { emailAddress, multiLine, singleLine } from './text-rules.js';

// The supporter's form: what it may contain, and the validated draft it turns into.

/** The form's fields, in the order they appear on the page. */
export const LETTER_FORM_FIELDS = ['firstName', 'lastName', 'email', 'country', 'recipients', 'subject', 'body', 'keepInformed'] as const;
export type LetterFormField = (typeof LETTER_FORM_FIELDS)[number];

/** Field names the form may carry besides the letter's own (added by the page, not typed). */
const PAGE_FIELDS = new Set(['_csrf', 'website', 'startedAt', 'send', 'submission', 'cf-turnstile-response', 'h-captcha-response', 'g-recaptcha-response']);

/** A letter that passed validation: clean text, a known country, recipients from the campaign's list. */
export interface LetterDraft {
  firstName: string;
  lastName: string;
  email: string;
  country: string;
  recipients: string[];
  subject: string;
  body: string;
  /** The supporter ticked "keep me informed" (unticked unless they tick it). */
  keepInformed?: boolean;
}

/** What the supporter typed (strings as typed, the box as ticked), to put back into the form after an error. */
export type LetterFormValues = Required<LetterDraft>;

export type LetterFormResult =
  { ok: true; draft: LetterDraft } | { ok: false; errors: Partial<Record<LetterFormField | 'form', string>>; values: LetterFormValues };

/** The values the empty form starts with: the campaign's subject and letter, its officials for all countries ticked. */
export function initialFormValues(campaign: Campaign): LetterFormValues {
  return {
    firstName: '',
    lastName: '',
    email: '',
    country: '',
    recipients: campaign.targets.filter((t) => t.country === 'all').map((t) => t.id),
    subject: campaign.letter.subject,
    body: campaign.letterBody,
    keepInformed: false,
  };
}

/** The zod schema for one campaign's form: recipients must be ids from its own target list. */
export function letterFormSchema(campaign: Campaign) {
  return z.object({
    firstName: singleLine('your first name', 1, 60),
    lastName: singleLine('your last name', 1, 60),
    email: emailAddress(),
    country: z.string({ error: 'Choose the country you are writing from.' }).refine(isCountryCode, { error: 'Choose the country you are writing from.' }),
    recipients: z
      .array(z.string(), { error: 'Choose at least one recipient.' })
      .min(1, { error: 'Choose at least one recipient.' })
      .superRefine((ids, ctx) => {
        for (const id of ids) {
          if (id.includes('@')) {
            ctx.addIssue({ code: 'custom', message: 'Recipients can only be chosen from the list on this page; email addresses cannot be added.' });
            return;
          }
          if (!campaign.targetById.has(id)) {
            ctx.addIssue({ code: 'custom', message: `"${id.slice(0, 40)}" is not one of this campaign's recipients. Choose from the list.` });
            return;
          }
        }
      })
      .transform((ids) => [...new Set(ids)]),
    subject: singleLine('a subject', 1, 200),
    body: multiLine('your letter', 20, campaign.letter.maxLength),
    keepInformed: z
      .literal('yes', { error: 'Tick the box or leave it empty.' })
      .optional()
      .transform((v) => v === 'yes'),
  });
}

/**
 * Checks a posted form against the campaign. Never throws: returns the draft, or a message per
 * field at fault plus everything typed so the page can show it again.
 */
export function parseLetterForm(campaign: Campaign, body: unknown): LetterFormResult {
  const raw = isRecord(body) ? body : {};
  const values = echoValues(raw);
  const errors: Partial<Record<LetterFormField | 'form', string>> = {};

  const unknown = Object.keys(raw).filter((k) => !(LETTER_FORM_FIELDS as readonly string[]).includes(k) && !PAGE_FIELDS.has(k));
  if (unknown.length) {
    errors.form = `The form carried fields this campaign does not accept (${unknown
      .slice(0, 3)
      .map((k) => k.slice(0, 30))
      .join(', ')}). Recipients can only be chosen from the list on this page.`;
  }

  const input = { ...pick(raw), recipients: toArray(raw.recipients) };
  const result = letterFormSchema(campaign).safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const field = issue.path[0] as LetterFormField | undefined;
      if (field && !errors[field]) errors[field] = issue.message;
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

function echoValues(raw: Record<string, unknown>): LetterFormValues {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    firstName: str(raw.firstName),
    lastName: str(raw.lastName),
    email: str(raw.email),
    country: str(raw.country),
    recipients: toArray(raw.recipients).filter((v): v is string => typeof v === 'string'),
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
