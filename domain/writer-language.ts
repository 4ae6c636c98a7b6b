import type { Campaign } from './campaign.js';
import { isLanguage, translator, type Translator } from './i18n.js';
import type { StoredLetter } from './letter-store.js';

// The language emails to a writer are in: the page's language when they wrote, else the campaign's.

/** The translator for emails to the writer of `letter` (never throws). */
export function writerLanguage(campaign: Campaign, letter: Pick<StoredLetter, 'pageLanguage'>): Translator {
  return translator(isLanguage(letter.pageLanguage) ? letter.pageLanguage : campaign.language);
}

/** A date written out in full in `lang` (UTC), as emails to writers show it. */
export function longDate(ms: number, lang: string): string {
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : lang, { dateStyle: 'long', timeZone: 'UTC' }).format(ms);
}
