import { Redis } from 'ioredis';
import { startPrivateRedis } from '../../tests/support/private-redis.js';

// A throw-away redis-server for one benchmark run (the tests' private Redis: a free loopback port, a
// fresh temp dir, noeviction as in production), here with nothing kept on disk; stop() kills it and
// removes the dir.

/** A running private Redis. */
export interface BenchRedis {
  url: string;
  /** The server's version (INFO server). */
  version: string;
  /** used_memory in bytes (INFO memory). */
  usedMemory(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts redis-server; rejects if it does not answer within 5 s (then nothing is left running). */
export async function startBenchRedis(): Promise<BenchRedis> {
  const server = await startPrivateRedis({ appendOnly: false });
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? '?';
  return {
    url: server.url,
    version,
    usedMemory: async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]),
    stop: async () => {
      admin.disconnect();
      await server.cleanup();
    },
  };
}
