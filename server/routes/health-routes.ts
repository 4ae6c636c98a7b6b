import { Router } from 'express';
import type { AppDeps } from '../app.js';

// Probes for load balancers and orchestrators.

/** GET /healthz: the process is up. GET /readyz: Redis answers and campaigns are loaded (503 otherwise), and whether sending is paused and why. */
export function healthRoutes(deps: Pick<AppDeps, 'redis' | 'campaigns' | 'control'>): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = { redis: false, campaigns: deps.campaigns.list().length > 0 };
    try {
      checks.redis = (await withTimeout(deps.redis.ping(), 1000)) === 'PONG';
    } catch {
      checks.redis = false;
    }
    const ready = checks.redis && checks.campaigns;
    // Sending paused (by a campaigner, or by the provider refusing the account) does not stop the web
    // side from taking letters, so it does not make the process unready; it is reported here.
    let sending: { paused: boolean; reason?: string } | undefined;
    if (checks.redis) {
      const status = await deps.control.status([]).catch(() => undefined);
      if (status) sending = status.paused ? { paused: true, reason: status.paused.reason } : { paused: false };
    }
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, sending });
  });
  return router;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
