import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import { z } from 'zod';
import { textsFor, type Campaign } from './campaign.js';
import type { Target } from './campaign-schema.js';
import { countryName } from './countries.js';
import type { OutgoingEmail } from './letter-email.js';
import { letterLanguageOf, safeDisplayName } from './letter-email.js';
import type { StoredLetter } from './letter-store.js';

// A digest: the letters of one period to one recipient in one email (or a few, when large), opening
// with a summary: how many letters, from how many countries, since when.

/** One letter as it appears in a digest. */
export interface DigestEntry {
  letterId: string;
  writer: string;
  country: string;
  writtenAt: number;
  subject: string;
  body: string;
  /** The letter's language, and its closing in that language. */
  lang: string;
  closing: string;
}

/** One email of a digest: its letters and the summary of the whole digest. */
export interface DigestPart {
  part: number;
  parts: number;
  entries: DigestEntry[];
}

export interface DigestSummary {
  letters: number;
  countries: number;
  since: number;
  until: number;
}

/** The entry of a stored letter: signed, and closed, in the letter's own language. */
export function digestEntry(letter: StoredLetter, campaign: Campaign): DigestEntry {
  const lang = letterLanguageOf(campaign, letter);
  return {
    letterId: letter.id,
    writer: `${letter.firstName} ${letter.lastName}`,
    country: countryName(letter.country, lang),
    writtenAt: letter.createdAt,
    subject: letter.subject,
    body: letter.body,
    lang,
    closing: textsFor(campaign, lang).letter.closing,
  };
}

/** How many letters, from how many countries, written between when and when. */
export function summarise(entries: readonly DigestEntry[]): DigestSummary {
  const times = entries.map((e) => e.writtenAt);
  return { letters: entries.length, countries: new Set(entries.map((e) => e.country)).size, since: Math.min(...times), until: Math.max(...times) };
}

/**
 * Splits entries, oldest first, into parts whose rendered size stays under `maxBytes` (a single
 * letter larger than that still gets a part of its own). `sizeOf` measures one entry as rendered.
 */
export function splitIntoParts(entries: readonly DigestEntry[], maxBytes: number, sizeOf: (e: DigestEntry) => number, overheadBytes: number): DigestPart[] {
  const sorted = [...entries].sort((a, b) => a.writtenAt - b.writtenAt);
  const groups: DigestEntry[][] = [];
  let current: DigestEntry[] = [];
  let size = overheadBytes;
  for (const e of sorted) {
    const s = sizeOf(e);
    if (current.length > 0 && size + s > maxBytes) {
      groups.push(current);
      current = [];
      size = overheadBytes;
    }
    current.push(e);
    size += s;
  }
  if (current.length) groups.push(current);
  return groups.map((g, i) => ({ part: i + 1, parts: groups.length, entries: g }));
}

/**
 * A part recorded as sent (in keys.digestParts under its number): the provider's message id, the letters it carried,
 * d: 1 when it may have reached the official twice (sent again after an unanswered attempt), t when it was recorded (ms).
 */
const sentPartSchema = z.object({ m: z.string(), l: z.array(z.string()), d: z.literal(1).optional(), t: z.number().optional() });
/** A part recorded just before it is handed to the provider (under inFlightField): the letters it carries, and when (ms). */
const inFlightPartSchema = z.object({ l: z.array(z.string()), t: z.number().optional() });

/** How long after a part is marked being sent (or recorded sent) the provider's events for it may still be early. */
export const DIGEST_PART_SETTLE_MS = 3_600_000;

/**
 * The field of keys.digestParts that marks a part as being sent: written before the send, removed once the
 * part is recorded sent or was clearly not accepted. Found later, the part may have reached the provider.
 */
export function inFlightField(part: number | string): string {
  return `${part}:sending`;
}

/** The JSON of a part's being-sent mark (see inFlightField): its letters and the time (ms) it was written. */
export function inFlightRecord(letterIds: readonly string[], at: number): string {
  return JSON.stringify({ l: letterIds, t: at });
}

/** The JSON of a part's sent record: message id, letters, when (ms), and d: 1 when it may have gone twice. */
export function sentRecord(messageId: string, letterIds: readonly string[], at: number, maybeTwice: boolean): string {
  return JSON.stringify({ m: messageId, l: letterIds, t: at, ...(maybeTwice ? { d: 1 } : {}) });
}

/**
 * The time (ms) a being-sent mark or sent record was written, or undefined when it is not one or has no time
 * (written before records carried one). Never throws.
 */
export function recordedAt(raw: string | null | undefined): number | undefined {
  if (!raw) return undefined;
  try {
    const t = (JSON.parse(raw) as { t?: unknown } | null)?.t;
    return typeof t === 'number' && Number.isFinite(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One run's recorded parts: those sent (maybeTwice when they may have reached the official twice), and those
 * whose send may or may not have reached the provider.
 */
export interface RecordedDigestParts {
  sent: { part: number; messageId: string; letterIds: string[]; maybeTwice: boolean }[];
  inFlight: { part: number; letterIds: string[] }[];
}

/** Reads a keys.digestParts hash (HGETALL); a field that is neither record, or does not parse, is skipped. */
export function readDigestParts(hash: Record<string, string>): RecordedDigestParts {
  const out: RecordedDigestParts = { sent: [], inFlight: [] };
  for (const [field, raw] of Object.entries(hash)) {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      continue;
    }
    const sent = /^\d+$/.test(field) ? sentPartSchema.safeParse(value) : undefined;
    if (sent?.success) out.sent.push({ part: Number(field), messageId: sent.data.m, letterIds: sent.data.l, maybeTwice: sent.data.d === 1 });
    const sending = /^\d+:sending$/.test(field) ? inFlightPartSchema.safeParse(value) : undefined;
    if (sending?.success) out.inFlight.push({ part: Number.parseInt(field, 10), letterIds: sending.data.l });
  }
  out.sent.sort((a, b) => a.part - b.part);
  out.inFlight.sort((a, b) => a.part - b.part);
  return out;
}

export interface DigestEmailSettings {
  mailFrom: string;
  publicUrl: string;
}

/** Renders digest parts from templates/emails/digest.{txt,html}.ejs; reads the templates once, here. */
export function createDigestRenderer(emailTemplatesDir: string, settings: DigestEmailSettings) {
  const load = (name: string, escape: boolean) => {
    const file = path.join(emailTemplatesDir, name);
    const fn = ejs.compile(readFileSync(file, 'utf8'), { filename: file, ...(escape ? {} : { escape: (s: unknown) => String(s) }) });
    return (data: Record<string, unknown>) => fn(data) as string;
  };
  const text = load('digest.txt.ejs', false);
  const html = load('digest.html.ejs', true);
  const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' });
  const fmt = (ms: number) => `${dateTime.format(ms)} UTC`;
  const site = new URL(settings.publicUrl).host;

  /** The email of one part; `run` identifies this sending of the digest (its parts are recorded under it). */
  const render = (p: { campaign: Campaign; target: Target; period: string; run: string; summary: DigestSummary; part: DigestPart }): OutgoingEmail => {
    const { campaign, target, period, summary, part } = p;
    const partLabel = part.parts > 1 ? ` (part ${part.part} of ${part.parts})` : '';
    const subject = `${campaign.name}: ${summary.letters} letter${summary.letters === 1 ? '' : 's'} from supporters, ${period}${partLabel}`;
    const data = {
      campaign,
      target,
      summary,
      part,
      fmt,
      site,
      subject,
      salutation: `${target.salutation},`,
      footer: `These letters were written by supporters of the "${campaign.name}" campaign at ${site} and collected into one email a day at your office's request. Each letter is signed by its writer.`,
    };
    return {
      from: { email: settings.mailFrom, name: safeDisplayName(`${campaign.sender.name} (letters from supporters)`) },
      replyTo: { email: settings.mailFrom, name: safeDisplayName(campaign.sender.name) },
      to: { email: target.email, name: safeDisplayName(`${target.title} (${target.institution})`) },
      subject,
      text: text(data),
      html: html(data),
      customArgs: { campaign: campaign.slug, target: target.id, digest: p.run, part: String(part.part) },
    };
  };
  // Sizes are measured by rendering, not guessed: the frame (salutation, summary, footer) once, and
  // each entry as what it adds to a part. A small margin covers numbers that grow by a digit.
  const bytes = (m: OutgoingEmail) => Buffer.byteLength(m.text, 'utf8') + Buffer.byteLength(m.html, 'utf8');
  const sizeWith = (campaign: Campaign, target: Target, entries: DigestEntry[]) =>
    bytes(
      render({
        campaign,
        target,
        period: '2000-01-01',
        run: '2000-01-01-r0000000000000',
        summary: { letters: 100_000, countries: 100, since: 0, until: 0 },
        part: { part: 100, parts: 100, entries },
      }),
    );
  /** A measurer for one campaign and recipient: the frame's size, and what one entry adds to a part. */
  const sizer = (campaign: Campaign, target: Target) => {
    const frameBytes = sizeWith(campaign, target, []) + 256;
    return { frameBytes, entrySize: (e: DigestEntry) => sizeWith(campaign, target, [e]) - frameBytes + 256 + 64 };
  };
  return { render, sizer };
}
