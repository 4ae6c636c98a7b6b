import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { isListening } from '../../server/redis-launcher.js';
import { freePort } from './free-port.js';

// A throw-away redis-server for one benchmark run: a free loopback port, a fresh temp dir, no
// persistence, noeviction (as production); stop() kills it and removes the dir.

/** A running private Redis. */
export interface BenchRedis {
  url: string;
  pid: number;
  /** The server's version (INFO server). */
  version: string;
  /** used_memory in bytes (INFO memory). */
  usedMemory(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts redis-server; rejects if it does not answer within 5 s (then nothing is left running). */
export async function startBenchRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'appeal-bench-redis-'));
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--logfile',
      'redis.log',
    ],
    { stdio: 'ignore' },
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 50 && !(await isListening('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await isListening('127.0.0.1', port))) {
    await stop();
    throw new Error(`redis-server did not start on port ${port}`);
  }
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? '?';
  return {
    url,
    pid: child.pid!,
    version,
    usedMemory: async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]),
    stop: async () => {
      admin.disconnect();
      await stop();
    },
  };
}
