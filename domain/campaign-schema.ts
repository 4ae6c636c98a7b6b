import { z } from 'zod';
import { isCountryCode } from './countries.js';
import { parseClock } from './pacing.js';

// The shape of a campaign's files (templates/campaigns/<slug>/), checked at start-up.

/** An id usable in URLs, Redis keys and BullMQ job ids: lower-case letters, digits, dashes. */
export const slugSchema = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, { error: 'use lower-case letters, digits and dashes (1-64)' });

const nonEmpty = z.string().trim().min(1, { error: 'must not be empty' });

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a date as YYYY-MM-DD' });
/** A date (YYYY-MM-DD, read in UTC) or a date and time with its offset (2026-12-01T09:00:00+01:00). */
const dateOrDateTime = z.union([isoDate, z.iso.datetime({ offset: true })], { error: 'must be a date as YYYY-MM-DD or a date-time with offset' });
const languageTag = z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, { error: 'must be a language tag such as "en" or "zh-Hans"' });

const countryOrAll = z.string().refine((v) => v === 'all' || isCountryCode(v), { error: 'must be "all" or an ISO 3166-1 alpha-2 code in capitals, e.g. "GB"' });

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time of day as HH:MM (00:00-23:59)' });
const timezone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { error: 'must be an IANA time zone such as "Europe/London"' },
);
const weekdays = z
  .array(z.enum(WEEKDAYS, { error: 'must be mon, tue, wed, thu, fri, sat or sun' }))
  .min(1)
  .max(7);
const limit = z.number().int().positive().max(100_000).nullable();

/** Office hours in the recipient's local time; letters go out only inside them. */
export const officeHoursSchema = z
  .strictObject({ days: weekdays, start: clockTime, end: clockTime })
  .refine((w) => parseClock(w.end) > parseClock(w.start), { error: 'end must be later than start', path: ['end'] });

/** How many letters a recipient may get: per hour and per local day (null: no limit of that kind). */
export const pacingSchema = z.strictObject({ perHour: limit.optional(), perDay: limit.optional() });

/** One recipient of letters: an official or an embassy. The address never leaves the server. */
export const targetSchema = z
  .strictObject({
    id: slugSchema,
    name: nonEmpty.max(120),
    title: nonEmpty.max(120),
    institution: nonEmpty.max(200),
    email: z.email({ error: 'must be an email address' }),
    country: countryOrAll,
    salutation: nonEmpty.max(80),
    /** The salutation in other letter languages (by language tag); `salutation` is used for any other. */
    salutations: z.record(z.string(), nonEmpty.max(80)).optional(),
    language: languageTag,
    /** The recipient's time zone; the campaign's pacing.timezone when absent. */
    timezone: timezone.optional(),
    /** Overrides the campaign's office hours; null means any time of day. */
    officeHours: officeHoursSchema.nullable().optional(),
    /** Overrides the campaign's limits. */
    pacing: pacingSchema.optional(),
    /** "individual": one email per letter, paced. "digest": the letters of a period in one email. */
    delivery: z.enum(['individual', 'digest']).default('individual'),
    /** When a digest recipient gets its digest, in its local time. */
    digest: z.strictObject({ at: clockTime, days: weekdays.default(['mon', 'tue', 'wed', 'thu', 'fri']) }).optional(),
  })
  .refine((t) => t.delivery !== 'digest' || t.digest, { error: 'a digest recipient needs "digest": { "at": "HH:MM" }', path: ['digest'] });

/** The targets file: a non-empty list with unique ids. */
export const targetsFileSchema = z
  .array(targetSchema)
  .min(1, { error: 'a campaign needs at least one target' })
  .superRefine((targets, ctx) => {
    const seen = new Set<string>();
    targets.forEach((t, i) => {
      if (seen.has(t.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate target id "${t.id}"` });
      seen.add(t.id);
    });
  });

/** The page's texts, the same in campaign.json and in each translation. */
const pageTexts = {
  name: nonEmpty.max(100),
  headline: nonEmpty.max(200),
  summary: nonEmpty.max(600),
  background: z.array(nonEmpty).min(1),
  demandsIntro: nonEmpty.max(300),
  demands: z.array(nonEmpty).min(1).max(10),
};

/** campaign.json: the texts of the page and the letter's fixed parts. */
export const campaignFileSchema = z.strictObject({
  /** The language of campaign.json, letter.txt and privacy.txt (translations/<lang>.json add others). */
  language: languageTag.default('en'),
  /** When the form opens (a date means 00:00 UTC that day); open from the start when absent. */
  opensAt: dateOrDateTime.optional(),
  /** When the form closes (a date means the end of that day, UTC); open for good when absent. */
  closesAt: dateOrDateTime.optional(),
  ...pageTexts,
  caseUpdates: z.array(z.strictObject({ date: isoDate, text: nonEmpty, source: nonEmpty.optional() })).default([]),
  goal: z.number().int().positive(),
  letter: z.strictObject({
    subject: nonEmpty.max(200),
    closing: nonEmpty.max(80),
    maxLength: z.number().int().min(200).max(20000).default(10000),
  }),
  /** The default pacing of every recipient. */
  pacing: z
    .strictObject({
      perHour: limit.default(20),
      perDay: limit.default(120),
      timezone: timezone.default('UTC'),
      officeHours: officeHoursSchema.nullable().default(null),
      /** Extra random delay per slot, as a share of the interval between letters. */
      jitter: z.number().min(0).max(0.5).default(0.1),
    })
    .prefault({}),
  sender: z.strictObject({
    /** Shown as "<supporter> via <name>" in the From line of every letter. */
    name: nonEmpty.max(60).refine((v) => !/[",;<>]/.test(v), { error: 'must not contain " , ; < or >' }),
  }),
  /** Double opt-in: letters wait until the writer confirms their address; unconfirmed ones are deleted after expireDays. */
  confirmWriters: z.strictObject({ enabled: z.boolean(), expireDays: z.number().int().min(1).max(60).default(7) }).optional(),
  /** The optional "keep me informed" box: its label exactly as shown (recorded with each letter that ticks it). */
  consent: z.strictObject({ label: nonEmpty.max(300) }).optional(),
  /** A note for campaigners shown in the logs at start-up (e.g. "check case updates before launch"). */
  reviewBeforeLaunch: z.string().optional(),
});

/**
 * translations/<lang>.json: the campaign's texts in another language, field for field. Arrays have the
 * same length and order as campaign.json's; `review` says whether a native speaker has checked it.
 */
export const translationFileSchema = z.strictObject({
  /** "reviewed" once a native speaker has checked the translation; anything else is shown to campaigners as a warning. */
  review: nonEmpty.max(300),
  ...pageTexts,
  caseUpdates: z.array(z.strictObject({ text: nonEmpty, source: nonEmpty.optional() })).default([]),
  letter: z.strictObject({ subject: nonEmpty.max(200), closing: nonEmpty.max(80) }),
  consent: z.strictObject({ label: nonEmpty.max(300) }).optional(),
});

export type TranslationFile = z.infer<typeof translationFileSchema>;
export type Target = z.infer<typeof targetSchema>;
export type OfficeHours = z.infer<typeof officeHoursSchema>;
export { WEEKDAYS };
export type CampaignFile = z.infer<typeof campaignFileSchema>;
