import express, { Router, type Request, type Response } from 'express';
import { textsFor, type Campaign } from '../../domain/campaign.js';
import { countryName } from '../../domain/countries.js';
import { FINAL_STATES } from '../../domain/delivery-states.js';
import { LANGUAGE_NAMES, type Translator } from '../../domain/i18n.js';
import { letterLanguageOf } from '../../domain/letter-email.js';
import type { StoredLetter } from '../../domain/letter-store.js';
import { languageOf } from '../middleware/page-language.js';
import { withdrawLetter } from '../../jobs/letter-removal.js';
import type { AppDeps } from '../app.js';
import type { FormGuards } from '../form-guards.js';
import { rememberLetter } from '../letter-cookie.js';

// The supporter's private pages, opened by the unguessable token in the status link.

/** GET /letters/:token (status), GET /letters/:token/sent (confirmation), GET and POST /letters/:token/delete. */
export function letterRoutes(deps: AppDeps, guards: FormGuards): Router {
  const router = Router();
  const parseForm = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  const load = async (req: Request, res: Response): Promise<{ letter: StoredLetter; campaign: Campaign } | undefined> => {
    // Status pages are private: never cached, never indexed, never sent as a referrer.
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex, nofollow' });
    const letterId = await deps.letters.findByToken(String(req.params.token));
    const letter = letterId ? await deps.letters.get(letterId) : undefined;
    const campaign = letter ? deps.campaigns.get(letter.campaign) : undefined;
    if (!letter || !campaign) {
      const t = res.locals.t as Translator;
      res.status(404).render('error', { title: t('error.letterNotFound.title'), message: t('error.letterNotFound.message') });
      return undefined;
    }
    return { letter, campaign };
  };

  const view = (req: Request, res: Response, letter: StoredLetter, campaign: Campaign) => {
    const lang = languageOf(res);
    const letterLang = letterLanguageOf(campaign, letter);
    return {
      campaign,
      texts: textsFor(campaign, lang),
      campaignName: textsFor(campaign, lang).name,
      letter,
      countryName: countryName(letter.country, lang),
      letterLang,
      letterLanguageName: LANGUAGE_NAMES[letterLang],
      letterCountryName: countryName(letter.country, letterLang),
      closing: textsFor(campaign, letterLang).letter.closing,
      statusUrl: `${deps.config.publicUrl}/letters/${String(req.params.token)}`,
      deliveries: letter.deliveries.map(({ targetId, record }) => ({
        target: campaign.targetById.get(targetId) ?? { id: targetId, name: targetId, title: '', institution: '' },
        record,
        final: FINAL_STATES.has(record.state),
      })),
    };
  };
  const tr = (res: Response) => res.locals.t as Translator;

  router.get('/letters/:token', async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    const model = view(req, res, found.letter, found.campaign);
    res.render('letter-status', { title: tr(res)('status.title'), ...model, allFinal: model.deliveries.every((d) => d.final) });
  });

  // Deleting one's data: a page that says what will happen, and a POST (with a CSRF token) that does it.
  router.get('/letters/:token/delete', async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    const model = view(req, res, found.letter, found.campaign);
    res.render('letter-delete', { title: tr(res)('delete.title'), ...model, csrfToken: guards.fields(req, res).csrfToken, token: String(req.params.token) });
  });

  router.post('/letters/:token/delete', parseForm, async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    if (!guards.validCsrf(req)) {
      const model = view(req, res, found.letter, found.campaign);
      return res.status(403).render('letter-delete', {
        title: tr(res)('delete.title'),
        ...model,
        csrfToken: guards.fields(req, res).csrfToken,
        token: String(req.params.token),
        error: tr(res)('delete.expired'),
      });
    }
    const result = await withdrawLetter({ letters: deps.letters, log: deps.log, queue: deps.queue }, found.letter.id);
    deps.logger.info({ event: 'letter-withdrawn', letter: found.letter.id, ...result }, 'a writer deleted their letter');
    res.render('letter-deleted', { title: tr(res)('deleted.title'), campaign: found.campaign, texts: textsFor(found.campaign, languageOf(res)), result });
  });

  // Double opt-in: the link in the confirmation email opens a page with a button (a GET never
  // confirms, so mail scanners that open links cannot confirm for the writer).
  const confirmGone = (res: Response) =>
    res.status(404).render('error', { title: tr(res)('error.linkExpired.title'), message: tr(res)('error.linkExpired.message') });

  router.get('/confirm/:token', async (req, res) => {
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex, nofollow', 'Referrer-Policy': 'no-referrer' });
    const letterId = await deps.confirmation.find(String(req.params.token));
    const letter = letterId ? await deps.letters.get(letterId) : undefined;
    const campaign = letter ? deps.campaigns.get(letter.campaign) : undefined;
    if (!letter || !campaign) return confirmGone(res);
    res.render('letter-confirm', {
      title: tr(res)('confirm.title'),
      campaign,
      texts: textsFor(campaign, languageOf(res)),
      letter,
      token: String(req.params.token),
      csrfToken: guards.fields(req, res).csrfToken,
    });
  });

  router.post('/confirm/:token', parseForm, async (req, res) => {
    res.set({ 'Cache-Control': 'no-store' });
    const token = String(req.params.token);
    const letterId = await deps.confirmation.find(token);
    if (!letterId) return confirmGone(res);
    if (!guards.validCsrf(req)) return res.redirect(303, `/confirm/${token}`);
    const result = await deps.confirmation.confirm(token);
    if (result === 'unknown') return confirmGone(res);
    deps.logger.info({ event: 'letter-confirmed', letter: letterId }, 'a writer confirmed their letter');
    const statusToken = await deps.letters.addToken(letterId);
    rememberLetter(req, res, statusToken, deps.config.isProduction);
    res.redirect(303, `/letters/${statusToken}/sent`);
  });

  router.get('/letters/:token/sent', async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    res.render('letter-sent', { title: tr(res)('sent.title'), ...view(req, res, found.letter, found.campaign) });
  });

  return router;
}
