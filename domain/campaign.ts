import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import {
  campaignFileSchema,
  slugSchema,
  targetsFileSchema,
  translationFileSchema,
  type CampaignFile,
  type Target,
  type TranslationFile,
} from './campaign-schema.js';
import { isLanguage, LANGUAGES, type Language } from './i18n.js';

// Campaigns are folders of files; this module reads and checks them once, at start-up.

/** A campaign's texts in one language: the page, the prefilled letter and the privacy notice. */
export interface CampaignTexts {
  lang: Language;
  name: string;
  headline: string;
  summary: string;
  background: string[];
  demandsIntro: string;
  demands: string[];
  caseUpdates: { date: string; text: string; source?: string }[];
  letter: { subject: string; closing: string; body: string };
  consent?: { label: string };
  privacyNotice?: string[];
  /** The translation's review note ("reviewed" once a native speaker checked it); absent for the campaign's own language. */
  review?: string;
}

/** Whether the campaign's form takes letters now. */
export type CampaignPhase = 'upcoming' | 'open' | 'closed';

/** A loaded, validated campaign: its texts, its targets and its prefilled letter. */
export interface Campaign extends CampaignFile {
  slug: string;
  language: Language;
  /** The languages the campaign's texts and letter exist in: its own first, then its translations. */
  languages: Language[];
  texts: ReadonlyMap<Language, CampaignTexts>;
  /** When the form opens and closes (ms since the epoch), when the campaign sets them. */
  opensAtMs?: number;
  closesAtMs?: number;
  targets: Target[];
  /** The prefilled, editable letter body (salutation and closing are added per recipient). */
  letterBody: string;
  targetById: ReadonlyMap<string, Target>;
  /** The privacy notice (privacy.txt) as paragraphs, if the campaign has one. */
  privacyNotice?: string[];
}

/** All campaigns of this deployment, in folder-name order. */
export interface CampaignRegistry {
  list(): readonly Campaign[];
  get(slug: string): Campaign | undefined;
}

/** A campaign file that is missing or wrong; the message names the file and the field. */
export class CampaignFileError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'CampaignFileError';
  }
}

const PLACEHOLDER = /\{\{\s*([a-zA-Z]+)\s*\}\}/g;

/**
 * Reads every campaign folder under `dir` (campaign.json, targets.json, letter.txt, and privacy.txt if present).
 * Throws CampaignFileError naming the file and field at the first problem; an empty folder is an error too.
 */
export function loadCampaigns(dir: string): CampaignRegistry {
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((name) => statSync(path.join(dir, name)).isDirectory());
  } catch {
    throw new CampaignFileError(dir, 'the campaigns folder cannot be read');
  }
  entries.sort();
  const campaigns = entries.map((name) => loadCampaign(path.join(dir, name)));
  if (campaigns.length === 0) throw new CampaignFileError(dir, 'no campaign folders found');
  return registryOf(campaigns);
}

/** A registry over campaigns already loaded (tests build their own). */
export function registryOf(campaigns: Campaign[]): CampaignRegistry {
  const bySlug = new Map(campaigns.map((c) => [c.slug, c]));
  return { list: () => campaigns, get: (slug) => bySlug.get(slug) };
}

/** Reads and checks one campaign folder; the folder's name is the campaign's slug. */
export function loadCampaign(folder: string): Campaign {
  const slug = path.basename(folder);
  const slugCheck = slugSchema.safeParse(slug);
  if (!slugCheck.success) throw new CampaignFileError(folder, `folder name ${slugCheck.error.issues[0]?.message}`);

  const file = parseFile(folder, 'campaign.json', campaignFileSchema);
  const campaignPath = path.join(folder, 'campaign.json');
  if (!isLanguage(file.language)) throw new CampaignFileError(campaignPath, `language: must be one of ${LANGUAGES.join(', ')}`);
  const targets = parseFile(folder, 'targets.json', targetsFileSchema);
  const letterBody = readLetter(folder, 'letter.txt', file.demands, file.letter.maxLength);
  const privacyNotice = readPrivacy(folder, 'privacy.txt');
  const own = ownTexts(file, letterBody, privacyNotice);
  const texts = new Map<Language, CampaignTexts>([[file.language as Language, own]]);
  const translationsDir = path.join(folder, 'translations');
  if (existsSync(translationsDir)) {
    for (const name of readdirSync(translationsDir).sort()) {
      const lang = name.replace(/\.json$/, '');
      const where = path.join(translationsDir, name);
      if (!name.endsWith('.json') || !isLanguage(lang) || lang === file.language) {
        throw new CampaignFileError(where, `not a translation: name it <language>.json with one of ${LANGUAGES.filter((l) => l !== file.language).join(', ')}`);
      }
      const tr = parseFile(folder, path.join('translations', name), translationFileSchema);
      const body = readLetter(folder, `letter.${lang}.txt`, tr.demands, file.letter.maxLength);
      texts.set(lang, translatedTexts(lang, file, own, tr, body, readPrivacy(folder, `privacy.${lang}.txt`), where));
    }
  }
  return campaignFrom(slug, file, targets, texts, campaignPath);
}

/** Assembles a campaign from checked parts; throws CampaignFileError (naming `where`) when its dates are the wrong way round. */
export function campaignFrom(slug: string, file: CampaignFile, targets: Target[], texts: Map<Language, CampaignTexts>, where = slug): Campaign {
  const language = file.language as Language;
  const own = texts.get(language)!;
  const opensAtMs = file.opensAt ? dateMs(file.opensAt, 'start') : undefined;
  const closesAtMs = file.closesAt ? dateMs(file.closesAt, 'end') : undefined;
  if (opensAtMs !== undefined && closesAtMs !== undefined && closesAtMs <= opensAtMs)
    throw new CampaignFileError(where, 'closesAt: must be later than opensAt');
  return {
    ...file,
    language,
    languages: [language, ...LANGUAGES.filter((l) => l !== language && texts.has(l))],
    texts,
    opensAtMs,
    closesAtMs,
    slug,
    targets,
    letterBody: own.letter.body,
    targetById: new Map(targets.map((t) => [t.id, t])),
    privacyNotice: own.privacyNotice,
  };
}

/** The texts of campaign.json itself, in the campaign's own language. */
export function ownTexts(file: CampaignFile, letterBody: string, privacyNotice?: string[]): CampaignTexts {
  return {
    lang: file.language as Language,
    name: file.name,
    headline: file.headline,
    summary: file.summary,
    background: file.background,
    demandsIntro: file.demandsIntro,
    demands: file.demands,
    caseUpdates: file.caseUpdates,
    letter: { subject: file.letter.subject, closing: file.letter.closing, body: letterBody },
    consent: file.consent,
    privacyNotice,
  };
}

/** A translation's texts; its lists must match campaign.json's item for item (CampaignFileError naming `where` otherwise). */
export function translatedTexts(
  lang: Language,
  file: CampaignFile,
  own: CampaignTexts,
  tr: TranslationFile,
  letterBody: string,
  privacyNotice: string[] | undefined,
  where: string,
): CampaignTexts {
  for (const field of ['background', 'demands', 'caseUpdates'] as const) {
    if (tr[field].length !== file[field].length) {
      throw new CampaignFileError(where, `${field}: has ${tr[field].length} items but campaign.json has ${file[field].length}`);
    }
  }
  if (!!tr.consent !== !!file.consent)
    throw new CampaignFileError(where, `consent: ${file.consent ? 'missing (campaign.json has one)' : 'campaign.json has none'}`);
  return {
    lang,
    name: tr.name,
    headline: tr.headline,
    summary: tr.summary,
    background: tr.background,
    demandsIntro: tr.demandsIntro,
    demands: tr.demands,
    caseUpdates: tr.caseUpdates.map((u, i) => ({ date: file.caseUpdates[i]!.date, text: u.text, source: u.source })),
    letter: { ...tr.letter, body: letterBody },
    consent: tr.consent,
    privacyNotice: privacyNotice ?? own.privacyNotice,
    review: tr.review,
  };
}

/** The campaign's texts in `lang`, or in its own language when it has no such translation. */
export function textsFor(campaign: Campaign, lang: string): CampaignTexts {
  return campaign.texts.get(lang as Language) ?? campaign.texts.get(campaign.language)!;
}

/** Whether the campaign takes letters at `now`: before opensAt it is upcoming, from closesAt on it is closed. */
export function campaignPhase(campaign: Pick<Campaign, 'opensAtMs' | 'closesAtMs'>, now: number): CampaignPhase {
  if (campaign.opensAtMs !== undefined && now < campaign.opensAtMs) return 'upcoming';
  if (campaign.closesAtMs !== undefined && now >= campaign.closesAtMs) return 'closed';
  return 'open';
}

/** A date's first moment (start) or the moment after its last (end), in UTC; a date-time is taken as written. */
function dateMs(value: string, edge: 'start' | 'end'): number {
  if (value.includes('T')) return Date.parse(value);
  const start = Date.parse(`${value}T00:00:00Z`);
  return edge === 'start' ? start : start + 86_400_000;
}

function readLetter(folder: string, name: string, demands: string[], maxLength: number): string {
  const letterPath = path.join(folder, name);
  const body = renderLetterTemplate(readText(letterPath), { demands }, letterPath);
  if (body.length > maxLength) throw new CampaignFileError(letterPath, `the letter is ${body.length} characters, over letter.maxLength (${maxLength})`);
  return body;
}

function readPrivacy(folder: string, name: string): string[] | undefined {
  const privacyPath = path.join(folder, name);
  return existsSync(privacyPath)
    ? readText(privacyPath)
        .replace(/\r\n?/g, '\n')
        .split(/\n\s*\n/)
        .map((p) => p.trim())
        .filter(Boolean)
    : undefined;
}
/** Fills {{demands}} with the numbered demands; any other placeholder is an error. */
export function renderLetterTemplate(template: string, file: Pick<CampaignFile, 'demands'>, where: string): string {
  const text = template.replace(/\r\n?/g, '\n').trim();
  return text.replace(PLACEHOLDER, (_m, name: string) => {
    if (name === 'demands') return file.demands.map((d, i) => `${i + 1}. ${d}`).join('\n');
    throw new CampaignFileError(where, `unknown placeholder {{${name}}} (only {{demands}} is known)`);
  });
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new CampaignFileError(file, 'file is missing or unreadable');
  }
}

function parseFile<S extends z.ZodType>(folder: string, name: string, schema: S): z.output<S> {
  const file = path.join(folder, name);
  let data: unknown;
  try {
    data = JSON.parse(readText(file));
  } catch (err) {
    if (err instanceof CampaignFileError) throw err;
    throw new CampaignFileError(file, `not valid JSON (${(err as Error).message})`);
  }
  const result = schema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.length
      ? issue.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
          .join('.')
          .replace(/\.\[/g, '[')
      : '(top level)';
    throw new CampaignFileError(file, `${field}: ${issue.message}`);
  }
  return result.data;
}
