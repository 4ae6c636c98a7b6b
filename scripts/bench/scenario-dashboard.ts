import { Redis } from 'ioredis';
import { redisKeys } from '../../domain/redis-keys.js';
import { BENCH_ADMIN_PASSWORD, startWeb } from './app-process.js';
import type { BenchChild } from './child-process.js';
import { fmt, progress, type BenchContext, type Row } from './context.js';
import { seedRecords } from './seed-records.js';

// Scenario 5: the campaigner's dashboard page and the CSV export over HTTP from the real web process,
// at 1,000 and at 1,000,000 delivery records (seeded with pipelined writes); the web process's
// resident memory is sampled during the export.

const RECIPIENTS = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];

export async function dashboardScenario(ctx: BenchContext): Promise<Row[]> {
  const large = ctx.quick ? 100_000 : 1_000_000;
  const prefix = 'bench-dashboard';
  const keys = redisKeys(prefix);
  const redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: null });
  const web = await startWeb('dashboard-web', { redisUrl: ctx.redis.url, prefix, fake: ctx.fake, logDir: ctx.logDir });
  try {
    const cookie = await login(web.base);
    const page = `${web.base}/admin/c/${ctx.campaign.slug}`;
    await seedRecords(redis, keys, ctx.campaign, RECIPIENTS, 1000);
    const small = { page: await timePage(page, cookie), export: await timeExport(`${page}/export.csv`, cookie, web.child) };
    // The export's memory is compared between a tenth of the records and all of them (at 1,000 rows the
    // export ends before the process's buffers reach their working size).
    const mid = large / 10;
    progress(`dashboard: seeding ${fmt(large)} records`);
    const t0 = Date.now();
    await seedRecords(redis, keys, ctx.campaign, RECIPIENTS, mid - 1000, 1000);
    const midExport = await timeExport(`${page}/export.csv`, cookie, web.child);
    await seedRecords(redis, keys, ctx.campaign, RECIPIENTS, large - mid, mid);
    progress(`dashboard: seeded in ${fmt((Date.now() - t0) / 1000)} s`);
    const big = { page: await timePage(page, cookie), export: await timeExport(`${page}/export.csv`, cookie, web.child) };
    if (small.export.rows !== 1000 || midExport.rows !== mid || big.export.rows !== large)
      throw new Error(`export rows: ${small.export.rows} and ${big.export.rows}`);
    const pageRatio = big.page.p50 / small.page.p50;
    const mb = (b: number) => `${fmt(b / 1_048_576)} MB`;
    return [
      {
        scenario: `5. dashboard page p50 (20 loads), ${fmt(large)} vs 1,000 records`,
        product: `${fmt(big.page.p50, 1)} ms (p95 ${fmt(big.page.p95, 1)})`,
        baseline: `${fmt(small.page.p50, 1)} ms (p95 ${fmt(small.page.p95, 1)})`,
        ratio: fmt(pageRatio, 2),
        target: '<= 2.00',
        pass: pageRatio <= 2,
      },
      {
        scenario: `5. CSV export of ${fmt(large)} records`,
        product: `${fmt(big.export.rowsPerSecond)} rows/s (${fmt(big.export.seconds, 1)} s)`,
        baseline: '',
        ratio: '',
        target: '',
        pass: null,
      },
      {
        scenario: '5. web process peak RSS during the export',
        product: `${mb(big.export.peakRss)} at ${fmt(large)} rows`,
        baseline: `${mb(midExport.peakRss)} at ${fmt(mid)} rows (${mb(small.export.peakRss)} at 1,000)`,
        ratio: fmt(big.export.peakRss / midExport.peakRss, 2),
        target: '<= 1.20, < 300 MB',
        pass: big.export.peakRss <= midExport.peakRss * 1.2 && big.export.peakRss < 300 * 1_048_576,
      },
    ];
  } finally {
    redis.disconnect();
    await web.child.stop();
  }
}

/** Logs in as the campaigner; resolves with the Cookie header. */
async function login(base: string): Promise<string> {
  const page = await fetch(`${base}/admin/login`);
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!token) throw new Error('no CSRF token on the login page');
  const jar = new Map<string, string>();
  const keep = (res: Response) => res.headers.getSetCookie().forEach((c) => jar.set(c.split('=')[0]!, c.split(';')[0]!));
  keep(page);
  const res = await fetch(`${base}/admin/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...jar.values()].join('; ') },
    body: new URLSearchParams({ _csrf: token, password: BENCH_ADMIN_PASSWORD, next: '/admin' }).toString(),
  });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  keep(res);
  return [...jar.values()].join('; ');
}

async function timePage(url: string, cookie: string, runs = 20): Promise<{ p50: number; p95: number }> {
  const samples: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { cookie } });
    await res.text();
    if (res.status !== 200) throw new Error(`dashboard answered ${res.status}`);
    if (i >= 2) samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(runs / 2)]!, p95: samples[Math.floor(runs * 0.95)]! };
}

async function timeExport(url: string, cookie: string, web: BenchChild): Promise<{ rows: number; seconds: number; rowsPerSecond: number; peakRss: number }> {
  let peakRss = web.rss();
  const timer = setInterval(() => (peakRss = Math.max(peakRss, web.rss())), 50);
  const t0 = performance.now();
  const res = await fetch(url, { headers: { cookie } });
  if (res.status !== 200 || !res.body) throw new Error(`export answered ${res.status}`);
  let lines = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) for (const b of chunk) if (b === 10) lines++;
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  peakRss = Math.max(peakRss, web.rss());
  return { rows: lines - 1, seconds, rowsPerSecond: (lines - 1) / seconds, peakRss };
}
