import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { APP_ROOT } from '../../domain/app-root.js';
import { loadCampaigns } from '../../domain/campaign.js';
import { systemClock } from '../../domain/clock.js';
import { DeliveryLog } from '../../domain/delivery-log.js';
import { LetterStore } from '../../domain/letter-store.js';
import { applyProviderEvents } from '../../domain/provider-events.js';
import { redisKeys } from '../../domain/redis-keys.js';
import { SendingControl } from '../../domain/sending-control.js';
import { applyRetention } from '../../jobs/retention.js';
import { startWorker } from './app-process.js';
import { fmt, progress, type BenchContext, type Row } from './context.js';
import { describeFamilies, footprint, sum, type Family } from './redis-footprint.js';
import { seedLetters } from './seed-letters.js';

// Scenario 4: Redis bytes per letter (3 recipients, 2 KB text) while queued, after delivery (every
// copy sent and reported delivered by the provider's webhook; the delivery log kept), and after the
// retention period (counts only), summed over the prefix's keys.

const RECIPIENTS = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];
const RETENTION_DAYS = 180;

export async function memoryScenario(ctx: BenchContext): Promise<{ rows: Row[]; details: string[] }> {
  const letters = ctx.quick ? 300 : 3000;
  const deliveries = letters * RECIPIENTS.length;
  const prefix = 'bench-memory';
  const keys = redisKeys(prefix);
  const redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  const details: string[] = [];
  try {
    const empty = await footprint(redis, prefix);
    progress(`memory: ${fmt(letters)} letters queued`);
    await seedLetters({ redisUrl: ctx.redis.url, prefix, campaign: ctx.campaign, count: letters, recipients: RECIPIENTS, bodyBytes: 2048 });
    const queued = await footprint(redis, prefix);
    details.push(`queued: ${describeFamilies(queued)}`);

    progress('memory: delivering');
    ctx.fake.reset();
    const worker = await startWorker('memory-worker', {
      redisUrl: ctx.redis.url,
      prefix,
      fake: ctx.fake,
      logDir: ctx.logDir,
      extra: { PACING: 'off', SEND_RATE_PER_SECOND: '10000', RETENTION_DAYS: String(RETENTION_DAYS) },
    });
    const log = new DeliveryLog(redis, keys, systemClock, 1_000_000);
    try {
      await ctx.fake.waitFor(deliveries, 300_000);
      while ((await log.counts(ctx.campaign.slug)).byState.sent !== deliveries) await new Promise((r) => setTimeout(r, 100));
      // Let BullMQ remove the completed jobs (removeOnComplete) before measuring.
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await worker.stop();
    }
    // The provider reports every copy delivered, through the webhook's own path (one event each).
    progress('memory: provider events');
    const campaigns = loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns'));
    const control = new SendingControl(redis, keys, systemClock);
    const letterIds = await redis.zrange(keys.letterIndex(ctx.campaign.slug), 0, -1);
    let moved = 0;
    for (let i = 0; i < letterIds.length; i += 200) {
      const events = letterIds.slice(i, i + 200).flatMap((letter) =>
        RECIPIENTS.map((target) => ({
          event: 'delivered',
          sg_event_id: randomBytes(16).toString('base64url'),
          timestamp: Math.floor(Date.now() / 1000),
          campaign: ctx.campaign.slug,
          letter,
          target,
        })),
      );
      moved += (await applyProviderEvents({ log, control, campaigns, redis, keys }, events)).moved;
    }
    if (moved !== deliveries) throw new Error(`memory: ${moved} of ${deliveries} deliveries reported delivered`);
    const delivered = await footprint(redis, prefix);
    details.push(`delivered: ${describeFamilies(delivered)}`);

    progress('memory: retention');
    const later = { now: () => Date.now() + (RETENTION_DAYS + 1) * 86_400_000 };
    const letterStore = new LetterStore(redis, keys, later, 1_000_000);
    const { deleted } = await applyRetention({
      redis,
      keys,
      campaigns,
      letters: letterStore,
      clock: later,
      logger: pino({ level: 'silent' }),
      retentionDays: RETENTION_DAYS,
    });
    if (deleted !== letters) throw new Error(`memory: retention deleted ${deleted} of ${letters} letters`);
    const retained = await footprint(redis, prefix);
    details.push(`after retention: ${describeFamilies(retained)}`);

    // What grows with the letters: every key but the capped streams (BullMQ's event stream and the
    // campaign's transition log, a fixed cost once full: see the details) and, after the retention
    // period, but keys that expire sooner than that period (one-time form ids, the last hour's sends).
    const growing = (f: Family) => !f.stream;
    const lasting = (f: Family) => !f.stream && (f.maxTtlMs === -1 || f.maxTtlMs === 0 || f.maxTtlMs > RETENTION_DAYS * 86_400_000);
    const streams = (m: Map<string, Family>) => sum(m, (f) => f.stream);
    const perLetter = (sum(queued, growing) - sum(empty, growing)) / letters;
    const perDelivered = (sum(delivered, growing) - sum(empty, growing)) / deliveries;
    const perRetained = (sum(retained, lasting) - sum(empty, lasting)) / deliveries;
    const withStreams = (m: Map<string, Family>, per: number) => `${fmt((sum(m) - sum(empty)) / per)} B with the streams`;
    details.push(
      `capped streams after delivery: ${fmt(streams(delivered) / 1024)} KB for ${fmt(deliveries)} deliveries (${fmt(streams(delivered) / deliveries)} B each until the caps are reached)`,
    );
    const n = `${fmt(letters)} letters x 3`;
    return {
      details,
      rows: [
        {
          scenario: `4. Redis per queued letter (${n}, 2 KB text)`,
          product: `${fmt(perLetter)} B`,
          baseline: withStreams(queued, letters),
          ratio: '',
          target: '<= 4,096 B',
          pass: perLetter <= 4096,
        },
        {
          scenario: '4. Redis per delivered recipient (log kept, text deleted)',
          product: `${fmt(perDelivered)} B`,
          baseline: withStreams(delivered, deliveries),
          ratio: '',
          target: '<= 600 B',
          pass: perDelivered <= 600,
        },
        {
          scenario: `4. Redis per recipient after retention (${RETENTION_DAYS} d)`,
          product: `${fmt(perRetained)} B`,
          baseline: withStreams(retained, deliveries),
          ratio: '',
          target: '<= 200 B',
          pass: perRetained <= 200,
        },
      ],
    };
  } finally {
    redis.disconnect();
  }
}
