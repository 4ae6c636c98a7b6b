import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import type { CampaignCounts } from '../domain/delivery-log.js';
import { DELIVERY_STATES } from '../domain/delivery-states.js';
import type { AppDeps } from './app.js';

// Prometheus metrics, on a registry owned by each app (never prom-client's global one): Node's process
// metrics, and gauges read from Redis at each scrape (letters, deliveries per state, queue jobs).
// Labels carry campaign slugs and state names only, never anything a supporter typed.

/**
 * The queue states the queue gauge reports. BullMQ 6 has no "paused" list any more (a paused queue
 * keeps its jobs in "waiting"), so whether the queue is paused is its own gauge.
 */
export const QUEUE_STATES = ['waiting', 'delayed', 'active', 'failed', 'prioritized'] as const;

/** Adds Node's process metrics (CPU, memory, event loop, GC) to `registry`, once: a second call changes nothing. */
export function addProcessMetrics(registry: Registry): void {
  if (registry.getSingleMetric('process_cpu_user_seconds_total')) return;
  collectDefaultMetrics({ register: registry });
}

/**
 * Adds the process metrics and the campaign and queue gauges to `registry` (once; a second call
 * changes nothing). The gauges read Redis when scraped, so a scrape rejects when Redis does.
 */
export function addAppMetrics(registry: Registry, deps: Pick<AppDeps, 'campaigns' | 'log' | 'queue'>): Registry {
  addProcessMetrics(registry);
  if (registry.getSingleMetric('appeal_letters_letters_total')) return registry;

  // One read of each campaign's counters per scrape, shared by the two gauges that use them.
  let inFlight: Promise<Map<string, CampaignCounts>> | undefined;
  const counts = () =>
    (inFlight ??= (async () => {
      const slugs = deps.campaigns.list().map((c) => c.slug);
      const all = await Promise.all(slugs.map((slug) => deps.log.counts(slug)));
      return new Map(slugs.map((slug, i) => [slug, all[i]!]));
    })().finally(() => {
      inFlight = undefined;
    }));

  new Gauge({
    name: 'appeal_letters_letters_total',
    help: 'Letters written, per campaign.',
    labelNames: ['campaign'],
    registers: [registry],
    async collect() {
      const byCampaign = await counts();
      this.reset();
      for (const [campaign, c] of byCampaign) this.set({ campaign }, c.letters);
    },
  });
  new Gauge({
    name: 'appeal_letters_deliveries',
    help: 'Deliveries (one letter to one recipient), per campaign and current state.',
    labelNames: ['campaign', 'state'],
    registers: [registry],
    async collect() {
      const byCampaign = await counts();
      this.reset();
      for (const [campaign, c] of byCampaign) for (const state of DELIVERY_STATES) this.set({ campaign, state }, c.byState[state]);
    },
  });
  new Gauge({
    name: 'appeal_letters_queue_jobs',
    help: 'Jobs in the delivery queue, per queue state.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const jobs = await deps.queue.getJobCounts(...QUEUE_STATES);
      this.reset();
      for (const state of QUEUE_STATES) this.set({ state }, jobs[state] ?? 0);
    },
  });
  new Gauge({
    name: 'appeal_letters_queue_paused',
    help: 'Whether the delivery queue itself is paused in BullMQ (1) or not (0); the sending switches are on /readyz.',
    registers: [registry],
    async collect() {
      this.set((await deps.queue.isPaused()) ? 1 : 0);
    },
  });
  return registry;
}

/** True when `authorization` is "Bearer <token>"; compared in constant time (as SHA-256 digests, so length leaks nothing). */
export function hasBearerToken(authorization: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
  const a = createHash('sha256')
    .update(given ?? '')
    .digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

/** A scrape's answer: 200 with the registry's text, 401 without the right bearer token, 503 when a gauge's read failed. */
export async function scrape(
  registry: Registry,
  authorization: string | undefined,
  token: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (!hasBearerToken(authorization, token)) {
    return {
      status: 401,
      headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'WWW-Authenticate': 'Bearer realm="metrics"' },
      body: 'A bearer token is required.\n',
    };
  }
  try {
    return { status: 200, headers: { ...headers, 'Content-Type': registry.contentType }, body: await registry.metrics() };
  } catch {
    return { status: 503, headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }, body: 'Metrics are unavailable: Redis did not answer.\n' };
  }
}

/**
 * Serves `registry` at http://host:port/metrics with node:http, to the bearer token only (404 for any
 * other path), for worker processes, which have no web app. Resolves once listening; rejects when the
 * port cannot be opened.
 */
export function serveMetrics(registry: Registry, options: { host: string; port: number; token: string }): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found.\n');
      return;
    }
    void scrape(registry, req.headers.authorization, options.token).then((r) => {
      res.writeHead(r.status, r.headers).end(req.method === 'HEAD' ? undefined : r.body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
