import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// The queue refusing jobs (Redis gone between storing and queueing): the supporter keeps the text,
// and no half-stored letter is counted.

let h: Harness;
beforeAll(() => {
  h = createHarness('http-queue-down', {
    scheduler: {
      schedule: () => Promise.reject(new Error('Connection is closed.')),
    },
  });
});
afterAll(async () => {
  await h.close();
});

describe('when the queue cannot take the letter', () => {
  it('then the form answers 503 with the text kept, and the letter is neither stored nor counted', async () => {
    const body = 'A letter I do not want to lose about 黄雪琴 and 王建兵.';
    const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ body })), 503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.text).toContain('could not be accepted just now');
    expect(res.text).toContain(`>${body}</textarea>`);
    expect(res.text).toContain('value="ana.lima@example.net"');
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(counts.letters).toBe(0);
    expect(counts.byState.queued).toBe(0);
    const letterKeys = await h.t.redis.keys(`{${h.t.prefix}}:letter:*`);
    expect(letterKeys).toEqual([]);
  });
});
