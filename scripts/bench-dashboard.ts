// Benchmark: the campaigner dashboard costs the same with 1,000 letters as with many more, because
// every number comes from counters kept at write time.
//   npx tsx scripts/bench-dashboard.ts [letters=200000]
// Fills a throw-away key prefix on the Redis at REDIS_URL (default 127.0.0.1:6379) with real letter
// records (3 recipients each, states spread as in a running campaign), times the dashboard's reads at
// 1,000 letters and at the full count, prints a table, and deletes its keys.
import path from 'node:path';
import { Redis } from 'ioredis';
import { APP_ROOT } from '../domain/app-root.js';
import { readDashboard } from '../domain/campaign-dashboard.js';
import { loadCampaigns } from '../domain/campaign.js';
import { systemClock } from '../domain/clock.js';
import { DeliveryLog } from '../domain/delivery-log.js';
import type { DeliveryEvent } from '../domain/delivery-states.js';
import { LetterStore } from '../domain/letter-store.js';
import { PaceBook } from '../domain/pace-book.js';
import { redisKeys } from '../domain/redis-keys.js';
import { SendingControl } from '../domain/sending-control.js';

const total = Number(process.argv[2] ?? 200_000);
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `bench-dash-${process.pid}`;
const keys = redisKeys(prefix);
const redis = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: null });
const campaign = loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns')).list()[0]!;
const letters = new LetterStore(redis, keys, systemClock, 1000);
const log = new DeliveryLog(redis, keys, systemClock, 1000);
const deps = {
  redis,
  keys,
  log,
  paceBook: new PaceBook(redis, keys, systemClock),
  control: new SendingControl(redis, keys, systemClock),
  clock: systemClock,
  pacing: true,
};
const countries = ['FR', 'DE', 'GB', 'US', 'CA', 'AU', 'TW', 'HK', 'JP', 'BR'];
const targets = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];
const paths: DeliveryEvent[][] = [
  [],
  ['send-started', 'provider-accepted'],
  ['send-started', 'provider-accepted', 'provider-delivered'],
  ['send-started', 'permanent-error'],
];

async function fill(from: number, to: number): Promise<void> {
  const inFlight = 256;
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const { letterId } = await letters.create(campaign, {
        firstName: 'Bench',
        lastName: `Writer ${i}`,
        email: `w${i}@example.net`,
        country: countries[i % countries.length]!,
        recipients: targets,
        subject: campaign.letter.subject,
        body: 'I am writing about Huang Xueqin and Wang Jianbing. Please release them.',
      });
      const events = paths[i % paths.length]!;
      for (const t of targets)
        for (const e of events)
          await log.apply(
            campaign.slug,
            letterId,
            t,
            e,
            e === 'provider-accepted' ? { messageId: 'm' } : e === 'permanent-error' ? { error: 'refused (400)' } : {},
          );
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

async function time(runs = 20): Promise<{ p50: number; p95: number }> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await readDashboard(deps, campaign);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(runs / 2)]!, p95: samples[Math.floor(runs * 0.95)]! };
}

async function cleanup(): Promise<void> {
  let cursor = '0';
  do {
    const [c, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 5000);
    cursor = c;
    if (found.length) await redis.unlink(...found);
  } while (cursor !== '0');
}

try {
  const rows: string[][] = [];
  const started = performance.now();
  await fill(0, 1000);
  const small = await time();
  rows.push(['1,000', small.p50.toFixed(2), small.p95.toFixed(2)]);
  await fill(1000, total);
  const fillSeconds = (performance.now() - started) / 1000;
  const large = await time();
  rows.push([total.toLocaleString('en'), large.p50.toFixed(2), large.p95.toFixed(2)]);
  const used = (await redis.info('memory')).match(/used_memory:(\d+)/)?.[1];
  console.log(
    `dashboard read (readDashboard: counters, chart buckets, forecast, problems), 20 runs each; filled ${total.toLocaleString('en')} letters x 3 recipients in ${fillSeconds.toFixed(0)} s`,
  );
  console.log('| letters | p50 ms | p95 ms |');
  console.log('| ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(
    `ratio p50 (large / small): ${(large.p50 / small.p50).toFixed(2)}; Redis used_memory after fill: ${used ? (Number(used) / 1e6).toFixed(0) : '?'} MB (whole server)`,
  );
} finally {
  await cleanup();
  await redis.quit();
}
