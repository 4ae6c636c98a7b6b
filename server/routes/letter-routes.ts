import { Router, type Request, type Response } from 'express';
import type { Campaign } from '../../domain/campaign.js';
import { countryName } from '../../domain/countries.js';
import { FINAL_STATES, GLOSSARY } from '../../domain/delivery-states.js';
import type { StoredLetter } from '../../domain/letter-store.js';
import type { AppDeps } from '../app.js';

// The supporter's private pages, opened by the unguessable token in the status link.

/** GET /letters/:token (status) and GET /letters/:token/sent (confirmation). */
export function letterRoutes(deps: AppDeps): Router {
  const router = Router();

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

  router.get('/letters/:token/sent', async (req, res) => {
    const found = await load(req, res);
    if (!found) return;
    res.render('letter-sent', { title: 'Thank you for writing', ...view(req, found.letter, found.campaign) });
  });

  return router;
}
