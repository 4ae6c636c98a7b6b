import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// For `npm start` on a developer's machine: if nothing answers at a loopback REDIS_URL and
// redis-server is installed, run a private Redis with its data under ./data (append-only file on).

/** True when something accepts TCP connections at host:port within `timeoutMs`. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A Redis this process started; stop() ends it (its data stays under the data folder). */
export interface PrivateRedis {
  stop(): Promise<void>;
}

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/**
 * Makes sure Redis answers at `url`. Returns undefined when one already does, a PrivateRedis when it
 * started one, and throws RedisUnavailableError (with how to get Redis) when it can do neither.
 */
export async function ensureRedis(url: string, dataDir: string): Promise<PrivateRedis | undefined> {
  const u = new URL(url);
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 6379);
  if (await isListening(host, port)) return undefined;
  const loopback = host === '127.0.0.1' || host === '::1';
  const hint = 'Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running one.';
  if (!loopback) throw new RedisUnavailableError(`Nothing answers at REDIS_URL (${u.host}). ${hint}`);
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new RedisUnavailableError(`Nothing answers at ${u.host} and redis-server is not installed. ${hint}`);
  }
  mkdirSync(dataDir, { recursive: true });
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      host,
      '--dir',
      path.resolve(dataDir),
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--logfile',
      'redis.log',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) throw new RedisUnavailableError(`redis-server exited with code ${child.exitCode}; see ${path.join(dataDir, 'redis.log')}`);
    if (await isListening(host, port)) {
      return {
        stop: () =>
          new Promise((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new RedisUnavailableError(`redis-server did not start on port ${port} within 5 s; see ${path.join(dataDir, 'redis.log')}`);
}
