import express, { Router, type Response } from 'express';
import type { Campaign } from '../../domain/campaign.js';
import { countryOptions } from '../../domain/countries.js';
import type { CampaignCounts } from '../../domain/delivery-log.js';
import { initialFormValues, parseLetterForm, type LetterFormResult, type LetterFormValues } from '../../domain/letter-form.js';
import { SubmissionUnavailableError, submitLetter } from '../../domain/letter-submission.js';
import type { AppDeps } from '../app.js';

// The campaign page, its form, and the public counters.

type FormErrors = Extract<LetterFormResult, { ok: false }>['errors'];

/** GET /, GET /c/:slug, POST /c/:slug/letters, GET /c/:slug/stats.json. */
export function campaignRoutes(deps: AppDeps): Router {
  const router = Router();
  const parseForm = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 100 });

  const countsOrNull = async (slug: string): Promise<CampaignCounts | null> => {
    try {
      return await deps.log.counts(slug);
    } catch (err) {
      deps.logger.warn({ err }, 'campaign counters unavailable');
      return null;
    }
  };

  const renderCampaign = async (res: Response, campaign: Campaign, values: LetterFormValues, errors: FormErrors, status = 200) => {
    res.status(status).render('campaign', {
      title: campaign.headline,
      campaign,
      values,
      errors,
      counts: await countsOrNull(campaign.slug),
      countries: countryOptions(),
      officials: campaign.targets.filter((t) => t.country === 'all'),
      embassies: campaign.targets.filter((t) => t.country !== 'all'),
    });
  };

  router.get('/', async (_req, res) => {
    const campaigns = deps.campaigns.list();
    if (campaigns.length === 1) return renderCampaign(res, campaigns[0]!, initialFormValues(campaigns[0]!), {});
    res.render('campaign-list', { title: 'Campaigns', campaigns });
  });

  router.get('/c/:slug', async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    await renderCampaign(res, campaign, initialFormValues(campaign), {});
  });

  router.post('/c/:slug/letters', parseForm, async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    const result = parseLetterForm(campaign, req.body);
    if (!result.ok) return renderCampaign(res, campaign, result.values, result.errors, 422);
    try {
      const { token } = await submitLetter(deps, campaign, result.draft);
      res.redirect(303, `/letters/${token}/sent`);
    } catch (err) {
      if (!(err instanceof SubmissionUnavailableError)) throw err;
      deps.logger.error({ err: err.cause }, 'letter could not be accepted');
      res.set('Retry-After', '30');
      await renderCampaign(
        res,
        campaign,
        { ...result.draft },
        {
          form: 'Your letter could not be accepted just now because of a problem on our side. Nothing was sent and your text is still here: please try again in a minute.',
        },
        503,
      );
    }
  });

  router.get('/c/:slug/stats.json', async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    const counts = await countsOrNull(campaign.slug);
    res.set('Cache-Control', 'public, max-age=5');
    if (!counts) return res.status(503).json({ error: 'counters unavailable' });
    res.json({ letters: counts.letters, deliveries: counts.deliveries, sent: counts.byState.sent, goal: campaign.goal });
  });

  return router;
}
