import express, { Router, type Request, type Response } from 'express';
import type { Campaign } from '../../domain/campaign.js';
import { countryName } from '../../domain/countries.js';
import { FINAL_STATES, GLOSSARY } from '../../domain/delivery-states.js';
import type { StoredLetter } from '../../domain/letter-store.js';
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
      res.status(404).render('error', {
        title: 'Letter not found',
        message: 'This status link does not open any letter. Check that the whole link was copied; if the letter was deleted, its status is gone too.',
      });
      return undefined;
    }
    return { letter, campaign };
  };

  const view = (req: Request, letter: StoredLetter, campaign: Campaign) => ({
    campaign,
    letter,
    countryName: countryName(letter.country),
    statusUrl: `${deps.config.publicUrl}/letters/${String(req.params.token)}`,
    deliveries: letter.deliveries.map(({ targetId, record }) => ({
      target: campaign.targetById.get(targetId) ?? { id: targetId, name: targetId, title: '', institution: '' },
      record,
      label: GLOSSARY[record.state].label,
      meaning: GLOSSARY[record.state].meaning,
      final: FINAL_STATES.has(record.state),
    })),
  });

  router.get('/letters/:token', async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    const model = view(req, found.letter, found.campaign);
    res.render('letter-status', { title: 'Your letter', ...model, allFinal: model.deliveries.every((d) => d.final) });
  });

  // Deleting one's data: a page that says what will happen, and a POST (with a CSRF token) that does it.
  router.get('/letters/:token/delete', async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    const model = view(req, found.letter, found.campaign);
    res.render('letter-delete', { title: 'Delete your letter', ...model, csrfToken: guards.fields(req, res).csrfToken, token: String(req.params.token) });
  });

  router.post('/letters/:token/delete', parseForm, async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    if (!guards.validCsrf(req)) {
      const model = view(req, found.letter, found.campaign);
      return res.status(403).render('letter-delete', {
        title: 'Delete your letter',
        ...model,
        csrfToken: guards.fields(req, res).csrfToken,
        token: String(req.params.token),
        error: 'This page had expired, so nothing was deleted. Please press the button again.',
      });
    }
    const result = await withdrawLetter({ letters: deps.letters, log: deps.log, queue: deps.queue }, found.letter.id);
    deps.logger.info({ event: 'letter-withdrawn', letter: found.letter.id, ...result }, 'a writer deleted their letter');
    res.render('letter-deleted', { title: 'Your letter has been deleted', campaign: found.campaign, result });
  });

  // Double opt-in: the link in the confirmation email opens a page with a button (a GET never
  // confirms, so mail scanners that open links cannot confirm for the writer).
  const confirmGone = (res: Response) =>
    res.status(404).render('error', {
      title: 'This link has expired',
      message:
        'This confirmation link has expired or has already been used. If your letter was not confirmed in time, it has been deleted: you are welcome to write again.',
    });

  router.get('/confirm/:token', async (req, res) => {
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex, nofollow', 'Referrer-Policy': 'no-referrer' });
    const letterId = await deps.confirmation.find(String(req.params.token));
    const letter = letterId ? await deps.letters.get(letterId) : undefined;
    const campaign = letter ? deps.campaigns.get(letter.campaign) : undefined;
    if (!letter || !campaign) return confirmGone(res);
    res.render('letter-confirm', {
      title: 'Confirm your letter',
      campaign,
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
    res.render('letter-sent', { title: 'Thank you for writing', ...view(req, found.letter, found.campaign) });
  });

  return router;
}
