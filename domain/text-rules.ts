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

/**
 * A one-line field (names, subject): NFC, trimmed, min/max length, no control characters at all,
 * so nothing typed can add a header line to an email.
 */
export function singleLine(label: string, min: number, max: number) {
  return z
    .string({ error: `Enter ${label}.` })
    .transform(cleanText)
    .pipe(
      z
        .string()
        .min(min, { error: min <= 1 ? `Enter ${label}.` : `${capitalise(label)} must be at least ${min} characters.` })
        .max(max, { error: `${capitalise(label)} must be ${max} characters or fewer.` })
        .refine((v) => !ANY_CONTROL.test(v), { error: `${capitalise(label)} cannot contain line breaks or control characters.` }),
    );
}

/** A multi-line field (the letter): NFC, LF newlines, trimmed, no control characters but newlines and tabs. */
export function multiLine(label: string, min: number, max: number) {
  return z
    .string({ error: `Write ${label}.` })
    .transform((v) => cleanText(normaliseNewlines(v)))
    .pipe(
      z
        .string()
        .min(min, { error: min <= 1 ? `Write ${label}.` : `${capitalise(label)} must be at least ${min} characters.` })
        .max(max, { error: `${capitalise(label)} must be ${max.toLocaleString('en')} characters or fewer.` })
        .refine((v) => !CONTROL_EXCEPT_NEWLINES.test(v), { error: `${capitalise(label)} contains characters that cannot be sent.` }),
    );
}

/** An email address as a mail provider accepts it: trimmed, lower-cased domain, no display name, no control characters. */
export function emailAddress(label = 'your email address') {
  return z
    .string({ error: `Enter ${label}.` })
    .transform(cleanText)
    .pipe(
      z
        .string()
        .min(1, { error: `Enter ${label}.` })
        .max(254, { error: `${capitalise(label)} is too long.` })
        .pipe(z.email({ error: `Enter ${label} in the form name@example.org.` })),
    );
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
