// Screenshots for the documentation: `npm run screenshots`.
// Starts the app on a throw-away key prefix of the Redis at REDIS_URL (default 127.0.0.1:6379; a
// private redis-server is started when none answers), writes a few letters that end in several
// states (sent, failed, held, in a digest, queued), takes full-page screenshots with Debian's
// chromium (CHROMIUM_PATH) into docs/screenshots/, prints their list, and deletes its keys.
// The PNGs are reduced to 256 colours with pngquant when it is installed (Debian: apt-get install
// pngquant), which keeps each under ~600 KB; without it they are kept as chromium wrote them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { chromium, type Page } from 'playwright-core';
import { pino } from 'pino';
import { APP_ROOT } from '../domain/app-root.js';
import { loadCampaigns } from '../domain/campaign.js';
import { systemClock } from '../domain/clock.js';
import { redisKeys } from '../domain/redis-keys.js';
import { workerSettingsFrom } from '../server/worker-settings.js';
import { createWorker } from '../jobs/worker.js';
import { createApp } from '../server/app.js';
import { loadConfig } from '../server/config.js';
import { ensureRedis } from '../server/redis-launcher.js';
import { buildAppDeps } from '../server/web-deps.js';
import { postLetter, validForm } from '../tests/support/forms.js';
import { recordingTransport } from '../tests/support/recording-transport.js';

const OUT = path.join(APP_ROOT, 'docs', 'screenshots');
const PASSWORD = 'screenshots-password-not-secret';
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `shots-${process.pid}`;
const logger = pino({ level: 'silent' });

const redisDir = mkdtempSync(path.join(os.tmpdir(), 'appeal-letters-shots-'));
const privateRedis = await ensureRedis(url, redisDir);
const redis = new Redis(url, { maxRetriesPerRequest: 1 });
const workerConnections: Redis[] = [];
const keys = redisKeys(prefix);
const config = loadConfig({
  NODE_ENV: 'test',
  REDIS_URL: url,
  REDIS_PREFIX: prefix,
  PUBLIC_URL: 'https://letters.example.org',
  PACING: 'off',
  FORM_MIN_FILL_SECONDS: '0',
  FORM_LIMIT_PER_IP: '100000',
  ADMIN_PASSWORD: PASSWORD,
  SESSION_SECRET: 'screenshots-secret-screenshots-secret-1234',
  LOG_LEVEL: 'silent',
});
const campaigns = loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns'));
const slug = campaigns.list()[0]!.slug;
const { deps, queue, supporterQueue } = buildAppDeps({ config, campaigns, redis, keys, logger, clock: systemClock });
const app = createApp(deps);
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const transport = recordingTransport();
const startWorker = () => {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  workerConnections.push(connection);
  return createWorker({
    connection,
    keys,
    logger,
    campaigns,
    transport,
    clock: systemClock,
    settings: {
      ...workerSettingsFrom(config),
      concurrency: 1,
      ratePerSecond: 100,
      supporterMailRatePerSecond: 100,
      retry: { ...config.delivery, attempts: 1 },
    },
  });
};
const worker = startWorker();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const written: string[] = [];
const shot = async (page: Page, name: string) => {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  if (hasPngquant) spawnSync('pngquant', ['--force', '--skip-if-larger', '--quality', '70-95', '--output', file, file], { stdio: 'ignore' });
  written.push(`${path.relative(APP_ROOT, file)} (${Math.round(statSync(file).size / 1024)} KB)`);
};
const hasPngquant = spawnSync('pngquant', ['--version'], { stdio: 'ignore' }).status === 0;
const settle = () => new Promise((r) => setTimeout(r, 1500));

try {
  mkdirSync(OUT, { recursive: true });
  // Letters from several countries; the embassy in Germany is on hold and one send fails for good.
  await deps.switches.hold(slug, 'embassy-de', 'Checking the address with a partner organisation');
  transport.failNext('permanent');
  const writers: [string, string, string, string[]][] = [
    ['Ana', 'Lima', 'FR', ['gz-psb', 'gz-procuratorate', 'embassy-fr']],
    ['Jonas', 'Weber', 'DE', ['gz-psb', 'embassy-de']],
    ['Mei', 'Tang', 'AU', ['gz-psb', 'gz-procuratorate', 'embassy-au']],
    ['Sam', 'Okafor', 'GB', ['gz-psb', 'gd-womens-prison', 'embassy-gb']],
    ['Lucía', 'Pérez', 'US', ['gz-procuratorate', 'embassy-us']],
  ];
  for (const [firstName, lastName, country, recipients] of writers) {
    const email = `${firstName.toLowerCase()}.${lastName.toLowerCase()}@example.net`.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
    const res = await postLetter(app, slug, validForm({ firstName, lastName, country, recipients, email }));
    if (res.status !== 303) throw new Error(`seeding a letter failed: ${res.status} ${res.text.slice(0, 200)}`);
  }
  await settle();

  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'Europe/London' });
  const page = await desktop.newPage();
  await page.goto(`${base}/c/${slug}`);
  await shot(page, 'campaign-desktop');

  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    locale: 'en-GB',
    timezoneId: 'Europe/London',
  });
  const phonePage = await phone.newPage();
  await phonePage.goto(`${base}/c/${slug}`);
  await phonePage.fill('#firstName', 'Mei');
  await phonePage.fill('#lastName', 'Tang');
  await phonePage.selectOption('#country', 'AU');
  await phonePage.check('#r-embassy-au');
  await shot(phonePage, 'campaign-phone');

  // The page in French with the letter in Traditional Chinese, and the page in Simplified Chinese.
  const french = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'fr-FR', timezoneId: 'Europe/Paris' });
  const frPage = await french.newPage();
  await frPage.goto(`${base}/c/${slug}`);
  await frPage.selectOption('#letterLanguage', 'zh-Hant');
  await frPage.waitForFunction('document.getElementById("body").value.includes("黃雪琴")');
  await shot(frPage, 'campaign-fr-letter-zh-hant');
  await frPage.goto(`${base}/c/${slug}?lang=zh-Hans`);
  await shot(frPage, 'campaign-zh-hans');
  await french.close();

  // The supporter's own letter: sent to the Bureau, in tomorrow's digest for the prison, held for the embassy in Germany.
  await worker.close();
  await page.fill('#firstName', 'Jonas');
  await page.fill('#lastName', 'Becker');
  await page.fill('#email', 'jonas.becker@example.net');
  await page.selectOption('#country', 'DE');
  await page.check('#r-embassy-de');
  await page.uncheck('#r-gz-procuratorate');
  await Promise.all([page.waitForURL(/\/letters\/[^/]+\/sent$/), page.click('.actions button[name="send"]')]);
  await shot(page, 'thank-you');
  const statusUrl = new URL((await page.locator('#status-url').getAttribute('href'))!);
  const again = startWorker();
  await settle();
  await page.goto(base + statusUrl.pathname);
  await page
    .locator('#deliveries details')
    .first()
    .evaluate((d) => d.setAttribute('open', ''));
  await shot(page, 'status');
  await again.close();

  await page.goto(`${base}/admin/login`);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/admin\/c\//), page.click('button[type="submit"]')]);
  await shot(page, 'dashboard');

  console.log(`Screenshots in ${path.relative(process.cwd(), OUT) || '.'}:`);
  for (const w of written) console.log(`  ${w}`);
  if (!hasPngquant) console.log('(pngquant is not installed: the PNGs are not reduced)');
} finally {
  await browser.close();
  await worker.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await queue.close();
  await supporterQueue.close();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length) await redis.del(...found);
  } while (cursor !== '0');
  await redis.quit();
  await Promise.all(workerConnections.map((c) => c.quit().catch(() => c.disconnect())));
  await privateRedis?.stop();
  rmSync(redisDir, { recursive: true, force: true });
}
