import { Router } from 'express';
import { readOutbox } from '../../jobs/transports/outbox-transport.js';
import type { AppDeps } from '../app.js';

// The development outbox: what the outbox transport "sent". Not mounted in production.

/** GET /outbox: the newest messages kept by the outbox transport. */
export function outboxRoutes(deps: Pick<AppDeps, 'redis' | 'keys' | 'config'>): Router {
  const router = Router();
  router.get('/outbox', async (_req, res) => {
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex, nofollow' });
    const messages = await readOutbox(deps.redis, deps.keys, 100);
    res.render('outbox', { title: 'Outbox (development)', messages, transport: deps.config.mail.transport });
  });
  return router;
}
