import { Redis, type RedisOptions } from 'ioredis';

// The two kinds of Redis connection the processes use.

/**
 * For the web side: fails fast (no offline queue, one retry) so a request never hangs on a dead Redis, and
 * tries to reconnect every half second at most, so supporters are refused (503) no longer than that after Redis is back.
 */
export function webRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 100, 500),
    // Commands issued in the same tick (many requests at once) leave in one write, not one system call each.
    enableAutoPipelining: true,
    ...extra,
  });
}

/** For workers: commands wait for Redis to come back (BullMQ requires maxRetriesPerRequest: null). */
export function workerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}

/** Resolves when the connection is ready; rejects after `timeoutMs`. */
export function whenReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
