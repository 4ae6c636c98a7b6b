import { Redis } from 'ioredis';
import { systemClock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { redisKeys } from '../../domain/redis-keys.js';
import { startWorker } from './app-process.js';
import { progress, type BenchContext } from './context.js';
import { callsBetween, commandCalls, redisCpuMs } from './redis-commands.js';
import { seedLetters, setQueuePaused } from './seed-letters.js';

// One drain: letters queued through the product's submission path (pacing off), the queue paused
// while `workers` real worker processes start, then released; the rate is taken from the fake
// provider's receive times, and every delivery must be recorded sent exactly once.

/** The drain's outcome: deliveries, sends per second (first to last receive), the time it took and the worker processes' CPU per send. */
export interface DrainResult {
  deliveries: number;
  sendsPerSecond: number;
  seconds: number;
  cpuMsPerSend: number;
  /** Redis commands run during the drain per delivery (scripts count once, plus the commands they call). */
  redisCommandsPerSend: number;
  /** Redis's CPU time during the drain per delivery. */
  redisCpuMsPerSend: number;
}

export const DRAIN_RECIPIENTS = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];

export async function drain(ctx: BenchContext, p: { prefix: string; letters: number; workers: number; concurrency: number }): Promise<DrainResult> {
  const deliveries = await seedLetters({
    redisUrl: ctx.redis.url,
    prefix: p.prefix,
    campaign: ctx.campaign,
    count: p.letters,
    recipients: DRAIN_RECIPIENTS,
    bodyBytes: 2048,
  });
  await setQueuePaused(ctx.redis.url, p.prefix, true);
  const env = { PACING: 'off', SEND_RATE_PER_SECOND: '10000', WORKER_CONCURRENCY: String(p.concurrency) };
  const workers = await Promise.all(
    Array.from({ length: p.workers }, (_, i) =>
      startWorker(`${p.prefix}-worker${i + 1}`, { redisUrl: ctx.redis.url, prefix: p.prefix, fake: ctx.fake, logDir: ctx.logDir, extra: env }),
    ),
  );
  const redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  try {
    ctx.fake.reset();
    const cpu0 = workers.reduce((sum, w) => sum + w.cpuMs(), 0);
    const calls0 = await commandCalls(redis);
    const redisCpu0 = await redisCpuMs(redis);
    await setQueuePaused(ctx.redis.url, p.prefix, false);
    await ctx.fake.waitFor(deliveries, 600_000);
    const cpuMs = workers.reduce((sum, w) => sum + w.cpuMs(), 0) - cpu0;
    const calls = callsBetween(calls0, await commandCalls(redis));
    const redisCpuMsPerSend = ((await redisCpuMs(redis)) - redisCpu0) / deliveries;
    const perSend = (n: number) => (n / deliveries).toFixed(2);
    progress(`${p.prefix}: Redis commands per delivery: ${calls.map(([name, n]) => `${name} ${perSend(n)}`).join(', ')}`);
    const times = ctx.fake.times.slice();
    const log = new DeliveryLog(redis, redisKeys(p.prefix), systemClock, 1_000_000);
    const end = Date.now() + 30_000;
    while ((await log.counts(ctx.campaign.slug)).byState.sent !== deliveries) {
      if (Date.now() > end) throw new Error(`drain: not every delivery was recorded sent: ${JSON.stringify((await log.counts(ctx.campaign.slug)).byState)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    if (ctx.fake.times.length !== deliveries) throw new Error(`drain: the provider got ${ctx.fake.times.length} requests for ${deliveries} deliveries`);
    const seconds = (times[times.length - 1]! - times[0]!) / 1000;
    const redisCommandsPerSend = calls.reduce((sum, [, n]) => sum + n, 0) / deliveries;
    return { deliveries, sendsPerSecond: (deliveries - 1) / seconds, seconds, cpuMsPerSend: cpuMs / deliveries, redisCommandsPerSend, redisCpuMsPerSend };
  } finally {
    redis.disconnect();
    await Promise.all(workers.map((w) => w.stop()));
  }
}
