import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_ENV, TEST_ADMIN_PASSWORD } from '../support/admin.js';
import { expectStatus, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { recordingTransport } from '../support/recording-transport.js';
import { axe, describeViolations, DEVICES, failOnPageErrors, focused, freshEmail, localPath, tabTo, useBrowserEnv } from './support.js';

// A supporter's whole path in a real browser, on a desktop screen and on a phone: writing with the
// keyboard alone, the live preview, errors, no JavaScript, the status page following delivery, and
// axe on every page a supporter or campaigner sees.

vi.setConfig({ testTimeout: 30_000 });
const env = useBrowserEnv('browser-flow', { env: ADMIN_ENV });
const CAMPAIGN_PATH = `/c/${SHIPPED_CAMPAIGN}`;
const SENT_PAGE = /\/letters\/[A-Za-z0-9_-]{48}\/sent$/;

const text = (page: Page, selector: string) =>
  page
    .locator(selector)
    .first()
    .textContent()
    .then((t) => (t ?? '').trim());

/** The status link printed on the thank-you page, as a path on the test server. */
async function statusPathFrom(page: Page): Promise<string> {
  return localPath((await page.locator('#status-url').getAttribute('href'))!);
}

/** Fills the form with a mouse-free but not keyboard-only shortcut (fill/check), for scenarios about something else. */
async function fillLetter(page: Page, email: string, opts: { first?: string; last?: string; country?: string; embassy?: string } = {}) {
  await page.fill('#firstName', opts.first ?? 'Ana');
  await page.fill('#lastName', opts.last ?? 'Lima');
  await page.fill('#email', email);
  await page.selectOption('#country', opts.country ?? 'FR');
  await page.check(`#r-${opts.embassy ?? 'embassy-fr'}`);
  // The women's prison gets a daily digest; leaving it out keeps every delivery on the direct path.
  await page.uncheck('#r-gd-womens-prison');
}

describe.each(DEVICES)('on a %s', (_name, device) => {
  // One page per screen, reused by the tests below (each starts by opening the page it needs).
  let page: Page;
  beforeAll(async () => {
    page = await (await env.context(device)).newPage();
  });

  it('when a supporter writes and sends a letter with the keyboard alone, then they reach the thank-you page', async () => {
    const check = failOnPageErrors(page);
    await page.goto(env.baseUrl + CAMPAIGN_PATH);
    const email = freshEmail('keyboard');

    await tabTo(page, '#firstName');
    await page.keyboard.type('Mei');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Tan');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('email');
    await page.keyboard.type(email);
    // Back to the last name to correct it, then forward again past the email.
    await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toBe('lastName');
    await page.keyboard.press('End');
    await page.keyboard.type('g');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('country');
    // The browser's language (en-GB) preselected the United Kingdom; typing a name picks another country.
    expect(await page.inputValue('#country')).toBe('GB');
    await page.keyboard.type('Australia');
    expect(await page.inputValue('#country')).toBe('AU');

    // Choosing Australia ticked the embassy there (and unticked the one in the United Kingdom); Space toggles it.
    await tabTo(page, '#r-embassy-au');
    expect(await page.isChecked('#r-embassy-au')).toBe(true);
    expect(await page.isChecked('#r-embassy-gb')).toBe(false);
    await page.keyboard.press('Space');
    expect(await page.isChecked('#r-embassy-au')).toBe(false);
    await page.keyboard.press('Space');
    expect(await page.isChecked('#r-embassy-au')).toBe(true);
    // The signature follows what was typed.
    expect(await text(page, '[data-sign="name"]')).toBe('Mei Tang');
    expect(await text(page, '[data-sign="country"]')).toBe('Australia');

    await tabTo(page, '.actions button[name="send"]');
    await Promise.all([page.waitForURL(SENT_PAGE), page.keyboard.press('Enter')]);
    expect(await text(page, 'h1')).toBe('Thank you, Mei');
    expect(await page.locator('.delivery-to', { hasText: 'Australia' }).count()).toBe(1);
    await page.goto(env.baseUrl + (await statusPathFrom(page)));
    expect(await text(page, '.lead')).toContain('Written by Mei Tang (Australia)');
    check();
  });

  it('when the supporter edits the letter, their name and country, then the signature and the preview follow, each recipient listed with its own salutation', async () => {
    const check = failOnPageErrors(page);
    await page.goto(env.baseUrl + CAMPAIGN_PATH);
    const preview = '#preview [data-preview="text"]';
    const salutations = () =>
      page
        .locator('#preview [data-preview-list] li')
        .evaluateAll((lis) => lis.map((li) => [li.getAttribute('data-target'), li.querySelector('q')!.textContent]));
    expect(await page.locator('#preview').getAttribute('open')).not.toBeNull();
    // The browser's language (en-GB) is the first guess of the country.
    expect(await text(page, preview)).toMatch(/\[your name\]\nUnited Kingdom$/);

    await page.fill('#firstName', 'Li');
    await page.fill('#lastName', 'Wen');
    await page.selectOption('#country', 'DE');
    expect(await text(page, '[data-sign="name"]')).toBe('Li Wen');
    expect(await text(page, '[data-sign="country"]')).toBe('Germany');
    expect(await text(page, preview)).toMatch(/\nLi Wen\nGermany$/);
    expect(await text(page, '[data-preview="from"]')).toMatch(/^Li Wen via /);

    await page.fill('#subject', 'For 黄雪琴, from Berlin');
    await page.fill('#body', 'My own words for Huang Xueqin (黄雪琴).\n\nRelease her now.');
    expect(await text(page, '[data-preview="subject"]')).toBe('For 黄雪琴, from Berlin');
    expect(await text(page, preview)).toBe('My own words for Huang Xueqin (黄雪琴).\n\nRelease her now.\n\nYours sincerely,\nLi Wen\nGermany');

    // Choosing Germany ticked the embassy in Germany: every chosen recipient is listed with the salutation of its copy.
    expect(await salutations()).toEqual([
      ['gz-psb', 'Dear Director,'],
      ['gz-procuratorate', 'Dear Chief Procurator,'],
      ['gd-womens-prison', 'Dear Director,'],
      ['embassy-de', 'Your Excellency,'],
    ]);
    await page.uncheck('#r-gz-procuratorate');
    expect((await salutations()).map(([id]) => id)).toEqual(['gz-psb', 'gd-womens-prison', 'embassy-de']);
    check();
  });

  it('when the supporter picks their country, then the embassy there is ticked, and a country without one says the letter goes to the officials', async () => {
    const check = failOnPageErrors(page);
    await page.goto(env.baseUrl + CAMPAIGN_PATH);
    await page.selectOption('#country', 'CA');
    expect(await page.isChecked('#r-embassy-ca')).toBe(true);
    expect(await page.locator('.your-embassy #r-embassy-ca').count()).toBe(1);
    await page.selectOption('#country', 'GB');
    expect(await page.isChecked('#r-embassy-ca')).toBe(false);
    expect(await page.isChecked('#r-embassy-gb')).toBe(true);
    await page.selectOption('#country', 'BR');
    expect(await page.isChecked('#r-embassy-gb')).toBe(false);
    expect(await page.locator('[data-when="no-embassy"]').isVisible()).toBe(true);
    expect(await text(page, '[data-when="no-embassy"]')).toContain('Brazil');
    expect(await page.locator('.your-embassy').isVisible()).toBe(false);
    // Another country's embassy can still be chosen by hand.
    await page.click('.other-embassies summary');
    await page.check('#r-embassy-fr');
    expect(await page.isChecked('#r-embassy-fr')).toBe(true);
    check();
  });

  it('when the page is in French and the supporter switches the letter to Chinese, then the untouched letter is replaced; once edited, the text is kept', async () => {
    const check = failOnPageErrors(page);
    await page.goto(env.baseUrl + CAMPAIGN_PATH + '?lang=fr');
    expect(await page.getAttribute('html', 'lang')).toBe('fr');
    expect(await page.inputValue('#body')).toMatch(/^Je vous écris/);
    await page.selectOption('#letterLanguage', 'zh-Hant');
    await page.waitForFunction('document.getElementById("body").value.includes("黃雪琴")', undefined, { timeout: 5000 });
    expect(await page.getAttribute('#body', 'lang')).toBe('zh-Hant');
    expect(await text(page, '[data-sign="closing"]')).toBe('此致\n敬禮');
    expect(await text(page, '#preview [data-preview-list] li q')).toMatch(/^尊敬的.+：$/);
    expect(await text(page, 'h2#write-heading')).toBe('Écrivez votre lettre');

    await page.fill('#body', 'Mes propres mots pour 黄雪琴 et 王建兵.');
    await page.selectOption('#letterLanguage', 'en');
    expect(await page.inputValue('#body')).toBe('Mes propres mots pour 黄雪琴 et 王建兵.');
    expect(await text(page, '.letter-note')).not.toBe('');
    expect(await text(page, '[data-sign="closing"]')).toBe('Yours sincerely,');
    // Back to English for the tests that follow on this page (the choice is kept in a cookie).
    await page.goto(env.baseUrl + CAMPAIGN_PATH + '?lang=en');
    check();
  });

  it('when the supporter sends invalid input, then the text is kept, the error summary has focus and each error is tied to its field', async () => {
    const check = failOnPageErrors(page, [/status of 422/]);
    await page.goto(env.baseUrl + CAMPAIGN_PATH);
    const body = 'Words I spent a long time on, for 王建兵 and 黄雪琴.';
    await page.fill('#firstName', '');
    await page.fill('#lastName', 'Lima');
    await page.fill('#email', 'not-an-email');
    await page.fill('#body', body);
    const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('.actions button[name="send"]')]);
    expect(response.status()).toBe(422);
    await page.waitForLoadState('load');

    expect(await page.inputValue('#body')).toBe(body);
    expect(await page.inputValue('#email')).toBe('not-an-email');
    expect(await page.inputValue('#lastName')).toBe('Lima');
    await page.waitForFunction('document.activeElement && document.activeElement.id === "error-summary"', undefined, { timeout: 5000 });
    expect(await focused(page)).toBe('error-summary');
    expect(await page.locator('#error-summary').isVisible()).toBe(true);

    const links = await page.locator('#error-summary a').evaluateAll((as) => as.map((a) => a.getAttribute('href')!));
    expect(links).toEqual(expect.arrayContaining(['#firstName', '#email']));
    for (const href of links) {
      const field = page.locator(href);
      const id = href.slice(1);
      const errorId = `${id === 'recipients-fieldset' ? 'recipients' : id}-error`;
      expect((await field.getAttribute('aria-describedby'))?.split(' ')).toContain(errorId);
      expect(await page.locator(`#${errorId}`).isVisible()).toBe(true);
      expect(await text(page, `#${errorId}`)).not.toBe('');
      if (id !== 'recipients-fieldset') expect(await field.getAttribute('aria-invalid')).toBe('true');
    }
    // The email's hint stays described too.
    expect((await page.getAttribute('#email', 'aria-describedby'))!.split(' ')).toEqual(['email-hint', 'email-error']);
    check();
  });

  it('when JavaScript is off, then the supporter still goes from the form to the thank-you page and the status page', async () => {
    const context = await env.context(device, { javaScriptEnabled: false });
    const page = await context.newPage();
    const check = failOnPageErrors(page);
    await page.goto(env.baseUrl + CAMPAIGN_PATH);
    // Without the script the preview shows the server's rendering with placeholders.
    expect(await text(page, '#preview [data-preview="text"]')).toMatch(/\[your name\]\nUnited Kingdom$/);
    await fillLetter(page, freshEmail('nojs'), { first: 'Jo', last: 'Nash', country: 'GB', embassy: 'embassy-gb' });
    await Promise.all([page.waitForURL(SENT_PAGE), page.click('.actions button[name="send"]')]);
    expect(await text(page, 'h1')).toBe('Thank you, Jo');
    expect(await page.locator('button[data-copy]').isVisible()).toBe(false);
    expect(await page.locator('#status-url').isVisible()).toBe(true);

    await page.goto(env.baseUrl + (await statusPathFrom(page)));
    expect(await text(page, 'h1')).toBe('Your letter');
    expect(await text(page, '.lead')).toContain('Written by Jo Nash (United Kingdom)');
    const badges = await page.locator('#deliveries .badge').allTextContents();
    expect(badges.length).toBeGreaterThanOrEqual(2);
    expect(new Set(badges.map((b) => b.trim()))).toEqual(new Set(['Queued']));
    expect(await page.locator('#deliveries a', { hasText: 'Refresh' }).isVisible()).toBe(true);
    check();
    await context.close();
  });

  it('when nothing changes while the status page is open, then its list is not rebuilt, so keyboard focus stays where the reader put it', async () => {
    const check = failOnPageErrors(page);
    const res = await expectStatus(postLetter(env.h.app, SHIPPED_CAMPAIGN, validForm({ email: freshEmail('still') })), 303);
    await page.goto(env.baseUrl + res.headers.location!.replace(/\/sent$/, ''));
    await page.focus('#deliveries summary');
    await page.evaluate(`window.__list = document.getElementById('deliveries')`);
    // Past the first refresh (4 s after loading), with no worker running.
    await page.waitForRequest((r) => r.url().endsWith(res.headers.location!.replace(/\/sent$/, '')) && r.resourceType() === 'fetch', { timeout: 10_000 });
    await page.waitForTimeout(500);
    expect(await page.evaluate(`window.__list === document.getElementById('deliveries')`)).toBe(true);
    expect(await page.evaluate(`document.activeElement && document.activeElement.matches('#deliveries summary')`)).toBe(true);
    check();
  }, 30_000);

  // The worker is started only once the letter is queued, and stopped at the end of the test.
  it('when a worker delivers the letter, then the open status page moves from Queued to Sent by itself', async () => {
    const check = failOnPageErrors(page);
    await page.goto(env.baseUrl + CAMPAIGN_PATH);
    await fillLetter(page, freshEmail('status'));
    await Promise.all([page.waitForURL(SENT_PAGE), page.click('.actions button[name="send"]')]);
    await page.goto(env.baseUrl + (await statusPathFrom(page)));
    const badges = page.locator('#deliveries .badge');
    const count = await badges.count();
    expect(count).toBeGreaterThanOrEqual(2);
    expect(new Set((await badges.allTextContents()).map((b) => b.trim()))).toEqual(new Set(['Queued']));
    await page.evaluate('window.__notReloaded = true');

    const transport = recordingTransport();
    env.h.startWorker(transport);
    try {
      await page.waitForFunction(`document.querySelectorAll('#deliveries .badge-sent').length === ${count}`, undefined, { timeout: 15_000, polling: 250 });
    } finally {
      await env.h.closeWorkers();
    }
    expect(new Set((await badges.allTextContents()).map((b) => b.trim()))).toEqual(new Set(['Sent']));
    expect(await page.evaluate('window.__notReloaded === true')).toBe(true);
    expect(await page.locator('#deliveries').getAttribute('data-final')).toBe('yes');
    expect(await page.locator('#deliveries a', { hasText: 'Refresh' }).count()).toBe(0);
    expect(transport.sends.some((s) => s.email.to.email === 'embassy-fr@example.org')).toBe(true);
    check();
  }, 30_000);
});

describe('accessibility (axe, WCAG 2.x A and AA: no serious or critical violations)', () => {
  let token = '';
  beforeAll(async () => {
    const res = await expectStatus(postLetter(env.h.app, SHIPPED_CAMPAIGN, validForm({ email: freshEmail('axe') })), 303);
    token = /^\/letters\/([A-Za-z0-9_-]{48})\/sent$/.exec(res.headers.location!)![1]!;
  });

  const pages: [string, (page: Page) => Promise<void>][] = [
    ['the campaign page', (page) => page.goto(env.baseUrl + CAMPAIGN_PATH).then(() => undefined)],
    [
      'the campaign page after a failed submit, showing errors',
      async (page) => {
        await page.goto(env.baseUrl + CAMPAIGN_PATH);
        await page.fill('#firstName', '');
        await page.fill('#email', 'nope');
        await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.status() === 422), page.click('.actions button[name="send"]')]);
        await page.waitForSelector('#error-summary');
      },
    ],
    ['the thank-you page', (page) => page.goto(`${env.baseUrl}/letters/${token}/sent`).then(() => undefined)],
    ['the status page', (page) => page.goto(`${env.baseUrl}/letters/${token}`).then(() => undefined)],
    ['the privacy page', (page) => page.goto(`${env.baseUrl}${CAMPAIGN_PATH}/privacy`).then(() => undefined)],
    ['the delete page', (page) => page.goto(`${env.baseUrl}/letters/${token}/delete`).then(() => undefined)],
    ['the admin login', (page) => page.goto(`${env.baseUrl}/admin/login`).then(() => undefined)],
    [
      'the dashboard',
      async (page) => {
        await page.goto(`${env.baseUrl}/admin/login`);
        await page.fill('#password', TEST_ADMIN_PASSWORD);
        await Promise.all([page.waitForURL(/\/admin\/c\//), page.click('button[type="submit"]')]);
        await page.waitForSelector('#live svg.chart');
      },
    ],
  ];

  describe.each(DEVICES)('on a %s', (_name, device) => {
    // One page per device, visiting each page in turn (cookies shared, so the dashboard comes last).
    let page: Page;
    beforeAll(async () => {
      page = await (await env.context(device)).newPage();
    });
    it.each(pages)('when axe checks %s, then it finds no serious or critical violation', async (_label, visit) => {
      await visit(page);
      const violations = await axe(page);
      expect(violations, describeViolations(violations)).toEqual([]);
    });
  });
});
