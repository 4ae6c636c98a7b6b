import path from 'node:path';
import type { Queue } from 'bullmq';
import { pino } from 'pino';
import { APP_ROOT } from '../../domain/app-root.js';
import { loadCampaigns, type CampaignRegistry } from '../../domain/campaign.js';
import { systemClock, type Clock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { createLetterEmailRenderer } from '../../domain/letter-email.js';
import { LetterStore } from '../../domain/letter-store.js';
import { SendingControl } from '../../domain/sending-control.js';
import type { DeliveryScheduler } from '../../domain/letter-submission.js';
import { createDeliveryQueue, createQueueScheduler, type DeliveryJob } from '../../jobs/delivery-queue.js';
import type { MailTransport } from '../../jobs/transports/mail-transport.js';
import { createWorker, type DeliveryWorker } from '../../jobs/worker.js';
import { createApp } from '../../server/app.js';
import { loadConfig, type Config } from '../../server/config.js';
import { testRedis, type TestRedis } from './redis.js';

export { formEncode, validForm } from './forms.js';

// Builds the real application pieces on an isolated Redis prefix, for HTTP and integration tests.

export const SHIPPED_CAMPAIGN = 'free-huang-xueqin-wang-jianbing';
export const silentLogger = pino({ level: 'silent' });

export interface Harness {
  t: TestRedis;
  config: Config;
  campaigns: CampaignRegistry;
  letters: LetterStore;
  log: DeliveryLog;
  control: SendingControl;
  queue: Queue<DeliveryJob>;
  app: ReturnType<typeof createApp>;
  /** Starts a worker with `transport`; it is closed by close(). */
  startWorker(transport: MailTransport, opts?: { concurrency?: number; ratePerSecond?: number }): DeliveryWorker;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** Replaces the queue scheduler (e.g. one that fails, to simulate the queue being down). */
  scheduler?: DeliveryScheduler;
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
    ...options.env,
  });
  const clock = options.clock ?? systemClock;
  const campaigns = loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns'));
  const letters = new LetterStore(t.redis, t.keys, clock);
  const log = new DeliveryLog(t.redis, t.keys, clock);
  const queue = createDeliveryQueue(t.redis, t.keys);
  const control = new SendingControl(t.redis, t.keys, clock);
  const app = createApp({
    config,
    campaigns,
    letters,
    log,
    scheduler: options.scheduler ?? createQueueScheduler(queue, config.delivery),
    control,
    redis: t.redis,
    keys: t.keys,
    logger: silentLogger,
  });
  const workers: DeliveryWorker[] = [];
  return {
    t,
    config,
    campaigns,
    letters,
    log,
    control,
    queue,
    app,
    startWorker(transport, opts = {}) {
      const connection = t.workerConnection();
      const w = createWorker({
        connection,
        keys: t.keys,
        logger: silentLogger,
        campaigns,
        letters: new LetterStore(connection, t.keys, clock),
        log: new DeliveryLog(connection, t.keys, clock),
        transport,
        render: createLetterEmailRenderer(path.join(APP_ROOT, 'templates', 'emails'), { mailFrom: config.mail.from, publicUrl: config.publicUrl }),
        concurrency: opts.concurrency ?? 4,
        rateLimit: { max: opts.ratePerSecond ?? 1000, durationMs: 1000 },
      });
      workers.push(w);
      return w;
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await queue.close();
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
