import { Router } from 'express';
import { Registry } from 'prom-client';
import type { AppDeps } from '../app.js';
import { addAppMetrics, scrape } from '../metrics.js';

// Prometheus's scrape address, for operators: off unless a bearer token is configured.

/**
 * GET /metrics (Prometheus text format) on `deps.metrics` (a fresh registry when not given): 401
 * without `Authorization: Bearer <METRICS_TOKEN>`, 503 when Redis does not answer. Without
 * METRICS_TOKEN nothing is mounted, so /metrics is a 404.
 */
export function metricsRoutes(deps: Pick<AppDeps, 'config' | 'campaigns' | 'log' | 'queue' | 'metrics'>): Router {
  const router = Router();
  const token = deps.config.metrics.token;
  if (!token) return router;
  const registry = addAppMetrics(deps.metrics ?? new Registry(), deps);
  router.get('/metrics', async (req, res) => {
    const answer = await scrape(registry, req.get('authorization'), token);
    res.status(answer.status).set(answer.headers).send(answer.body);
  });
  return router;
}
