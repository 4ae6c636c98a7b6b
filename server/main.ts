import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { CampaignFileError, loadCampaigns, type CampaignRegistry } from '../domain/campaign.js';
import { systemClock } from '../domain/clock.js';
import { redisKeys } from '../domain/redis-keys.js';
import { createOutboxTransport } from '../jobs/transports/outbox-transport.js';
import { createSendGridTransport } from '../jobs/transports/sendgrid-transport.js';
import { createWorker } from '../jobs/worker.js';
import { WorkerMetrics } from '../jobs/worker-metrics.js';
import { buildAppDeps } from './web-deps.js';
import { workerSettingsFrom } from './worker-settings.js';
import { createApp } from './app.js';
import { ConfigError, deliverySettingWarnings, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { addProcessMetrics, serveMetrics } from './metrics.js';
import { ensureRedis, RedisUnavailableError, type PrivateRedis } from './redis-launcher.js';
import { webRedis, whenReady, workerRedis } from './redis-connections.js';

// The program: `main.ts all` (web and worker in one process, the default), `main.ts web`, `main.ts worker`.

type Mode = 'all' | 'web' | 'worker';
type Stopper = () => Promise<void>;

async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'all') as Mode;
  if (!['all', 'web', 'worker'].includes(mode)) fail(`Unknown mode "${mode}": use all, web or worker.`);

  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const logger = createLogger(config.logLevel, `appeal-letters-${mode}`);

  let campaigns: CampaignRegistry;
  try {
    campaigns = loadCampaigns(config.campaignsDir);
  } catch (err) {
    if (err instanceof CampaignFileError) fail(`Campaign files are not valid, so nothing was started.\n  ${err.message}`);
    throw err;
  }
  for (const c of campaigns.list()) {
    logger.info({ campaign: c.slug, targets: c.targets.length }, 'campaign loaded');
    if (c.reviewBeforeLaunch) logger.warn({ campaign: c.slug }, `review before launch: ${c.reviewBeforeLaunch}`);
    const unreviewed = [...c.texts.values()].filter((t) => t.review !== undefined && t.review.trim().toLowerCase() !== 'reviewed').map((t) => t.lang);
    if (unreviewed.length)
      logger.warn({ campaign: c.slug, languages: unreviewed }, `translations not yet reviewed by a native speaker: ${unreviewed.join(', ')}`);
  }

  const stoppers: Stopper[] = [];
  let privateRedis: PrivateRedis | undefined;
  if (mode === 'all') {
    try {
      privateRedis = await ensureRedis(config.redisUrl, config.dataDir);
    } catch (err) {
      if (err instanceof RedisUnavailableError) fail(err.message);
      throw err;
    }
    if (privateRedis) logger.info({ dataDir: config.dataDir }, 'started a private redis-server (append-only file on)');
  }

  const keys = redisKeys(config.redisPrefix);
  // One Prometheus registry for the process: in "all" mode the worker's send metrics show on the web
  // app's /metrics; a worker process serves its own on METRICS_PORT. None unless METRICS_TOKEN is set.
  const { token: metricsToken, port: metricsPort } = config.metrics;
  const metrics = metricsToken && (mode === 'all' || (mode === 'worker' && metricsPort)) ? new Registry() : undefined;
  if (mode !== 'web') stoppers.push(await startWorker(config, campaigns, keys, logger, metrics));
  if (mode !== 'worker') stoppers.push(await startWeb(config, campaigns, keys, logger, metrics));
  if (mode === 'worker' && metrics && metricsToken && metricsPort)
    stoppers.push(await startMetricsServer(config.host, metricsPort, metricsToken, metrics, logger));

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing in-flight work');
    const force = setTimeout(() => {
      logger.error('shutdown took over 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    // Web first (stop taking letters), then the worker (finish sends), then Redis.
    for (const stop of stoppers.reverse()) await stop().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
    await privateRedis?.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function startWeb(config: Config, campaigns: CampaignRegistry, keys: ReturnType<typeof redisKeys>, logger: Logger, metrics?: Registry): Promise<Stopper> {
  // One connection for the app's own commands, one for the queues (see buildAppDeps); the process exits if either cannot connect.
  const connect = async (name: string) => {
    const connection = webRedis(config.redisUrl);
    connection.on('error', (err) => logger.warn({ err: err.message }, `web ${name} connection error`));
    await whenReady(connection).catch((err: Error) => fail(`${err.message} at ${new URL(config.redisUrl).host}`));
    return connection;
  };
  const redis = await connect('redis');
  const queueRedis = await connect('queue redis');
  if (!config.admin) logger.warn('the campaigner dashboard (/admin) is off: set ADMIN_PASSWORD or ADMIN_PASSWORD_HASH (and SESSION_SECRET) to turn it on');
  const { deps, queue, supporterQueue } = buildAppDeps({ config, campaigns, redis, queueRedis, keys, logger, clock: systemClock });
  if (metrics) deps.metrics = metrics;
  const app = createApp(deps);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info({ port, transport: config.mail.transport }, `web: listening on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`);
  if (config.mail.transport === 'outbox') logger.info(`outbox transport: letters are kept, not emailed; see http://localhost:${port}/outbox`);
  return async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await queue.close();
    await supporterQueue.close();
    await quit(queueRedis);
    await quit(redis);
  };
}

async function startWorker(
  config: Config,
  campaigns: CampaignRegistry,
  keys: ReturnType<typeof redisKeys>,
  logger: Logger,
  metrics?: Registry,
): Promise<Stopper> {
  const connection = workerRedis(config.redisUrl);
  connection.on('error', (err) => logger.warn({ err: err.message }, 'worker redis connection error'));
  await whenReady(connection).catch((err: Error) => fail(`${err.message} at ${new URL(config.redisUrl).host}`));
  for (const warning of deliverySettingWarnings(config)) logger.warn(warning);
  const transport =
    config.mail.transport === 'sendgrid' && config.mail.sendgrid
      ? createSendGridTransport(config.mail.sendgrid)
      : createOutboxTransport(connection, keys, systemClock, config.outboxMax);
  const worker = createWorker({
    connection,
    keys,
    logger,
    campaigns,
    transport,
    clock: systemClock,
    metrics: metrics ? new WorkerMetrics(metrics) : undefined,
    settings: workerSettingsFrom(config),
  });
  logger.info(
    { transport: transport.name, concurrency: config.delivery.concurrency, ratePerSecond: config.delivery.ratePerSecond },
    'worker: delivering letters',
  );
  return async () => {
    await worker.close();
    await quit(connection);
  };
}

/** A worker process's /metrics (process metrics, send latency, provider errors) on its own port. */
async function startMetricsServer(host: string, port: number, token: string, registry: Registry, logger: Logger): Promise<Stopper> {
  addProcessMetrics(registry);
  const server = await serveMetrics(registry, { host, port, token }).catch((err: Error) =>
    fail(`METRICS_PORT: cannot listen on ${host}:${port} (${err.message})`),
  );
  logger.info({ port }, `worker metrics: http://${host === '0.0.0.0' ? 'localhost' : host}:${port}/metrics (bearer token required)`);
  return async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  };
}

async function quit(redis: Redis): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}

function fail(message: string): never {
  process.stderr.write(`appeal-letters: ${message}\n`);
  process.exit(1);
}

await main();
