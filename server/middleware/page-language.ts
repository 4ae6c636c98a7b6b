import type { RequestHandler, Response } from 'express';
import { isLanguage, LANGUAGE_NAMES, LANGUAGES, negotiateLanguage, translator, type Language } from '../../domain/i18n.js';

// The page's language: ?lang= (kept in a cookie), else the cookie, else Accept-Language; and the
// translator and formatters every view uses.

export const LANGUAGE_COOKIE = 'lang';
const YEAR_MS = 365 * 86_400_000;

/** Sets res.locals.lang, t (the translator), the switcher's links and locale-aware date and number formatters. */
export function pageLanguage(options: { secureCookies: boolean }): RequestHandler {
  const formats = new Map(
    LANGUAGES.map((lang) => {
      const locale = lang === 'en' ? 'en-GB' : lang;
      return [
        lang,
        {
          dateTime: new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }),
          date: new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' }),
        },
      ] as const;
    }),
  );
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
    const t = translator(lang);
    const f = formats.get(lang)!;
    res.locals.lang = lang;
    res.locals.t = t;
    res.locals.languageNames = LANGUAGE_NAMES;
    res.locals.switchPath = req.method === 'GET' ? req.path : '/';
    res.locals.languageLinks = () =>
      LANGUAGES.map((l) => ({ lang: l, name: LANGUAGE_NAMES[l], href: `${String(res.locals.switchPath)}?lang=${encodeURIComponent(l)}`, current: l === lang }));
    res.locals.formatDateTime = (ms: number) => `${f.dateTime.format(ms)} UTC`;
    res.locals.formatDate = (iso: string) => f.date.format(new Date(`${iso}T00:00:00Z`));
    res.locals.formatDay = (ms: number) => f.date.format(ms);
    res.locals.formatNumber = (n: number) => t.number(n);
    next();
  };
}

/** For pages rendered before pageLanguage ran (an error in an earlier middleware): English, no switcher. */
export function ensureLanguageLocals(res: Response): void {
  if (res.locals.t) return;
  const t = translator('en');
  Object.assign(res.locals, {
    lang: 'en',
    t,
    languageNames: LANGUAGE_NAMES,
    switchPath: '/',
    languageLinks: () => [],
    formatDateTime: (ms: number) => new Date(ms).toISOString(),
    formatDate: (iso: string) => iso,
    formatDay: (ms: number) => new Date(ms).toISOString().slice(0, 10),
    formatNumber: (n: number) => t.number(n),
  });
}

/** The page language chosen for this request (set by pageLanguage). */
export function languageOf(res: Response): Language {
  return (res.locals.lang as Language | undefined) ?? 'en';
}
