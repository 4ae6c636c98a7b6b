import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isListening } from '../../server/redis-launcher.js';

// A redis-server of a test's own, on a free loopback port, with its data in a fresh temp folder and the
// append-only file on, so that the test can stop it, kill it and start it again on the same port and data.

export interface PrivateRedisServer {
  url: string;
  port: number;
  dir: string;
  /** Starts it (again) on the same port and data folder; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops it with `signal` (SIGKILL: a crash; SIGTERM: a clean shutdown) and resolves when it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it if running and deletes its data folder. */
  cleanup(): Promise<void>;
}

/**
 * Starts a private redis-server, by default with `--appendonly yes --appendfsync always`: every write is
 * on disk before Redis answers it, so even a SIGKILL loses nothing Redis acknowledged (`appendOnly: false`
 * keeps nothing on disk, as the benchmark wants). Rejects when it does not start within 5 s.
 */
export async function startPrivateRedis(options: { appendOnly?: boolean } = {}): Promise<PrivateRedisServer> {
  const appendOnly = options.appendOnly ?? true;
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'appeal-letters-private-redis-'));
  let child: ChildProcess | undefined;
  const server: PrivateRedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      const c = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          ...(appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
          '--save',
          '',
          '--maxmemory-policy',
          'noeviction',
          '--logfile',
          'redis.log',
        ],
        { stdio: 'ignore' },
      );
      child = c;
      for (let i = 0; i < 100; i++) {
        if (c.exitCode !== null) throw new Error(`redis-server exited with code ${c.exitCode}; see ${path.join(dir, 'redis.log')}`);
        if (await isListening('127.0.0.1', port)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      c.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port} within 5 s`);
    },
    async stop(signal = 'SIGKILL') {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill(signal);
      });
    },
    async cleanup() {
      await server.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/** A loopback port nothing listens on right now (the system picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
