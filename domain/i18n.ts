import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APP_ROOT } from './app-root.js';
import { escapeHtml } from './html-escape.js';

// The interface's languages: one flat message catalogue per language (templates/locales/<lang>.json),
// checked against the English one when first read, and a translator bound to one language.

/** The languages the interface speaks, in the order the switcher shows them. */
export const LANGUAGES = ['en', 'fr', 'zh-Hans', 'zh-Hant'] as const;
export type Language = (typeof LANGUAGES)[number];
export const DEFAULT_LANGUAGE: Language = 'en';

/** Each language's name in itself, for the switcher (never translated). */
export const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', fr: 'Français', 'zh-Hans': '简体中文', 'zh-Hant': '繁體中文' };

/** True when `tag` is exactly one of LANGUAGES. */
export function isLanguage(tag: unknown): tag is Language {
  return typeof tag === 'string' && (LANGUAGES as readonly string[]).includes(tag);
}

/** A catalogue that is missing, unreadable, or disagrees with the English one (keys or {placeholders}). */
export class CatalogueError extends Error {
  override name = 'CatalogueError';
}

type Catalogue = Readonly<Record<string, string>>;
export type MessageParams = Record<string, string | number>;

/** Looks up and fills messages in one language. */
export interface Translator {
  readonly lang: Language;
  /** The message `key` with its {placeholders} filled; throws CatalogueError for an unknown key. */
  (key: string, params?: MessageParams): string;
  /** The plural form of `key` (key.one / key.other) for `count`, with {count} and `params` filled. */
  plural(key: string, count: number, params?: MessageParams): string;
  /** Like the call, but the message is HTML-escaped and the params are inserted as they are (already-escaped HTML). */
  html(key: string, htmlParams?: Record<string, string>): string;
  /** Like plural, with the message escaped and the params inserted as HTML ({count} is formatted and escaped). */
  pluralHtml(key: string, count: number, htmlParams?: Record<string, string>): string;
  /** A number formatted for this language. */
  number(n: number): string;
}

const PLACEHOLDER = /\{([a-zA-Z]+)\}/g;
let cache: Map<Language, Catalogue> | undefined;
let strict = true;

/**
 * Strict (the default, and in tests): an unknown key throws, so the test suite fails. Not strict (in
 * production): an unknown key falls back to the English message, or to the key itself, so a page never fails over a message.
 */
export function setStrictMessages(on: boolean): void {
  strict = on;
}

/**
 * Reads every catalogue from `dir` and checks each against English: the same keys, no empty value,
 * the same placeholders in each message. Throws CatalogueError naming the language and key.
 */
export function loadCatalogues(dir = path.join(APP_ROOT, 'templates', 'locales')): Map<Language, Catalogue> {
  const read = (lang: Language): Catalogue => {
    const file = path.join(dir, `${lang}.json`);
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new CatalogueError(`${file}: missing or not valid JSON (${(err as Error).message})`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new CatalogueError(`${file}: must be an object of messages`);
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string' || v.trim() === '') throw new CatalogueError(`${file}: "${k}" must be a non-empty string`);
    }
    return data as Catalogue;
  };
  const english = read('en');
  const all = new Map<Language, Catalogue>([['en', english]]);
  for (const lang of LANGUAGES) {
    if (lang === 'en') continue;
    const cat = read(lang);
    for (const key of Object.keys(english)) {
      if (!(key in cat)) throw new CatalogueError(`${lang}.json: missing "${key}"`);
      const want = placeholders(english[key]!);
      const got = placeholders(cat[key]!);
      if (want !== got) throw new CatalogueError(`${lang}.json: "${key}" has placeholders {${got}} but English has {${want}}`);
    }
    for (const key of Object.keys(cat)) if (!(key in english)) throw new CatalogueError(`${lang}.json: "${key}" is not in en.json`);
    all.set(lang, cat);
  }
  return all;
}

function placeholders(message: string): string {
  return [...new Set([...message.matchAll(PLACEHOLDER)].map((m) => m[1]))].sort().join(',');
}

/** The translator for `lang`, over catalogues read once per process (from templates/locales). */
export function translator(lang: Language): Translator {
  cache ??= loadCatalogues();
  let t = translators.get(lang);
  if (!t) translators.set(lang, (t = makeTranslator(lang, cache.get(lang)!)));
  return t;
}

const translators = new Map<Language, Translator>();

function makeTranslator(lang: Language, cat: Catalogue): Translator {
  const nf = new Intl.NumberFormat(lang);
  const pr = new Intl.PluralRules(lang);

  const lookup = (key: string): string => {
    const message = cat[key];
    if (message !== undefined) return message;
    if (strict) throw new CatalogueError(`no message "${key}" in ${lang}.json`);
    return cache?.get('en')?.[key] ?? key;
  };
  const fill = (message: string, params: Record<string, string | number>, esc: (s: string) => string) =>
    esc(message).replace(PLACEHOLDER, (whole, name: string) => (name in params ? String(params[name]) : whole));
  const pluralKey = (key: string, count: number) => (pr.select(count) === 'one' && `${key}.one` in cat ? `${key}.one` : `${key}.other`);
  const same = (s: string) => s;

  const t = ((key: string, params: MessageParams = {}) => fill(lookup(key), params, same)) as Translator;
  Object.defineProperty(t, 'lang', { value: lang });
  t.plural = (key, count, params = {}) => fill(lookup(pluralKey(key, count)), { count: nf.format(count), ...params }, same);
  t.html = (key, htmlParams = {}) => fill(lookup(key), htmlParams, escapeHtml);
  t.pluralHtml = (key, count, htmlParams = {}) => fill(lookup(pluralKey(key, count)), { count: escapeHtml(nf.format(count)), ...htmlParams }, escapeHtml);
  t.number = (n) => nf.format(n);
  return t;
}

/**
 * The best interface language for an Accept-Language header: zh-CN/SG and plain zh map to
 * zh-Hans, zh-TW/HK/MO to zh-Hant, any fr-* to fr, en-* to en; English when nothing matches.
 */
export function negotiateLanguage(acceptLanguage: string | undefined): Language {
  if (!acceptLanguage) return DEFAULT_LANGUAGE;
  const ranges = acceptLanguage
    .split(',')
    .slice(0, 20)
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag.trim().toLowerCase(), q: q ? Number(q.slice(2)) : 1, i };
    })
    .filter((r) => r.tag && r.tag !== '*' && Number.isFinite(r.q) && r.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { tag } of ranges) {
    const lang = languageForTag(tag);
    if (lang) return lang;
  }
  return DEFAULT_LANGUAGE;
}

/** The interface language a BCP 47 tag (lower-cased) stands for, if any. */
function languageForTag(tag: string): Language | undefined {
  const [primary, ...rest] = tag.split('-');
  if (primary === 'en') return 'en';
  if (primary === 'fr') return 'fr';
  if (primary === 'zh') {
    if (rest.includes('hant') || rest.some((r) => ['tw', 'hk', 'mo'].includes(r))) return 'zh-Hant';
    return 'zh-Hans';
  }
  return undefined;
}

/** The region (country) of the first Accept-Language range that names one, e.g. "GB" for "en-GB"; used to guess the supporter's country. */
export function regionFromAcceptLanguage(acceptLanguage: string | undefined): string | undefined {
  if (!acceptLanguage) return undefined;
  for (const part of acceptLanguage.split(',').slice(0, 20)) {
    const tag = part.split(';')[0]!.trim();
    const region = tag.split('-').find((sub, i) => i > 0 && /^[A-Za-z]{2}$/.test(sub));
    if (region) return region.toUpperCase();
  }
  return undefined;
}
