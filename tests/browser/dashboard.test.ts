import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_ENV, TEST_ADMIN_PASSWORD } from '../support/admin.js';
import { eventually, expectStatus, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { recordingTransport } from '../support/recording-transport.js';
import { DESKTOP, failOnPageErrors, freshEmail, useBrowserEnv } from './support.js';

// The campaigner dashboard in a real browser: login, the two server-rendered charts, and the live
// region that refreshes itself.

vi.setConfig({ testTimeout: 30_000 });
const env = useBrowserEnv('browser-dashboard', { env: ADMIN_ENV });
const LETTERS = 3;
// Each letter goes to the two Guangzhou officials and the embassy in France: three emails each.
const RECIPIENTS = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];

const write = (tag: string) => expectStatus(postLetter(env.h.app, SHIPPED_CAMPAIGN, validForm({ email: freshEmail(tag), recipients: RECIPIENTS })), 303);

async function login(page: Page): Promise<void> {
  await page.goto(`${env.baseUrl}/admin`);
  expect(page.url()).toContain('/admin/login');
  await page.fill('#password', TEST_ADMIN_PASSWORD);
  await Promise.all([page.waitForURL(new RegExp(`/admin/c/${SHIPPED_CAMPAIGN}$`)), page.click('button[type="submit"]')]);
}

const stat = (page: Page, name: string) =>
  page
    .locator(`#live [data-stat="${name}"]`)
    .textContent()
    .then((t) => (t ?? '').trim());

describe('the dashboard in a browser', () => {
  beforeAll(async () => {
    for (let i = 0; i < LETTERS; i++) await write('dash');
    const transport = recordingTransport();
    env.h.startWorker(transport);
    await eventually(async () => (transport.sends.length === LETTERS * RECIPIENTS.length ? true : undefined), 15_000);
    await env.h.closeWorkers();
  });

  it('when the campaigner logs in through the form, then the dashboard shows the letters written and sent', async () => {
    const page = await (await env.context(DESKTOP)).newPage();
    const check = failOnPageErrors(page);
    await login(page);
    expect(await page.locator('h1').textContent()).toMatch(/Huang Xueqin/);
    expect(await stat(page, 'letters')).toBe(String(LETTERS));
    expect(await stat(page, 'sent')).toBe(String(LETTERS * RECIPIENTS.length));
    expect(await stat(page, 'waiting')).toBe('0');
    check();
  });

  it('when the login ends while the dashboard is open, then its next refresh goes to the login page instead of showing it inside the dashboard', async () => {
    const context = await env.context(DESKTOP);
    const page = await context.newPage();
    const check = failOnPageErrors(page);
    await login(page);
    // The session ends on the server (it expired, or it was logged out elsewhere).
    const sessions = await env.h.t.redis.keys(env.h.t.keys.adminSession('*'));
    expect(sessions.length).toBeGreaterThan(0);
    await env.h.t.redis.del(...sessions);
    await page.waitForURL(/\/admin\/login\?next=/, { timeout: 12_000 });
    expect(await page.locator('#live').count()).toBe(0);
    expect(await page.locator('#password').count()).toBe(1);
    check();
  });

  it('when the dashboard is shown, then both charts draw visible bars for the letters written and the emails sent', async () => {
    const page = await (await env.context(DESKTOP)).newPage();
    const check = failOnPageErrors(page);
    await login(page);
    const charts = page.locator('#live svg.chart');
    expect(await charts.count()).toBe(2);
    for (let c = 0; c < 2; c++) {
      const chart = charts.nth(c);
      const box = await chart.boundingBox();
      expect(box!.width).toBeGreaterThan(300);
      expect(box!.height).toBeGreaterThan(50);
      for (const kind of ['written', 'sent']) {
        const sizes = await chart.locator(`rect.bar-${kind}`).evaluateAll((rects) =>
          rects.map((r) => {
            const b = r.getBoundingClientRect();
            return { width: b.width, height: b.height };
          }),
        );
        const visible = sizes.filter((s) => s.width > 0 && s.height > 0);
        // All of today's letters fall in one bucket (the current hour, today).
        expect(visible.length, `chart ${c + 1}, ${kind} bars`).toBe(1);
        expect(visible[0]!.height).toBeGreaterThan(10);
      }
      // The bucket's tooltip tells the numbers.
      const titles = await chart.locator('g > title').allTextContents();
      expect(titles.some((t) => t.endsWith(`: ${LETTERS} written, ${LETTERS * RECIPIENTS.length} sent`))).toBe(true);
    }
    check();
  });

  it('when a screen reader names the two charts, then each has its own title', async () => {
    const page = await (await env.context(DESKTOP)).newPage();
    await login(page);
    expect(await page.getByRole('img', { name: /per hour/ }).count()).toBe(1);
    expect(await page.getByRole('img', { name: /per day/ }).count()).toBe(1);
  });

  it('when a letter is written while the dashboard is open, then the letters total updates without a reload', async () => {
    const page = await (await env.context(DESKTOP)).newPage();
    const check = failOnPageErrors(page);
    await login(page);
    expect(await stat(page, 'letters')).toBe(String(LETTERS));
    await page.evaluate('window.__notReloaded = true');
    await write('dash-live');
    await page.waitForFunction(`(document.querySelector('#live [data-stat="letters"]') || {}).textContent === '${LETTERS + 1}'`, undefined, {
      timeout: 10_000,
      polling: 250,
    });
    expect(await page.evaluate('window.__notReloaded === true')).toBe(true);
    expect(await stat(page, 'waiting')).toBe(String(RECIPIENTS.length));
    check();
  });
});
