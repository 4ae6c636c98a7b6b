import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { CampaignFileError, loadCampaigns } from '../../domain/campaign.js';
import { SHIPPED_CAMPAIGN } from '../support/harness.js';

const campaignsDir = path.join(APP_ROOT, 'templates', 'campaigns');
let tmp: string | undefined;

/** A copy of the shipped campaign in a temporary folder, with one file changed. */
function brokenCopy(file: string, change: (text: string) => string): string {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'campaigns-'));
  cpSync(path.join(campaignsDir, SHIPPED_CAMPAIGN), path.join(tmp, SHIPPED_CAMPAIGN), { recursive: true });
  const f = path.join(tmp, SHIPPED_CAMPAIGN, file);
  writeFileSync(f, change(readFileSync(f, 'utf8')));
  return tmp;
}

afterEach(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('the shipped campaign', () => {
  const campaign = loadCampaigns(campaignsDir).get(SHIPPED_CAMPAIGN)!;

  it('when it loads, then its prefilled letter carries the three demands of the joint statement', () => {
    expect(campaign.demands).toHaveLength(3);
    expect(campaign.demands[0]).toMatch(/^Release Sophia Huang Xueqin and Wang Jianbing immediately and unconditionally/);
    expect(campaign.demands[1]).toMatch(/access to their families and to lawyers of their choice/);
    expect(campaign.demands[2]).toMatch(/^Stop harassing, arresting and threatening other human rights defenders/);
    for (const [i, d] of campaign.demands.entries()) expect(campaign.letterBody).toContain(`${i + 1}. ${d}`);
  });

  it('when it loads, then the letter names both people and the charge in Chinese characters and fits one page', () => {
    for (const s of ['黄雪琴', '王建兵', '煽动颠覆国家政权', '19 September 2021']) expect(campaign.letterBody).toContain(s);
    expect(campaign.letterBody.length).toBeLessThan(2500);
  });

  it('when it loads, then the Guangzhou officials and the embassies in six countries are its targets, all on example domains', () => {
    const embassyCountries = campaign.targets
      .filter((t) => t.country !== 'all')
      .map((t) => t.country)
      .sort();
    expect(embassyCountries).toEqual(['AU', 'CA', 'DE', 'FR', 'GB', 'US']);
    expect(campaign.targets.filter((t) => t.country === 'all').map((t) => t.id)).toEqual(['gz-psb', 'gz-procuratorate', 'gd-womens-prison']);
    for (const t of campaign.targets) expect(t.email).toMatch(/@example\.(org|net)$/);
  });
});

describe('the shipped campaign in each language', () => {
  const campaign = loadCampaigns(campaignsDir).get(SHIPPED_CAMPAIGN)!;
  const chinese: Record<string, string[]> = {
    en: ['黄雪琴', '王建兵', '煽动颠覆国家政权'],
    fr: ['黄雪琴', '王建兵', '煽动颠覆国家政权'],
    'zh-Hans': ['黄雪琴', '王建兵', '煽动颠覆国家政权'],
    'zh-Hant': ['黃雪琴', '王建兵', '煽動顛覆國家政權'],
  };

  it('when it loads, then it has English, French, Simplified and Traditional Chinese, each translation marked for review by a native speaker', () => {
    expect(campaign.languages).toEqual(['en', 'fr', 'zh-Hans', 'zh-Hant']);
    for (const lang of ['fr', 'zh-Hans', 'zh-Hant'] as const) expect(campaign.texts.get(lang)!.review).toMatch(/review/i);
  });

  it('when each version loads, then its letter carries the three demands and names both people and the charge in Chinese characters', () => {
    for (const [lang, texts] of campaign.texts) {
      expect(texts.demands, lang).toHaveLength(3);
      for (const [i, d] of texts.demands.entries()) expect(texts.letter.body, lang).toContain(`${i + 1}. ${d}`);
      for (const s of chinese[lang]!) expect(texts.letter.body, `${lang}: ${s}`).toContain(s);
      expect(texts.letter.subject, lang).toMatch(/雪琴/);
      expect(
        texts.caseUpdates.map((u) => u.date),
        lang,
      ).toEqual(campaign.caseUpdates.map((u) => u.date));
      expect(texts.privacyNotice!.length, lang).toBe(campaign.privacyNotice!.length);
    }
  });

  it('when a translation lists fewer demands than campaign.json, then loading stops naming the translation file', () => {
    const dir = brokenCopy('translations/fr.json', (t) => {
      const j = JSON.parse(t) as { demands: string[] };
      j.demands.pop();
      return JSON.stringify(j);
    });
    expect(() => loadCampaigns(dir)).toThrow(/translations\/fr\.json: demands: has 2 items but campaign\.json has 3/);
  });

  it('when a translation has no letter file, then loading stops naming it', () => {
    const dir = brokenCopy('letter.zh-Hant.txt', (t) => t);
    rmSync(path.join(dir, SHIPPED_CAMPAIGN, 'letter.zh-Hant.txt'));
    expect(() => loadCampaigns(dir)).toThrow(/letter\.zh-Hant\.txt: file is missing/);
  });

  it('when a translation file is named for a language the tool does not speak, then loading stops naming it', () => {
    const dir = brokenCopy('translations/fr.json', (t) => t);
    cpSync(path.join(dir, SHIPPED_CAMPAIGN, 'translations', 'fr.json'), path.join(dir, SHIPPED_CAMPAIGN, 'translations', 'de.json'));
    expect(() => loadCampaigns(dir)).toThrow(/translations\/de\.json: not a translation/);
  });
});

describe('a broken campaign file', () => {
  it('when a target address is not an email, then loading stops naming the file and the field', () => {
    const dir = brokenCopy('targets.json', (s) => s.replace('"embassy-gb@example.org"', '"not an address"'));
    expect(() => loadCampaigns(dir)).toThrow(CampaignFileError);
    expect(() => loadCampaigns(dir)).toThrow(/targets\.json: \[3\]\.email: must be an email address/);
  });

  it('when campaign.json misses a field, then the message names it', () => {
    const dir = brokenCopy('campaign.json', (s) => s.replace('"goal": 10000,', ''));
    expect(() => loadCampaigns(dir)).toThrow(/campaign\.json: goal:/);
  });

  it('when a file is not JSON, then the message says so for that file', () => {
    const dir = brokenCopy('campaign.json', (s) => s.slice(0, 40));
    expect(() => loadCampaigns(dir)).toThrow(/campaign\.json: not valid JSON/);
  });

  it('when the letter uses an unknown placeholder, then the message names it', () => {
    const dir = brokenCopy('letter.txt', (s) => `${s}\n{{signature}}`);
    expect(() => loadCampaigns(dir)).toThrow(/letter\.txt: unknown placeholder \{\{signature\}\}/);
  });

  it('when two targets share an id, then the duplicate is named', () => {
    const dir = brokenCopy('targets.json', (s) => s.replace('"id": "embassy-us"', '"id": "embassy-gb"'));
    expect(() => loadCampaigns(dir)).toThrow(/\[4\]\.id: duplicate target id "embassy-gb"/);
  });
});
