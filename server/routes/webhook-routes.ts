import express, { Router } from 'express';
import { z } from 'zod';
import { systemClock } from '../../domain/clock.js';
import { applyProviderEvents } from '../../domain/provider-events.js';
import type { AppDeps } from '../app.js';
import { SIGNATURE_HEADER, sendgridSignatureVerifier, TIMESTAMP_HEADER } from '../sendgrid-signature.js';

// The mail provider's reports on letters already sent: SendGrid's signed Event Webhook.

const batchSchema = z.array(z.unknown());

/**
 * POST /webhooks/sendgrid: 401 unless signed by SendGrid's key and recent, 400 unless a JSON array,
 * else 200 with what was applied, or 503 when some events name a digest part not recorded yet (the rest
 * are applied and remembered; SendGrid retries the batch). Mounted only when SENDGRID_WEBHOOK_PUBLIC_KEY
 * is set (404 otherwise). Throws at start-up on a key it cannot read; a Redis failure answers 500 and SendGrid retries.
 */
export function webhookRoutes(deps: Pick<AppDeps, 'config' | 'log' | 'control' | 'campaigns' | 'redis' | 'keys' | 'logger' | 'clock'>): Router {
  const router = Router();
  const { publicKey, maxAgeSeconds } = deps.config.webhook;
  if (!publicKey) return router;
  const verify = sendgridSignatureVerifier(publicKey, { maxAgeSeconds, clock: deps.clock ?? systemClock });

  router.post('/webhooks/sendgrid', express.raw({ type: '*/*', limit: '5mb' }), async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const check = verify({ signature: req.get(SIGNATURE_HEADER), timestamp: req.get(TIMESTAMP_HEADER) }, rawBody);
    if (!check.ok) {
      deps.logger.warn({ reason: check.reason }, 'provider webhook refused');
      return res.status(401).json({ error: 'invalid signature' });
    }
    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString('utf8'));
    } catch {
      body = undefined;
    }
    const batch = batchSchema.safeParse(body);
    if (!batch.success) return res.status(400).json({ error: 'expected a JSON array of events' });
    const { applied, duplicates, ignored, notYet, moved } = await applyProviderEvents(deps, batch.data);
    deps.logger.info({ events: batch.data.length, applied, duplicates, ignored, notYet, moved }, 'provider events');
    // Any status but 2xx makes SendGrid send the batch again later; what was applied now counts as duplicates then.
    if (notYet > 0) return res.status(503).json({ applied, duplicates, ignored, notYet });
    res.json({ applied, duplicates, ignored });
  });

  return router;
}
