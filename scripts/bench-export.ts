import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { APP_ROOT } from '../domain/app-root.js';
import { loadCampaigns } from '../domain/campaign.js';
import { deliveryCsv, type ExportFilter } from '../domain/delivery-export.js';
import { newLetterId } from '../domain/ids.js';
import { redisKeys } from '../domain/redis-keys.js';
import { deliveryRecord } from './bench/seed-records.js';

// Benchmark of the CSV export: fills a throw-away key prefix on the local Redis with N delivery
// records (letters stored as LetterStore.create stores them), times the real export generator
// writing to /dev/null, prints rows/s and peak memory, and deletes the prefix again.
//   npx tsx scripts/bench-export.ts [rows]      (default 200000; REDIS_URL, default redis://127.0.0.1:6379)

const ROWS = Number(process.argv[2] ?? 200_000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RECIPIENTS = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];
const COUNTRIES = ['FR', 'GB', 'US', 'DE', 'NL', 'CA', 'AU', 'TW'];
const DAY = 86_400_000;

if (!Number.isInteger(ROWS) || ROWS < 1) {
  process.stderr.write('usage: npx tsx scripts/bench-export.ts [rows]\n');
  process.exit(2);
}

const prefix = `bench-export-${randomBytes(4).toString('hex')}`;
const keys = redisKeys(prefix);
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const campaign = loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns')).list()[0]!;

/** Writes `rows` deliveries as letters of three recipients (the last letter may have fewer), pipelined. */
async function fill(rows: number): Promise<number> {
  const letters = Math.ceil(rows / RECIPIENTS.length);
  const start = Date.UTC(2026, 0, 1);
  const step = Math.max(1, Math.floor((30 * DAY) / letters));
  let written = 0;
  for (let first = 0; first < letters; first += 1000) {
    const pipeline = redis.pipeline();
    for (let n = first; n < Math.min(first + 1000, letters); n++) {
      const at = start + n * step;
      const recipients = RECIPIENTS.slice(0, Math.min(RECIPIENTS.length, rows - written));
      const id = newLetterId();
      const fields: Record<string, string> = {
        c: campaign.slug,
        fn: n % 50 === 0 ? '=HYPERLINK("x")' : `Ana${n}`,
        ln: 'Lima, de Souza',
        em: `supporter${n}@example.net`,
        co: COUNTRIES[n % COUNTRIES.length]!,
        su: campaign.letter.subject,
        bo: campaign.letterBody,
        at: String(at),
        r: recipients.join(','),
      };
      recipients.forEach((t, k) => (fields[`d:${t}`] = deliveryRecord(at, n * 3 + k).json));
      pipeline.hset(keys.letter(id), fields).zadd(keys.letterIndex(campaign.slug), at, id);
      written += recipients.length;
    }
    await pipeline.exec();
  }
  return written;
}

/** Exports to /dev/null through the real generator, sampling memory; returns rows, seconds and peaks. */
async function timeExport(filter: ExportFilter) {
  const out = createWriteStream('/dev/null');
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const timer = setInterval(sample, 10);
  let lines = 0;
  const t0 = process.hrtime.bigint();
  for await (const chunk of deliveryCsv(redis, keys, campaign, filter)) {
    for (let i = chunk.indexOf('\r\n'); i !== -1; i = chunk.indexOf('\r\n', i + 2)) lines++;
    if (!out.write(chunk)) await once(out, 'drain');
    sample();
  }
  out.end();
  await once(out, 'finish');
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(timer);
  return { rows: lines - 1, seconds, rssBefore: before.rss, peakRss, heapBefore: before.heapUsed, peakHeap };
}

async function cleanup(): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 5000);
    cursor = next;
    if (found.length) await redis.unlink(...found);
  } while (cursor !== '0');
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(0)} MB`;

async function main(): Promise<void> {
  process.on('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });
  try {
    const t0 = Date.now();
    const rows = await fill(ROWS);
    const info = await redis.info('memory');
    process.stdout.write(
      `filled ${rows.toLocaleString('en')} deliveries (${Math.ceil(ROWS / 3).toLocaleString('en')} letters) under {${prefix}} in ${((Date.now() - t0) / 1000).toFixed(1)} s; redis used_memory ${/used_memory_human:(\S+)/.exec(info)?.[1]}\n\n`,
    );
    const results = [];
    for (const [name, filter] of [
      ['ids and states', {}],
      ['with personal data', { personal: true }],
    ] as const) {
      const r = await timeExport(filter);
      if (r.rows !== rows) throw new Error(`exported ${r.rows} rows, expected ${rows}`);
      results.push({ name, ...r });
    }
    const header = ['export', 'rows', 'seconds', 'rows/s', 'RSS before', 'peak RSS', 'heap before', 'peak heap'];
    const table = results.map((r) => [
      r.name,
      r.rows.toLocaleString('en'),
      r.seconds.toFixed(2),
      Math.round(r.rows / r.seconds).toLocaleString('en'),
      mb(r.rssBefore),
      mb(r.peakRss),
      mb(r.heapBefore),
      mb(r.peakHeap),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |\n`;
    process.stdout.write(line(header) + `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n` + table.map(line).join(''));
  } finally {
    await cleanup();
    await redis.quit();
  }
}

await main();
