import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../domain/clock.js';
import { PaceBook } from '../../domain/pace-book.js';
import { redisKeys } from '../../domain/redis-keys.js';
import { UNPACED } from '../../domain/target-rules.js';

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
