import { Router } from 'express';
import type { AppDeps } from '../app.js';
import { adminAuth } from './admin-auth.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { exportRoutes } from './export-routes.js';
import { queueBoard } from './queue-board.js';

// Everything under /admin: the login, then (behind it) the dashboard, its actions and exports.

/** The /admin routes when a dashboard password is configured. */
export function adminRoutes(deps: AppDeps): Router {
  const auth = adminAuth(deps);
  const router = Router();
  router.use(auth.router);
  router.use('/admin', auth.requireAdmin);
  router.use(dashboardRoutes(deps, auth));
  router.use(exportRoutes(deps));
  router.use(queueBoard(deps));
  return router;
}

/** The /admin routes when no password is configured: a page saying how to turn the dashboard on. */
export function adminOffRoutes(): Router {
  const router = Router();
  router.use('/admin', (_req, res) => {
    res.status(404).render('error', {
      title: 'The dashboard is off',
      message: 'No campaigner password is configured. Set ADMIN_PASSWORD (or ADMIN_PASSWORD_HASH) and SESSION_SECRET, then restart.',
    });
  });
  return router;
}
