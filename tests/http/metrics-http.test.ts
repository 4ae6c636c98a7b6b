import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../../jobs/worker-metrics.js';
import { createApp } from '../../server/app.js';
import { ConfigError, loadConfig } from '../../server/config.js';
import { serveMetrics } from '../../server/metrics.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { recordingTransport } from '../support/recording-transport.js';

// GET /metrics for Prometheus: behind a bearer token, Redis-backed gauges that match the campaign's
// letters and the queue, and the worker's send latency and provider errors on the same registry.

const TOKEN = 'metrics-token-0123456789abcdef';
const QUEUE_STATES = ['waiting', 'delayed', 'active', 'failed', 'prioritized'] as const;

let h: Harness;
let registry: Registry;
let app: ReturnType<typeof createApp>;
beforeAll(() => {
  h = createHarness('metrics', { env: { METRICS_TOKEN: TOKEN } });
  registry = new Registry();
  app = createApp({ ...h.deps, metrics: registry });
});
afterAll(() => h.close());

const scrape = () => request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200);

/**
 * The samples of a Prometheus text exposition, by series ("name{labels}"); throws on a line that is
 * not one. Prometheus reads NaN and Inf in any case (prom-client writes "Nan").
 */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-][Ii]nf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

const post = (form: Record<string, string | string[]>) => expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, form), 303);

describe('the metrics endpoint', () => {
  it('when no token, another scheme or a wrong token is given, then it answers 401 and shows nothing', async () => {
    const none = await request(app).get('/metrics').expect(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expect(none.text).not.toContain('appeal_letters');
    await request(app).get('/metrics').set('Authorization', 'Bearer metrics-token-0123456789abcdeX').expect(401);
    await request(app).get('/metrics').set('Authorization', 'Bearer short').expect(401);
    await request(app).get('/metrics').set('Authorization', `Basic ${TOKEN}`).expect(401);
    await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}x`).expect(401);
  });

  it('when METRICS_TOKEN is not configured, then /metrics does not exist (404), whatever is sent', async () => {
    const off = createHarness('metrics-off');
    try {
      await request(off.app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(404);
    } finally {
      await off.close();
    }
  });

  it('when scraped with the token, then every line is Prometheus text and letters and deliveries by state match the letters written', async () => {
    await post(validForm({ email: 'one@example.net', firstName: 'Uno', recipients: ['gz-psb', 'gz-procuratorate', 'embassy-fr'] }));
    await post(validForm({ email: 'two@example.net', firstName: 'Dos', country: 'GB', recipients: ['embassy-gb'] }));
    const res = await scrape();
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    const m = parseProm(res.text);
    expect(m.get(`appeal_letters_letters_total{campaign="${SHIPPED_CAMPAIGN}"}`)).toBe(2);
    expect(m.get(`appeal_letters_deliveries{campaign="${SHIPPED_CAMPAIGN}",state="queued"}`)).toBe(4);
    expect(m.get(`appeal_letters_deliveries{campaign="${SHIPPED_CAMPAIGN}",state="sent"}`)).toBe(0);
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    for (const personal of ['one@example.net', 'two@example.net', 'Uno', 'Dos', 'Lima']) expect(res.text).not.toContain(personal);
  });

  it('when jobs are queued, then the queue gauge equals the queue\u2019s own counts', async () => {
    const counts = await h.queue.getJobCounts(...QUEUE_STATES);
    const m = parseProm((await scrape()).text);
    for (const state of QUEUE_STATES) expect(m.get(`appeal_letters_queue_jobs{state="${state}"}`), state).toBe(counts[state]);
    expect(counts.waiting! + counts.prioritized! + counts.delayed!).toBe(4);
    expect(m.get('appeal_letters_queue_paused')).toBe(0);
  });

  it('when a worker with metrics on the same registry delivers the letters, then sends, their latency and the provider errors are counted', async () => {
    const transport = recordingTransport();
    transport.failNext('transient');
    h.startWorker(transport, {}, undefined, new WorkerMetrics(registry));
    await eventually(async () => ((await h.log.counts(SHIPPED_CAMPAIGN)).byState.sent === 4 ? true : undefined), 15_000);
    const m = parseProm((await scrape()).text);
    expect(m.get('appeal_letters_send_duration_seconds_count{transport="recording",outcome="sent"}')).toBe(4);
    expect(m.get('appeal_letters_send_duration_seconds_count{transport="recording",outcome="transient"}')).toBe(1);
    expect(m.get('appeal_letters_send_duration_seconds_bucket{le="+Inf",transport="recording",outcome="sent"}')).toBe(4);
    expect(m.get('appeal_letters_provider_errors_total{transport="recording",kind="transient",status="503"}')).toBe(1);
    expect(m.get(`appeal_letters_deliveries{campaign="${SHIPPED_CAMPAIGN}",state="sent"}`)).toBe(4);
    expect(m.get(`appeal_letters_deliveries{campaign="${SHIPPED_CAMPAIGN}",state="queued"}`)).toBe(0);
    expect(m.get('appeal_letters_queue_jobs{state="waiting"}')).toBe(0);
    await h.closeWorkers();
  });

  it('when Redis does not answer a scrape, then the answer is 503 instead of made-up numbers', async () => {
    const log = Object.create(h.deps.log) as typeof h.deps.log;
    log.counts = () => Promise.reject(new Error('down'));
    const res = await request(createApp({ ...h.deps, log, metrics: new Registry() }))
      .get('/metrics')
      .set('Authorization', `Bearer ${TOKEN}`)
      .expect(503);
    expect(res.text).toMatch(/Redis did not answer/);
  });
});

describe("a worker process's metrics server", () => {
  it('when METRICS_PORT is used, then /metrics there needs the same token and shows the send metrics', async () => {
    const own = new Registry();
    const metrics = new WorkerMetrics(own);
    await metrics.timeSend('outbox', async () => ({ messageId: 'x' }));
    const server = await serveMetrics(own, { host: '127.0.0.1', port: 0, token: TOKEN });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await request(base).get('/metrics').expect(401);
      await request(base).get('/other').set('Authorization', `Bearer ${TOKEN}`).expect(404);
      const res = await request(base).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200);
      expect(parseProm(res.text).get('appeal_letters_send_duration_seconds_count{transport="outbox",outcome="sent"}')).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe('metrics configuration', () => {
  it('when METRICS_TOKEN is short or METRICS_PORT comes without it, then start-up fails naming the variable', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'too-short' })).toThrow(/METRICS_TOKEN: must be at least 16 characters/);
    expect(() => loadConfig({ METRICS_PORT: '9464' })).toThrow(ConfigError);
    expect(() => loadConfig({ METRICS_PORT: '9464' })).toThrow(/METRICS_TOKEN: is required when METRICS_PORT is set/);
    expect(() => loadConfig({ METRICS_TOKEN: TOKEN, METRICS_PORT: 'nine' })).toThrow(/METRICS_PORT: must be a number/);
    expect(loadConfig({ METRICS_TOKEN: TOKEN, METRICS_PORT: '9464' }).metrics).toEqual({ token: TOKEN, port: 9464 });
    expect(loadConfig({}).metrics).toEqual({ token: undefined, port: undefined });
  });
});
