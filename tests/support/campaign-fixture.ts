import { campaignFileSchema, targetsFileSchema, translationFileSchema } from '../../domain/campaign-schema.js';
import { campaignFrom, ownTexts, renderLetterTemplate, translatedTexts, type Campaign, type CampaignTexts } from '../../domain/campaign.js';
import type { Language } from '../../domain/i18n.js';

// A small campaign built in memory, for unit tests that must not read files.

/** A campaign with two officials and two embassies; `overrides` replace campaign.json fields, `targets` the recipients, `translations` add languages. */
export function fixtureCampaign(
  overrides: Record<string, unknown> = {},
  targetsInput?: Record<string, unknown>[],
  translations: Partial<Record<Language, { file: Record<string, unknown>; letter: string }>> = {},
): Campaign {
  const file = campaignFileSchema.parse({
    name: 'Free the Two',
    headline: 'Write for the two',
    summary: 'Two defenders are detained.',
    background: ['They were detained.'],
    demandsIntro: 'We call on the authorities to:',
    demands: ['Release them.', 'Give them access to lawyers.', 'Stop harassing defenders.'],
    goal: 100,
    letter: { subject: 'Release 黄雪琴 and 王建兵', closing: 'Yours sincerely,', maxLength: 2000 },
    sender: { name: 'Free the Two' },
    ...overrides,
  });
  const targets = targetsFileSchema.parse(
    targetsInput ?? [
      {
        id: 'gz-psb',
        name: 'The Director',
        title: 'Director',
        institution: 'Public Security Bureau',
        email: 'psb@example.org',
        country: 'all',
        salutation: 'Dear Director',
        language: 'zh-Hans',
      },
      {
        id: 'gz-procuratorate',
        name: 'The Chief Procurator',
        title: 'Chief Procurator',
        institution: "People's Procuratorate",
        email: 'proc@example.org',
        country: 'all',
        salutation: 'Dear Chief Procurator',
        language: 'zh-Hans',
      },
      {
        id: 'embassy-fr',
        name: 'H.E. the Ambassador',
        title: 'Ambassador',
        institution: 'Embassy in France',
        email: 'embassy-fr@example.org',
        country: 'FR',
        salutation: 'Your Excellency',
        language: 'en',
      },
      {
        id: 'embassy-gb',
        name: 'H.E. the Ambassador',
        title: 'Ambassador',
        institution: 'Embassy in the United Kingdom',
        email: 'embassy-gb@example.org',
        country: 'GB',
        salutation: 'Your Excellency',
        language: 'en',
      },
    ],
  );
  const letterBody = renderLetterTemplate('I am writing about 黄雪琴 and 王建兵.\n\nI urge you to:\n{{demands}}', file, 'fixture');
  const own = ownTexts(file, letterBody);
  const texts = new Map<Language, CampaignTexts>([[own.lang, own]]);
  for (const [lang, t] of Object.entries(translations) as [Language, { file: Record<string, unknown>; letter: string }][]) {
    const tr = translationFileSchema.parse(t.file);
    texts.set(lang, translatedTexts(lang, file, own, tr, renderLetterTemplate(t.letter, tr, 'fixture'), undefined, 'fixture'));
  }
  return campaignFrom('free-the-two', file, targets, texts);
}

/** One recipient for a fixture campaign's target list, with `extra` fields (pacing, office hours, digest...). */
export function fixtureTarget(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    name: `The ${id}`,
    title: 'Director',
    institution: `Office ${id}`,
    email: `${id}@example.org`,
    country: 'all',
    salutation: 'Dear Director',
    language: 'en',
    ...extra,
  };
}
