import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../domain/clock.js';
import { PaceBook } from '../../domain/pace-book.js';
import { redisKeys } from '../../domain/redis-keys.js';
import { UNPACED } from '../../domain/target-rules.js';
import { testRedis } from '../support/redis.js';

// A reservation that fails (Redis gone) must fail only for its caller: an unhandled rejection would
// crash the whole web process, and with it every submission in flight.

const dead = new Redis('redis://127.0.0.1:9', { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
dead.on('error', () => undefined);
afterAll(() => dead.disconnect());

describe('reserving a send slot while Redis is unreachable', () => {
  it('when the reservation fails, then only the caller sees the error and nothing else rejects', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const book = new PaceBook(dead, redisKeys('dead'), systemClock);
      const results = await Promise.allSettled([book.reserve('c', 't', { ...UNPACED, perHour: 10 }), book.reserve('c', 't', { ...UNPACED, perHour: 10 })]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('a burst of letters to one recipient from two processes', () => {
  const t = testRedis('pace-book-burst');
  afterAll(() => t.cleanup());

  it('when 80 slots are reserved at once through two books, then every slot is distinct and a full interval apart, and the books write them in batches', async () => {
    const other = t.workerConnection();
    // The first book defines the compare-and-set command; the spy then counts the calls of the second.
    new PaceBook(t.redis, t.keys, systemClock);
    const cas = vi.spyOn(t.redis as unknown as Record<string, (...args: unknown[]) => unknown>, 'appealLettersPaceCas');
    const books = [new PaceBook(t.redis, t.keys, systemClock), new PaceBook(other, t.keys, systemClock)];
    const rule = { ...UNPACED, perHour: 3600 };
    const slots = await Promise.all(Array.from({ length: 80 }, (_, i) => books[i % 2]!.reserve('c', 'official', rule)));
    const sorted = [...slots].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(1000);
    expect(cas.mock.calls.length).toBeLessThan(40);
    expect(await books[0]!.lastSlot('c', 'official')).toBe(sorted[79]);
  });
});
