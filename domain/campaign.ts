import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { campaignFileSchema, slugSchema, targetsFileSchema, type CampaignFile, type Target } from './campaign-schema.js';

// Campaigns are folders of files; this module reads and checks them once, at start-up.

/** A loaded, validated campaign: its texts, its targets and its prefilled letter. */
export interface Campaign extends CampaignFile {
  slug: string;
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
  const targets = parseFile(folder, 'targets.json', targetsFileSchema);
  const letterPath = path.join(folder, 'letter.txt');
  const letterBody = renderLetterTemplate(readText(letterPath), file, letterPath);
  if (letterBody.length > file.letter.maxLength) {
    throw new CampaignFileError(letterPath, `the letter is ${letterBody.length} characters, over letter.maxLength (${file.letter.maxLength})`);
  }
  const privacyPath = path.join(folder, 'privacy.txt');
  const privacyNotice = existsSync(privacyPath)
    ? readText(privacyPath)
        .replace(/\r\n?/g, '\n')
        .split(/\n\s*\n/)
        .map((p) => p.trim())
        .filter(Boolean)
    : undefined;
  return { ...file, slug, targets, letterBody, targetById: new Map(targets.map((t) => [t.id, t])), privacyNotice };
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
