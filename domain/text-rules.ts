import { z } from 'zod';

// Text rules shared by every edge that takes text from people or files.

/** C0/C1 control characters other than tab, CR and LF, plus the Unicode line/paragraph separators. */
const CONTROL_EXCEPT_NEWLINES = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2028\u2029]/;
/** Any control character, newlines included: for text that may reach an email header. */
const ANY_CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;

/** Normalises to NFC and trims surrounding white space. */
export function cleanText(value: string): string {
  return value.normalize('NFC').trim();
}

/** Turns CRLF and lone CR into LF, so length limits and rendering see one newline each. */
export function normaliseNewlines(value: string): string {
  return value.replace(/\r\n?/g, '\n');
}

/** The messages a text field fails with: English sentences, or message keys that the caller translates. */
export interface FieldMessages {
  missing: string;
  tooShort?: string;
  tooLong: string;
  control: string;
}

/** The English messages for a field described by `label` (e.g. "your first name"). */
export function englishMessages(label: string, kind: 'line' | 'text', min: number, max: number): FieldMessages {
  const verb = kind === 'line' ? 'Enter' : 'Write';
  return {
    missing: `${verb} ${label}.`,
    tooShort: `${capitalise(label)} must be at least ${min} characters.`,
    tooLong: `${capitalise(label)} must be ${max.toLocaleString('en')} characters or fewer.`,
    control:
      kind === 'line'
        ? `${capitalise(label)} cannot contain line breaks or control characters.`
        : `${capitalise(label)} contains characters that cannot be sent.`,
  };
}

/**
 * A one-line field (names, subject): NFC, trimmed, min/max length, no control characters at all,
 * so nothing typed can add a header line to an email. `label` gives English messages; FieldMessages its own.
 */
export function singleLine(label: string | FieldMessages, min: number, max: number) {
  const m = typeof label === 'string' ? englishMessages(label, 'line', min, max) : label;
  return z
    .string({ error: m.missing })
    .transform(cleanText)
    .pipe(
      z
        .string()
        .min(min, { error: min <= 1 ? m.missing : (m.tooShort ?? m.missing) })
        .max(max, { error: m.tooLong })
        .refine((v) => !ANY_CONTROL.test(v), { error: m.control }),
    );
}

/** A multi-line field (the letter): NFC, LF newlines, trimmed, no control characters but newlines and tabs. */
export function multiLine(label: string | FieldMessages, min: number, max: number) {
  const m = typeof label === 'string' ? englishMessages(label, 'text', min, max) : label;
  return z
    .string({ error: m.missing })
    .transform((v) => cleanText(normaliseNewlines(v)))
    .pipe(
      z
        .string()
        .min(min, { error: min <= 1 ? m.missing : (m.tooShort ?? m.missing) })
        .max(max, { error: m.tooLong })
        .refine((v) => !CONTROL_EXCEPT_NEWLINES.test(v), { error: m.control }),
    );
}

/** An email address as a mail provider accepts it: trimmed, lower-cased domain, no display name, no control characters. */
export function emailAddress(label: string | { missing: string; tooLong: string; invalid: string } = 'your email address') {
  const m =
    typeof label === 'string'
      ? { missing: `Enter ${label}.`, tooLong: `${capitalise(label)} is too long.`, invalid: `Enter ${label} in the form name@example.org.` }
      : label;
  return z
    .string({ error: m.missing })
    .transform(cleanText)
    .pipe(
      z
        .string()
        .min(1, { error: m.missing })
        .max(254, { error: m.tooLong })
        .pipe(z.email({ error: m.invalid })),
    );
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
