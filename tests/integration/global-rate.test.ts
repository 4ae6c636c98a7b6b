import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { runMain, type RunningProcess } from '../support/processes.js';

// The provider account's limit holds across worker processes: two real worker processes share one
// global cap of sends per second.

describe('the global send rate across two worker processes', () => {
  let h: Harness;
  let fake: FakeSendGrid;
  const workers: RunningProcess[] = [];
  beforeAll(async () => {
    fake = await startFakeSendGrid();
    h = createHarness('global-rate');
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGTERM')));
    await h.close();
    await fake.close();
  });

  it('when 24 letters are drained by two workers capped at 6 per second, then no second carries more than the cap and both share the work', async () => {
    for (let i = 0; i < 12; i++) {
      await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: `rate${i}@example.net`, recipients: ['gz-psb', 'embassy-fr'] })), 303);
    }
    const env = {
      REDIS_URL: h.t.url,
      REDIS_PREFIX: h.t.prefix,
      SENDGRID_API_KEY: fake.apiKey,
      SENDGRID_API_URL: fake.url,
      SEND_RATE_PER_SECOND: '6',
      WORKER_CONCURRENCY: '4',
      PACING: 'off',
    };
    workers.push(runMain('worker', env), runMain('worker', env));
    await Promise.all(workers.map((w) => w.waitForLog(/^worker: delivering letters/)));
    const requests = await fake.waitForRequests(24, 20_000);
    const times = requests.map((r) => r.at).sort((a, b) => a - b);
    // BullMQ's limiter counts in windows of one second: any one window carries at most 6 sends, so the
    // last 18 sends need three windows, two more after the first of them (less the time a request takes
    // to arrive). The first sends are left out: a worker's first send also loads what it keeps for the
    // rest (templates, the letter text's dictionary), and arrives later in its window on a busy machine.
    expect(times[23]! - times[6]!).toBeGreaterThanOrEqual(1800);
    const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
    expect(busiest).toBeLessThanOrEqual(12);
    const sentBy = await eventually(async () => {
      const counts = workers.map((w) => w.lines.filter((l) => l.includes('"msg":"letter sent"')).length);
      return counts[0]! + counts[1]! === 24 ? counts : undefined;
    });
    expect(Math.min(...sentBy)).toBeGreaterThan(0);
  });
});
