import path from 'node:path';
import type { Queue } from 'bullmq';
import { pino } from 'pino';
import { APP_ROOT } from '../../domain/app-root.js';
import { loadCampaigns, type CampaignRegistry } from '../../domain/campaign.js';
import { systemClock, type Clock } from '../../domain/clock.js';
import type { DeliveryLog } from '../../domain/delivery-log.js';
import type { LetterStore } from '../../domain/letter-store.js';
import type { DeliveryScheduler } from '../../domain/letter-submission.js';
import { PaceBook } from '../../domain/pace-book.js';
import type { SendingControl } from '../../domain/sending-control.js';
import type { QueueJobData } from '../../jobs/delivery-queue.js';
import type { SupporterMailJob } from '../../jobs/supporter-mail.js';
import type { MailTransport } from '../../jobs/transports/mail-transport.js';
import { createWorker, type DeliveryWorker, type WorkerDeps } from '../../jobs/worker.js';
import type { WorkerMetrics } from '../../jobs/worker-metrics.js';
import { createApp, type AppDeps } from '../../server/app.js';
import { loadConfig, type Config } from '../../server/config.js';
import { buildAppDeps } from '../../server/web-deps.js';
import { workerSettingsFrom } from '../../server/worker-settings.js';
import { testRedis, type TestRedis } from './redis.js';

export { expectStatus, formEncode, postLetter, validForm } from './forms.js';

// Builds the real application pieces on an isolated Redis prefix, for HTTP and integration tests.

export const SHIPPED_CAMPAIGN = 'free-huang-xueqin-wang-jianbing';
export const silentLogger = pino({ level: 'silent' });

export interface Harness {
  t: TestRedis;
  config: Config;
  campaigns: CampaignRegistry;
  deps: AppDeps;
  letters: LetterStore;
  log: DeliveryLog;
  control: SendingControl;
  paceBook: PaceBook;
  queue: Queue<QueueJobData>;
  supporterQueue: Queue<SupporterMailJob>;
  app: ReturnType<typeof createApp>;
  /** Starts a worker with `transport` (observing its sends on `metrics` when given); it is closed by close(). */
  startWorker(transport: MailTransport, settings?: Partial<WorkerDeps['settings']>, clock?: Clock, metrics?: WorkerMetrics): DeliveryWorker;
  /** Stops the workers started so far (letting their jobs in flight finish). */
  closeWorkers(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** Replaces the queue scheduler (e.g. one that fails, to simulate the queue being down). */
  scheduler?: DeliveryScheduler;
  /** Campaigns other than the shipped ones (default: templates/campaigns). */
  campaigns?: CampaignRegistry;
}

/** The application on a fresh prefix, with the shipped campaign loaded. */
export function createHarness(name: string, options: HarnessOptions = {}): Harness {
  const t = testRedis(name);
  const config = loadConfig({
    NODE_ENV: 'test',
    REDIS_URL: t.url,
    REDIS_PREFIX: t.prefix,
    PUBLIC_URL: 'https://letters.example.org',
    SEND_BACKOFF_MS: '100',
    SEND_ATTEMPTS: '4',
    // The letter-path tests send many letters to the same recipients at once; pacing tests switch it on.
    PACING: 'off',
    // The form's guards are tested on their own (tests/security); elsewhere they must not get in the way.
    FORM_MIN_FILL_SECONDS: '0',
    FORM_LIMIT_PER_IP: '100000',
    FORM_LIMIT_PER_EMAIL: '1000',
    ...options.env,
  });
  const clock = options.clock ?? systemClock;
  const campaigns = options.campaigns ?? loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns'));
  const { deps, queue, supporterQueue } = buildAppDeps({ config, campaigns, redis: t.redis, keys: t.keys, logger: silentLogger, clock });
  if (options.scheduler) deps.scheduler = options.scheduler;
  const app = createApp(deps);
  const workers: DeliveryWorker[] = [];
  return {
    t,
    config,
    campaigns,
    deps,
    letters: deps.letters,
    log: deps.log,
    control: deps.control,
    paceBook: new PaceBook(t.redis, t.keys, clock),
    queue,
    supporterQueue,
    app,
    startWorker(transport, settings = {}, workerClock = clock, metrics) {
      const w = createWorker({
        metrics,
        connection: t.workerConnection(),
        keys: t.keys,
        logger: silentLogger,
        campaigns,
        transport,
        clock: workerClock,
        settings: { ...workerSettingsFrom(config), concurrency: 4, ratePerSecond: 1000, supporterMailRatePerSecond: 1000, ...settings },
      });
      workers.push(w);
      return w;
    },
    async closeWorkers() {
      await Promise.all(workers.splice(0).map((w) => w.close()));
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await queue.close();
      await supporterQueue.close();
      await t.cleanup();
    },
  };
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
