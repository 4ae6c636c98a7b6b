import type { RequestHandler, Response } from 'express';
import { isLanguage, LANGUAGE_NAMES, LANGUAGES, negotiateLanguage, translator, type Language } from '../../domain/i18n.js';

// The page's language: ?lang= (kept in a cookie), else the cookie, else Accept-Language; and the
// translator and formatters every view uses.

export const LANGUAGE_COOKIE = 'lang';
const YEAR_MS = 365 * 86_400_000;

/** Each language's date formats (UTC), built once. */
const FORMATS = new Map(
  LANGUAGES.map((lang) => {
    const locale = lang === 'en' ? 'en-GB' : lang;
    const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
    const date = new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' });
    return [lang, { dateTime, date }] as const;
  }),
);

/** The translator and the date and number formatters of `lang`, as the views read them. */
function languageLocals(lang: Language) {
  const t = translator(lang);
  const f = FORMATS.get(lang)!;
  return {
    lang,
    t,
    formatDateTime: (ms: number) => `${f.dateTime.format(ms)} UTC`,
    formatDate: (iso: string) => f.date.format(new Date(`${iso}T00:00:00Z`)),
    formatDay: (ms: number) => f.date.format(ms),
    formatNumber: (n: number) => t.number(n),
  };
}

/** Sets res.locals.lang, t (the translator), the switcher's links and locale-aware date and number formatters. */
export function pageLanguage(options: { secureCookies: boolean }): RequestHandler {
  return (req, res, next) => {
    const asked = req.query.lang;
    let lang: Language;
    if (isLanguage(asked)) {
      lang = asked;
      res.cookie(LANGUAGE_COOKIE, lang, { maxAge: YEAR_MS, sameSite: 'lax', secure: options.secureCookies, httpOnly: true, path: '/' });
    } else {
      const kept = req.cookies?.[LANGUAGE_COOKIE];
      lang = isLanguage(kept) ? kept : negotiateLanguage(req.get('accept-language'));
    }
    res.vary('Accept-Language').vary('Cookie');
    res.set('Content-Language', lang);
    Object.assign(res.locals, languageLocals(lang));
    // One leading slash: "//host/x" (or "/\\host/x", which browsers read alike) would link to another site.
    res.locals.switchPath = req.method === 'GET' ? req.path.replace(/^[/\\]+/, '/') : '/';
    res.locals.languageLinks = () =>
      LANGUAGES.map((l) => ({ lang: l, name: LANGUAGE_NAMES[l], href: `${String(res.locals.switchPath)}?lang=${encodeURIComponent(l)}`, current: l === lang }));
    next();
  };
}

/** For pages rendered before pageLanguage ran (an error in an earlier middleware): English, no switcher. */
export function ensureLanguageLocals(res: Response): void {
  if (res.locals.t) return;
  Object.assign(res.locals, languageLocals('en'), { switchPath: '/', languageLinks: () => [] });
}

/** The page language chosen for this request (set by pageLanguage). */
export function languageOf(res: Response): Language {
  return (res.locals.lang as Language | undefined) ?? 'en';
}
