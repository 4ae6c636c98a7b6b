import { readFileSync } from 'node:fs';
import { answers200, startChild, type BenchChild } from './child-process.js';
import type { FakeProvider } from './fake-provider.js';
import { freePort } from '../../tests/support/private-redis.js';

// The real program (server/main.ts web|worker) as a benchmark child, configured as in production
// (NODE_ENV=production: view cache on, JSON logs at info) on the benchmark's Redis and fake provider.

export const BENCH_ADMIN_PASSWORD = 'bench-admin-password-long';

/** What every app child gets; `extra` overrides (e.g. PACING=off). */
export function appEnv(p: { redisUrl: string; prefix: string; fake: FakeProvider; port?: number; extra?: Record<string, string> }): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    REDIS_URL: p.redisUrl,
    REDIS_PREFIX: p.prefix,
    HOST: '127.0.0.1',
    PORT: String(p.port ?? 0),
    PUBLIC_URL: `http://127.0.0.1:${p.port ?? 3000}`,
    MAIL_FROM: 'letters@example.org',
    SENDGRID_API_KEY: p.fake.apiKey,
    SENDGRID_API_URL: p.fake.url,
    SESSION_SECRET: 'bench-session-secret-bench-session-secret',
    ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD,
    // Anti-abuse guards that would throttle a load generator on one address: no minimum fill time,
    // limits far above the run's volume (each letter still passes the limiter in Redis).
    FORM_MIN_FILL_SECONDS: '0',
    FORM_LIMIT_PER_IP: '1000000',
    FORM_LIMIT_PER_EMAIL: '10000',
    // BENCH_APP_ENV='{"PACING":"off"}' tries another setting in every app child (for finding causes).
    ...(JSON.parse(process.env.BENCH_APP_ENV ?? '{}') as Record<string, string>),
    ...p.extra,
  };
}

/** Starts `main.ts web` on a free port and waits for /healthz; resolves with the child and its base URL. */
export async function startWeb(
  name: string,
  p: { redisUrl: string; prefix: string; fake: FakeProvider; logDir: string; extra?: Record<string, string> },
): Promise<{ child: BenchChild; base: string }> {
  const port = await freePort();
  const child = startChild(name, 'server/main.ts', ['web'], appEnv({ ...p, port }), p.logDir);
  const base = `http://127.0.0.1:${port}`;
  await child.waitFor(() => answers200(`${base}/healthz`));
  return { child, base };
}

/** Starts `main.ts worker` and waits until it logs that it is delivering. */
export async function startWorker(
  name: string,
  p: { redisUrl: string; prefix: string; fake: FakeProvider; logDir: string; extra?: Record<string, string> },
): Promise<BenchChild> {
  const child = startChild(name, 'server/main.ts', ['worker'], appEnv(p), p.logDir);
  await child.waitFor(async () => readFileSync(child.logFile, 'utf8').includes('worker: delivering letters'));
  return child;
}
