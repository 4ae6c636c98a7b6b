import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSendGridTransport } from '../../jobs/transports/sendgrid-transport.js';
import { isListening } from '../../server/redis-launcher.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { runMain } from '../support/processes.js';

// The real program in child processes: graceful stop, the private Redis of `npm start`, and refusing
// to start on bad configuration or campaign files.

describe('stopping a worker with SIGTERM during a drain', () => {
  let h: Harness;
  let fake: FakeSendGrid;
  beforeAll(async () => {
    fake = await startFakeSendGrid('SG.test-key', 1500);
    h = createHarness('lifecycle-sigterm');
  });
  afterAll(async () => {
    await h.close();
    await fake.close();
  });

  it('then the sends in flight finish, the rest stay queued, and a new worker delivers them exactly once', async () => {
    for (const email of ['a@example.net', 'b@example.net', 'c@example.net']) {
      await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email, recipients: ['gz-psb', 'embassy-fr'] })), 303);
    }
    const worker = runMain('worker', {
      REDIS_URL: h.t.url,
      REDIS_PREFIX: h.t.prefix,
      SENDGRID_API_KEY: fake.apiKey,
      SENDGRID_API_URL: fake.url,
      WORKER_CONCURRENCY: '2',
      SEND_RATE_PER_SECOND: '100',
      PACING: 'off',
    });
    await fake.waitForRequests(2, 15_000);
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(fake.requests).toHaveLength(2);

    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.byState).toMatchObject({ sent: 2, sending: 0, queued: 4 });
    expect(await h.queue.getActiveCount()).toBe(0);
    expect(await h.queue.getWaitingCount()).toBe(4);

    h.startWorker(createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 5000, sandbox: false }));
    await eventually(async () => ((await h.log.counts(SHIPPED_CAMPAIGN)).byState.sent === 6 ? true : undefined), 15_000);
    expect(fake.requests).toHaveLength(6);
    const perDelivery = new Set(fake.requests.map((r) => `${r.body.custom_args!.letter}/${r.body.custom_args!.target}`));
    expect(perDelivery.size).toBe(6);
  });
});

describe('npm start with no Redis running', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'appeal-letters-data-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('then it starts a private Redis with an append-only file, serves the page, and stops both on SIGTERM', async () => {
    const port = await freePort();
    const app = runMain('all', { REDIS_URL: `redis://127.0.0.1:${port}`, PORT: '0', DATA_DIR: dataDir });
    const listening = await app.waitForLog(/^web: listening/);
    const base = `http://127.0.0.1:${String(listening.port)}`;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await isListening('127.0.0.1', port)).toBe(true);
    expect(await app.stop('SIGTERM')).toBe(0);
    expect(readdirSync(dataDir).some((f) => f.startsWith('appendonly'))).toBe(true);
    await eventually(async () => ((await isListening('127.0.0.1', port)) ? undefined : true), 5000);
  });
});

describe('refusing to start', () => {
  it('when a variable is wrong, then the process exits 1 naming it', async () => {
    const p = runMain('web', { PORT: 'eighty' });
    expect(await p.exited).toBe(1);
    expect(p.lines.join('\n')).toContain('PORT: must be a number');
  });

  it('when a campaign file is broken, then the process exits 1 naming the file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'no-campaigns-'));
    const p = runMain('web', { CAMPAIGNS_DIR: dir });
    expect(await p.exited).toBe(1);
    expect(p.lines.join('\n')).toContain(`${dir}: no campaign folders found`);
    expect(existsSync(dir)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
