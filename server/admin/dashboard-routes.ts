import { Router } from 'express';
import type { AppDeps } from '../app.js';
import type { AdminAuth } from './admin-auth.js';

// The campaigner dashboard (behind the login): the campaign's numbers, its chart, and its controls.

/** GET /admin and the dashboard pages and actions. */
export function dashboardRoutes(deps: AppDeps, auth: AdminAuth): Router {
  const router = Router();
  router.get('/admin', (_req, res) => {
    const first = deps.campaigns.list()[0]!;
    res.redirect(303, `/admin/c/${first.slug}`);
  });
  router.get('/admin/c/:slug', (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    res.render('admin/dashboard', { title: `Dashboard: ${campaign.name}`, campaign, csrfToken: auth.csrfToken(req, res) });
  });
  return router;
}
