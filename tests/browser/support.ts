import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type ConsoleMessage, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { createHarness, type Harness, type HarnessOptions } from '../support/harness.js';

// Real browser tests: Debian's chromium driven by playwright-core, against the harness app served on
// a real port. One browser and one server per test file.

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } };
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
export const DEVICES = [
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as const;
export type DeviceName = (typeof DEVICES)[number][0];

export interface BrowserEnv {
  h: Harness;
  browser: Browser;
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  /** A fresh context (own cookies) for `device`; axe can be injected into its pages (CSP bypassed). */
  context(device: BrowserContextOptions, extra?: BrowserContextOptions): Promise<BrowserContext>;
}

/** Starts the harness app on a port and the browser before the file's tests, and stops both after. */
export function useBrowserEnv(name: string, options: HarnessOptions = {}): BrowserEnv {
  let server: Server | undefined;
  const contexts: BrowserContext[] = [];
  const env = {
    context: async (device: BrowserContextOptions, extra: BrowserContextOptions = {}) => {
      const c = await env.browser.newContext({ ...device, bypassCSP: true, locale: 'en-GB', timezoneId: 'UTC', ...extra });
      c.setDefaultTimeout(10_000);
      contexts.push(c);
      return c;
    },
  } as BrowserEnv;
  beforeAll(async () => {
    env.h = createHarness(name, options);
    const [browser] = await Promise.all([
      launchBrowser(),
      new Promise<void>((resolve, reject) => {
        server = env.h.app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve()));
      }),
    ]);
    env.browser = browser;
    env.baseUrl = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  }, 30_000);
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await env.browser?.close();
    await new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await env.h?.close();
  }, 30_000);
  return env;
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// axe is served to the page from a same-origin address that the browser context answers itself
// (the request never reaches the app): loaded as a script, it is compiled once and then cached,
// which is several times faster than injecting its source into every page.
const AXE_URL_PATH = '/__browser-tests__/axe.min.js';
const axeRouted = new WeakSet<BrowserContext>();

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; html: string; failureSummary?: string }[];
}

/** Runs axe (WCAG 2.x A and AA) on the page; returns the serious and critical violations. */
export async function axe(page: Page): Promise<AxeViolation[]> {
  const context = page.context();
  if (!axeRouted.has(context)) {
    axeRouted.add(context);
    await context.route(`**${AXE_URL_PATH}`, (route) =>
      route.fulfill({ body: AXE_SOURCE, contentType: 'text/javascript', headers: { 'Cache-Control': 'max-age=3600' } }),
    );
  }
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.addScriptTag({ url: new URL(AXE_URL_PATH, page.url()).href });
  const violations = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] }, resultTypes: ['violations'] })
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target, html: n.html.slice(0, 300), failureSummary: n.failureSummary })) })))`,
  )) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A readable summary of violations, for assertion messages. */
export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n` + v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.html}`).join('\n')).join('\n');
}

/**
 * Collects console errors and uncaught page errors; call the returned check at the end of the test
 * (it fails the test on any). `allow` lists messages that the test expects (e.g. a 422 response).
 */
export function failOnPageErrors(page: Page, allow: RegExp[] = []): () => void {
  const problems: string[] = [];
  const onConsole = (m: ConsoleMessage) => {
    if (m.type() === 'error' && !allow.some((re) => re.test(m.text()))) problems.push(`console error: ${m.text()} (${m.location().url})`);
  };
  const onError = (e: Error) => problems.push(`page error: ${e.message}`);
  page.on('console', onConsole);
  page.on('pageerror', onError);
  return () => {
    page.off('console', onConsole);
    page.off('pageerror', onError);
    expect(problems, problems.join('\n')).toEqual([]);
  };
}

/** The id (or tag) of the focused element. */
export function focused(page: Page): Promise<string> {
  return page.evaluate('(document.activeElement && (document.activeElement.id || document.activeElement.tagName.toLowerCase())) || ""') as Promise<string>;
}

/** Presses Tab (or Shift+Tab) until the element matching `selector` has focus; fails after `max` presses. */
export async function tabTo(page: Page, selector: string, opts: { back?: boolean; max?: number } = {}): Promise<number> {
  const key = opts.back ? 'Shift+Tab' : 'Tab';
  for (let n = 1; n <= (opts.max ?? 60); n++) {
    await page.keyboard.press(key);
    if (await page.evaluate(`!!document.activeElement && document.activeElement.matches(${JSON.stringify(selector)})`)) return n;
  }
  throw new Error(`${selector} never got focus after ${opts.max ?? 60} presses of ${key} (focus is on ${await focused(page)})`);
}

/** The path of an absolute URL the app printed (it uses PUBLIC_URL), to open on the test server. */
export function localPath(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

let emailCounter = 0;
/** A fresh supporter email (one letter per supporter per recipient). */
export function freshEmail(tag: string): string {
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${++emailCounter}@example.net`;
}
