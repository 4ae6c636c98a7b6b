import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { redisKeys, type RedisKeys } from '../../domain/redis-keys.js';

// Each test file gets its own key prefix on the shared Redis, and removes its keys afterwards.

export interface TestRedis {
  url: string;
  prefix: string;
  keys: RedisKeys;
  /** A connection for the test's own reads and for the code under test. */
  redis: Redis;
  /** A connection suitable for BullMQ workers (maxRetriesPerRequest: null). */
  workerConnection(): Redis;
  /** Deletes every key under this prefix and closes the connections. */
  cleanup(): Promise<void>;
}

/** A fresh, isolated key space on the test Redis. */
export function testRedis(name: string): TestRedis {
  const url = inject('redisUrl');
  const prefix = `t-${name}-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const opened: Redis[] = [redis];
  return {
    url,
    prefix,
    keys: redisKeys(prefix),
    redis,
    workerConnection() {
      const c = new Redis(url, { maxRetriesPerRequest: null });
      opened.push(c);
      return c;
    },
    async cleanup() {
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
        cursor = next;
        if (found.length) await redis.del(...found);
      } while (cursor !== '0');
      await Promise.all(opened.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
