import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { isListening } from '../../server/redis-launcher.js';

// Makes sure the tests have a Redis: the one at TEST_REDIS_URL (default redis://127.0.0.1:6379), or a
// private, non-persistent redis-server started on a spare port and stopped afterwards.

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let child: ChildProcess | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const wanted = new URL(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (await isListening(wanted.hostname, Number(wanted.port || 6379))) {
    project.provide('redisUrl', wanted.toString());
    return;
  }
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`No Redis at ${wanted.host} and redis-server is not installed (Debian: apt-get install redis-server).`);
  }
  const port = 20000 + Math.floor(Math.random() * 20000);
  dir = mkdtempSync(path.join(os.tmpdir(), 'appeal-letters-test-redis-'));
  child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !(await isListening('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await isListening('127.0.0.1', port))) throw new Error('could not start a private redis-server for the tests');
  project.provide('redisUrl', `redis://127.0.0.1:${port}`);
}

export async function teardown(): Promise<void> {
  if (child && child.exitCode === null) {
    await new Promise<void>((resolve) => {
      child!.once('exit', () => resolve());
      child!.kill('SIGTERM');
    });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}
