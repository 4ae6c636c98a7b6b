import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import express, { Router, type Request, type Response } from 'express';
import { campaignPhase, textsFor, type Campaign, type CampaignPhase } from '../../domain/campaign.js';
import { systemClock } from '../../domain/clock.js';
import { countryName, countryOptions, isCountryCode } from '../../domain/countries.js';
import { fromName, letterFooter, letterLanguageOf, letterParts, letterText, salutationFor } from '../../domain/letter-email.js';
import type { CampaignCounts } from '../../domain/delivery-log.js';
import { SENT_STATES } from '../../domain/delivery-states.js';
import { LANGUAGE_NAMES, regionFromAcceptLanguage, translator, type Language, type Translator } from '../../domain/i18n.js';
import { initialFormValues, letterLanguageFor, parseLetterForm, type LetterFormResult, type LetterFormValues } from '../../domain/letter-form.js';
import { earlierSubmission, SubmissionUnavailableError, submitLetter, type SubmissionResult } from '../../domain/letter-submission.js';
import { recipientGroups } from '../../domain/recipient-routing.js';
import { APP_ROOT } from '../../domain/app-root.js';
import { escapeHtml } from '../../domain/html-escape.js';
import type { AppDeps } from '../app.js';
import { CAPTCHA_WIDGETS, verifyCaptcha } from '../captcha.js';
import type { FormGuards } from '../form-guards.js';
import { readLetterCookie, rememberLetter } from '../letter-cookie.js';
import { languageOf } from '../middleware/page-language.js';
import { secureRandomBytes } from '../../domain/random-bytes.js';

// The campaign pages, the letter form (in the page's language, the letter in its own), and the public counters.

type FormErrors = Extract<LetterFormResult, { ok: false }>['errors'];

interface PageExtras {
  /** A link to a letter the supporter already wrote, when the browser knows it. */
  existingLetterUrl?: string;
  /** A note above the letter (e.g. after the letter's language was changed without JavaScript). */
  letterNote?: string;
}

/** The message key for each form guard's refusal (the supporter's text is always kept). */
const GUARD_MESSAGES = {
  'stale-form': 'guard.staleForm',
  'too-fast': 'guard.tooFast',
  honeypot: 'guard.honeypot',
  'ip-limit': 'guard.ipLimit',
  'email-limit': 'guard.emailLimit',
} as const;
const GUARD_STATUS = { 'stale-form': 403, 'too-fast': 422, honeypot: 422, 'ip-limit': 429, 'email-limit': 429 } as const;

/** GET /, GET /c/:slug, POST /c/:slug/letters, GET /c/:slug/letter/:lang.json, GET /c/:slug/privacy, GET /c/:slug/stats.json. */
export function campaignRoutes(deps: AppDeps, guards: FormGuards): Router {
  const router = Router();
  // Room for the longest letter a campaign may allow (20,000 characters) even when every character
  // takes 12 bytes form-encoded (4 UTF-8 bytes, each %XX), with the other fields.
  const parseForm = express.urlencoded({ extended: false, limit: '256kb', parameterLimit: 100 });
  const clock = deps.clock ?? systemClock;
  const site = new URL(deps.config.publicUrl).host;

  // The counts shown on the page are read at most once a second per campaign and process (the page's
  // script refreshes them anyway); a letter accepted here drops them so its writer sees it counted.
  const COUNTS_TTL_MS = 1000;
  const countsCache = new Map<string, { at: number; value: Promise<CampaignCounts | null> }>();
  const countsOrNull = (slug: string): Promise<CampaignCounts | null> => {
    const now = clock.now();
    const hit = countsCache.get(slug);
    if (hit && now - hit.at < COUNTS_TTL_MS) return hit.value;
    const value = deps.log.counts(slug).catch((err: unknown) => {
      deps.logger.warn({ err }, 'campaign counters unavailable');
      countsCache.delete(slug);
      return null;
    });
    countsCache.set(slug, { at: now, value });
    return value;
  };

  /** What the page's script needs to rebuild the previews in any of the campaign's letter languages. */
  const letterSettings = (campaign: Campaign, lang: Language) => {
    const t = translator(lang);
    return {
      closing: textsFor(campaign, lang).letter.closing,
      salutationEnd: t('letter.salutationEnd'),
      from: fromName(campaign, '{writer}', lang),
      footer: letterFooter(campaign, '{writer}', '{country}', site, lang),
      yourName: t('letter.yourName'),
      yourCountry: t('letter.yourCountry'),
    };
  };

  // The tally (live counts) is rendered on every view; the rest of a fresh page is cached (see below).
  const tallyFile = path.join(APP_ROOT, 'views', 'partials', 'tally.ejs');
  const renderTally = ejs.compile(readFileSync(tallyFile, 'utf8'), { filename: tallyFile });
  // Rendered once per language for each reading of the counts (they are read at most once a second).
  const tallies = new WeakMap<CampaignCounts, Map<string, string>>();
  const tallyHtml = (res: Response, campaign: Campaign, counts: CampaignCounts | null) => {
    const render = () => renderTally({ ...res.locals, slug: campaign.slug, goal: campaign.goal, counts, sentCount: sentTotal });
    if (!counts) return render();
    let byLang = tallies.get(counts);
    if (!byLang) tallies.set(counts, (byLang = new Map()));
    const lang = languageOf(res);
    let html = byLang.get(lang);
    if (html === undefined) byLang.set(lang, (html = render()));
    return html;
  };

  // A fresh form (a GET, nothing typed yet) is the same for every visitor of one campaign, language and
  // country but for the one-time fields and the counts: it is rendered once with placeholders for
  // those, and each view fills them in. Bounded: the oldest page is dropped past FRESH_PAGES_MAX.
  const freshPages = new Map<string, string>();
  const FRESH_PAGES_MAX = 500;

  const renderCampaign = async (
    req: Request,
    res: Response,
    campaign: Campaign,
    values: LetterFormValues,
    errors: FormErrors,
    status = 200,
    extras: PageExtras = {},
    cacheKey?: string,
  ) => {
    const lang = languageOf(res);
    const posted = typeof req.body?.submission === 'string' && isSubmissionId(req.body.submission) ? (req.body.submission as string) : undefined;
    const hidden = guards.fields(req, res);
    // A fresh one-time id for each new form; the same one back after an error, so a retry is still one letter.
    const submissionId = posted ?? secureRandomBytes(18).toString('base64url');
    const countsPromise = countsOrNull(campaign.slug);
    const phase = campaignPhase(campaign, clock.now());
    if (cacheKey && phase === 'open') {
      const key = `${campaign.slug}|${lang}|${cacheKey}`;
      let page = freshPages.get(key);
      if (page === undefined) {
        page = await new Promise<string>((resolve, reject) =>
          res.render('campaign', pageModel(PLACEHOLDERS.csrf, PLACEHOLDERS.startedAt, PLACEHOLDERS.submission, PLACEHOLDERS.tally), (err, html) =>
            err ? reject(err) : resolve(html),
          ),
        );
        if (freshPages.size >= FRESH_PAGES_MAX) freshPages.delete(freshPages.keys().next().value!);
        freshPages.set(key, page);
      }
      const fill: Record<string, string> = {
        [PLACEHOLDERS.csrf]: escapeHtml(hidden.csrfToken),
        [PLACEHOLDERS.startedAt]: escapeHtml(hidden.startedAt),
        [PLACEHOLDERS.submission]: submissionId,
        [PLACEHOLDERS.tally]: tallyHtml(res, campaign, await countsPromise),
      };
      res
        .status(status)
        .type('html')
        .send(page.replace(PLACEHOLDER_PATTERN, (p) => fill[p] ?? p));
      return;
    }
    const counts = await countsPromise;
    res.status(status).render('campaign', pageModel(hidden.csrfToken, hidden.startedAt, submissionId, tallyHtml(res, campaign, counts), counts));

    function pageModel(csrfToken: string, startedAt: string, submission: string, tally: string, counts: CampaignCounts | null = null) {
      return modelFor(res, campaign, values, errors, extras, { csrfToken, startedAt, submissionId: submission, tallyHtml: tally, counts, phase });
    }
  };

  const modelFor = (
    res: Response,
    campaign: Campaign,
    values: LetterFormValues,
    errors: FormErrors,
    extras: PageExtras,
    hiddenFields: { csrfToken: string; startedAt: string; submissionId: string; tallyHtml: string; counts: CampaignCounts | null; phase: CampaignPhase },
  ) => {
    const t = res.locals.t as Translator;
    const lang = languageOf(res);
    const letterLang = letterLanguageOf(campaign, values);
    const lt = translator(letterLang);
    const writer = [values.firstName, values.lastName].filter(Boolean).join(' ') || lt('letter.yourName');
    const country = isCountryCode(values.country) ? countryName(values.country, letterLang) : lt('letter.yourCountry');
    // The preview: each chosen recipient with the salutation their copy opens with, then the letter
    // they all share after it (the page's script keeps it in step with the form).
    const chosen = values.recipients.map((id) => campaign.targetById.get(id)).filter((x) => x !== undefined);
    const exampleTarget = chosen[0] ?? campaign.targets[0]!;
    const previews = chosen.map((target) => ({ target, salutation: letterParts(campaign, target, values).salutation }));
    const { salutation: _salutation, ...shared } = letterParts(campaign, exampleTarget, values);
    const previewText = letterText({ ...shared, salutation: '', signatureName: writer, signatureCountry: country }).trimStart();
    res.locals.switchPath = `/c/${campaign.slug}`;
    return {
      ...hiddenFields,
      title: textsFor(campaign, lang).headline,
      texts: textsFor(campaign, lang),
      previews,
      previewText,
      preview: {
        from: fromName(campaign, writer, letterLang),
        footer: letterFooter(campaign, writer, country, site, letterLang),
        settings: Object.fromEntries(campaign.languages.map((l) => [l, letterSettings(campaign, l)])),
      },
      exampleSalutation: salutationFor(exampleTarget, letterLang),
      salutationsOf: (target: Campaign['targets'][number]) => JSON.stringify(Object.fromEntries(campaign.languages.map((l) => [l, salutationFor(target, l)]))),
      letterLanguages: campaign.languages.map((l) => ({ lang: l, name: LANGUAGE_NAMES[l] })),
      letterLang,
      ogUrl: `${deps.config.publicUrl}/c/${campaign.slug}`,
      captcha: deps.config.captcha ? { siteKey: deps.config.captcha.siteKey, ...CAPTCHA_WIDGETS[deps.config.captcha.provider] } : null,
      campaign,
      values,
      errors,
      extras,
      countries: countryOptions(lang),
      countryLabel: isCountryCode(values.country) ? countryName(values.country, lang) : '',
      groups: recipientGroups(campaign, isCountryCode(values.country) ? values.country : ''),
      fieldLabel: (f: string) => t(`form.${f}`),
      // Whether the subject and letter are still a prefilled version (the page's script then swaps them when the language changes).
      prefilled: isPrefilled(campaign, values),
    };
  };

  /** The form as first shown: the letter in the page's language when the campaign has it, recipients for the guessed country. */
  const freshValues = (req: Request, res: Response, campaign: Campaign): LetterFormValues => {
    const asked = typeof req.query.country === 'string' ? req.query.country.toUpperCase() : regionFromAcceptLanguage(req.get('accept-language'));
    return initialFormValues(campaign, { letterLanguage: letterLanguageFor(campaign, languageOf(res)), country: asked });
  };

  /** The form as first shown, from the cache of fresh pages (one per language and guessed country). */
  const renderFresh = (req: Request, res: Response, campaign: Campaign) => {
    const values = freshValues(req, res, campaign);
    return renderCampaign(req, res, campaign, values, {}, 200, {}, `fresh:${values.country}`);
  };

  router.get('/', async (req, res) => {
    const campaigns = deps.campaigns.list();
    if (campaigns.length === 1) return renderFresh(req, res, campaigns[0]!);
    const now = clock.now();
    const lang = languageOf(res);
    const entry = (c: Campaign) => ({ campaign: c, texts: textsFor(c, lang), phase: campaignPhase(c, now) });
    const all = campaigns.map(entry);
    res.render('campaign-list', {
      title: (res.locals.t as Translator)('list.title'),
      open: all.filter((e) => e.phase === 'open'),
      upcoming: all.filter((e) => e.phase === 'upcoming'),
      closed: all.filter((e) => e.phase === 'closed'),
    });
  });

  router.get('/c/:slug', async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    await renderFresh(req, res, campaign);
  });

  // The prefilled subject and letter in one of the campaign's languages (the page's script swaps them in).
  router.get('/c/:slug/letter/:lang.json', (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    const lang = req.params.lang as Language;
    if (!campaign || !campaign.texts.has(lang)) return next();
    const texts = textsFor(campaign, lang);
    res.set('Cache-Control', 'public, max-age=300');
    res.json({ lang, subject: texts.letter.subject, body: texts.letter.body });
  });

  router.post('/c/:slug/letters', parseForm, async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    const t = res.locals.t as Translator;
    const intent = req.body?.intent;
    if (intent === 'letter-language' || intent === 'country') return changeForm(req, res, campaign, intent);
    const phase = campaignPhase(campaign, clock.now());
    const result = parseLetterForm(campaign, req.body, t);
    if (phase !== 'open') {
      const values = formValues(campaign, result);
      deps.logger.info({ event: 'form-refused', reason: `campaign-${phase}` }, 'letter refused: the campaign is not open');
      return renderCampaign(req, res, campaign, values, {}, phase === 'closed' ? 410 : 403);
    }
    if (!result.ok) return renderCampaign(req, res, campaign, result.values, result.errors, 422);
    const submissionId = typeof req.body.submission === 'string' && isSubmissionId(req.body.submission) ? (req.body.submission as string) : undefined;
    const values = formValues(campaign, result);
    const verdict = guards.check(req, result.draft.email);
    if (!verdict.ok) {
      deps.logger.info({ event: 'form-refused', reason: verdict.reason }, 'letter refused by a form guard');
      return renderCampaign(req, res, campaign, values, { form: t(GUARD_MESSAGES[verdict.reason]) }, GUARD_STATUS[verdict.reason]);
    }

    /** The answer to a letter accepted, or to what the guards said instead. */
    const answer = async (outcome: SubmissionResult) => {
      switch (outcome.kind) {
        case 'limited':
          deps.logger.info({ event: 'form-refused', reason: outcome.reason }, 'letter refused by a form guard');
          res.set('Retry-After', String(outcome.retryAfterSeconds));
          return renderCampaign(req, res, campaign, values, { form: t(GUARD_MESSAGES[outcome.reason]) }, GUARD_STATUS[outcome.reason]);
        case 'accepted':
          countsCache.delete(campaign.slug);
          rememberLetter(req, res, outcome.token, deps.config.isProduction);
          return res.redirect(303, `/letters/${outcome.token}/sent`);
        case 'repeat':
          // The browser may have dropped the first response (a double click shows only the last one).
          rememberLetter(req, res, outcome.token, deps.config.isProduction);
          return res.redirect(303, `/letters/${outcome.token}/sent`);
        case 'in-progress':
          return renderCampaign(req, res, campaign, values, { form: t('submit.inProgress') }, 409);
        case 'already-wrote': {
          const names = outcome.taken.map((x) => campaign.targetById.get(x.targetId)?.institution ?? x.targetId).join(', ');
          const known = await knownLetters(req);
          const token = outcome.taken.map((x) => known.get(x.letterId)).find(Boolean);
          let message = t.plural('submit.alreadyWrote', outcome.taken.length, { names });
          if (!token) {
            message += ` ${t('submit.linkEmailed')}`;
            await deps
              .requestStatusLink({ campaign: campaign.slug, letterId: outcome.taken[0]!.letterId, targetIds: outcome.taken.map((x) => x.targetId) })
              .catch((err: unknown) => deps.logger.warn({ err }, 'could not queue the status-link email'));
          }
          return renderCampaign(req, res, campaign, values, { recipients: message }, 409, { existingLetterUrl: token ? `/letters/${token}` : undefined });
        }
      }
    };

    try {
      if (deps.config.captcha) {
        // The provider takes each answer once: a repeat of this form and letter (a double click, a re-send)
        // spent it on the first request, and gets that one's outcome without a check. A changed letter is checked.
        const earlier = await earlierSubmission(deps, result.draft, submissionId);
        if (earlier.kind !== 'none') return await answer(earlier);
        const answerField = (req.body as Record<string, unknown>)[CAPTCHA_WIDGETS[deps.config.captcha.provider].field];
        const captcha = await verifyCaptcha(deps.config.captcha, answerField, req.ip);
        if (captcha !== 'passed') {
          // A double click's second request may be checked while the first is still being checked: the answer
          // is spent by the time the first claims the form, so look again before refusing.
          if (captcha === 'failed') {
            const meanwhile = await earlierSubmission(deps, result.draft, submissionId);
            if (meanwhile.kind !== 'none') return await answer(meanwhile);
          }
          deps.logger.info({ event: 'form-refused', reason: `captcha-${captcha}` }, 'letter refused by the captcha');
          const message = captcha === 'failed' ? t('captcha.failed') : t('captcha.unavailable');
          return renderCampaign(req, res, campaign, values, { form: message }, captcha === 'failed' ? 422 : 503);
        }
      }
      const meta = { ipHash: verdict.ipHash, pageLanguage: languageOf(res) };
      return await answer(await submitLetter(deps, campaign, result.draft, submissionId, meta, verdict.limits));
    } catch (err) {
      if (!(err instanceof SubmissionUnavailableError)) throw err;
      deps.logger.error({ err: err.cause }, 'letter could not be accepted');
      res.set('Retry-After', '30');
      await renderCampaign(req, res, campaign, values, { form: t('submit.unavailable') }, 503);
    }
  });

  /**
   * The form's two buttons for browsers without JavaScript: "use this language" swaps in the prefilled
   * letter of the chosen language (unless the supporter edited it), "show the recipients for my country"
   * ticks the defaults for the chosen country. Nothing typed is lost; nothing is sent.
   */
  const changeForm = (req: Request, res: Response, campaign: Campaign, intent: 'letter-language' | 'country') => {
    const t = res.locals.t as Translator;
    const values = formValues(campaign, parseLetterForm(campaign, req.body, t));
    const extras: PageExtras = {};
    if (intent === 'letter-language') {
      const edited = !isPrefilled(campaign, values);
      const target = textsFor(campaign, values.letterLanguage);
      if (edited) extras.letterNote = t('letter.languageKept');
      else {
        values.subject = target.letter.subject;
        values.body = target.letter.body;
        extras.letterNote = t('letter.languageSwitched', { language: LANGUAGE_NAMES[target.lang] });
      }
    } else {
      values.recipients = initialFormValues(campaign, { country: values.country }).recipients;
    }
    return renderCampaign(req, res, campaign, values, {}, 200, extras);
  };

  router.get('/c/:slug/privacy', (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    const notice = campaign && textsFor(campaign, languageOf(res)).privacyNotice;
    if (!campaign || !notice) return next();
    const [heading, ...paragraphs] = notice;
    res.render('privacy', { title: heading, campaign, paragraphs, contentLang: textsFor(campaign, languageOf(res)).lang });
  });

  router.get('/c/:slug/stats.json', async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    const counts = await countsOrNull(campaign.slug);
    res.set('Cache-Control', 'public, max-age=5');
    if (!counts) return res.status(503).json({ error: 'counters unavailable' });
    res.json({ letters: counts.letters, deliveries: counts.deliveries, sent: sentTotal(counts), goal: campaign.goal });
  });

  /** Letter ids the supporter's browser holds status links for, to the token. */
  const knownLetters = async (req: Request): Promise<Map<string, string>> => {
    const map = new Map<string, string>();
    for (const token of readLetterCookie(req)) {
      const id = await deps.letters.findByToken(token).catch(() => undefined);
      if (id) map.set(id, token);
    }
    return map;
  };

  return router;
}

/** Placeholders in a cached fresh page, filled in on every view (letters, digits and underscores only, so escaping leaves them alone). */
const PLACEHOLDERS = { csrf: '__CSRF_7f3a9c__', startedAt: '__STARTED_7f3a9c__', submission: '__SUBMISSION_7f3a9c__', tally: '__TALLY_7f3a9c__' } as const;
const PLACEHOLDER_PATTERN = /__(?:CSRF|STARTED|SUBMISSION|TALLY)_7f3a9c__/g;

/** The form's values to show again: the checked draft when valid, else what was typed. */
function formValues(campaign: Campaign, result: LetterFormResult): LetterFormValues {
  if (!result.ok) return result.values;
  return { ...result.draft, keepInformed: !!result.draft.keepInformed, letterLanguage: letterLanguageOf(campaign, result.draft) };
}

/** True when the subject and letter are exactly one of the campaign's prefilled versions (not edited). */
function isPrefilled(campaign: Campaign, values: Pick<LetterFormValues, 'subject' | 'body'>): boolean {
  return campaign.languages.some((l) => {
    const texts = textsFor(campaign, l);
    return sameText(texts.letter.body, values.body) && sameText(texts.letter.subject, values.subject);
  });
}

function sameText(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/\r\n?/g, '\n').trim();
  return norm(a) === norm(b);
}

/** Emails that reached the provider, whatever happened after (sent, delivered, deferred, bounced, dropped). */
function sentTotal(counts: CampaignCounts): number {
  return [...SENT_STATES].reduce((n, s) => n + counts.byState[s], 0);
}

function isSubmissionId(v: string): boolean {
  return /^[A-Za-z0-9_-]{16,64}$/.test(v);
}
