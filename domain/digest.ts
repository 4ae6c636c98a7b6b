import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import type { Campaign } from './campaign.js';
import type { Target } from './campaign-schema.js';
import { countryName } from './countries.js';
import type { OutgoingEmail } from './letter-email.js';
import { safeDisplayName } from './letter-email.js';
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

/** The entry of a stored letter. */
export function digestEntry(letter: StoredLetter): DigestEntry {
  return {
    letterId: letter.id,
    writer: `${letter.firstName} ${letter.lastName}`,
    country: countryName(letter.country),
    writtenAt: letter.createdAt,
    subject: letter.subject,
    body: letter.body,
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

  /** The size of one entry once rendered in both parts (for splitting). */
  const entrySize = (e: DigestEntry) => Buffer.byteLength(e.body, 'utf8') * 2 + Buffer.byteLength(e.subject + e.writer + e.country, 'utf8') * 2 + 400;

  /** The email of one part. */
  const render = (p: { campaign: Campaign; target: Target; period: string; summary: DigestSummary; part: DigestPart }): OutgoingEmail => {
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
      customArgs: { campaign: campaign.slug, target: target.id, digest: period, part: String(part.part) },
    };
  };
  return { render, entrySize };
}
