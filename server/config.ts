import { isIP } from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { APP_ROOT } from '../domain/app-root.js';
import { CAPTCHA_VERIFY_URLS } from './captcha.js';
import { isSendgridPublicKey } from './sendgrid-signature.js';

// The whole configuration: one zod schema over process.env, parsed once at start-up.

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(min).max(max);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_URL: z.url({ error: 'must be a full URL such as https://letters.example.org' }).optional(),
  TRUST_PROXY: z
    .string()
    .default('loopback')
    .transform((v, ctx) => {
      const parsed = parseTrustProxy(v);
      if (typeof parsed === 'string' && parsed.startsWith('!')) ctx.addIssue({ code: 'custom', message: parsed.slice(1) });
      return parsed;
    }),
  REDIS_URL: z.url({ error: 'must be a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, { error: 'use letters, digits, dashes (1-40)' })
    .default('al'),
  CAMPAIGNS_DIR: z.string().default(path.join(APP_ROOT, 'templates', 'campaigns')),
  DATA_DIR: z.string().default(path.join(APP_ROOT, 'data')),
  MAIL_TRANSPORT: z.enum(['outbox', 'sendgrid']).optional(),
  MAIL_FROM: z.email({ error: "must be an email address on the campaign's verified sending domain" }).optional(),
  SENDGRID_API_KEY: z.string().min(1).optional(),
  SENDGRID_API_URL: z.url().optional(),
  SENDGRID_SANDBOX: bool.default(false),
  SENDGRID_WEBHOOK_PUBLIC_KEY: z
    .string()
    .refine(isSendgridPublicKey, { error: "must be the Event Webhook's verification key as SendGrid shows it (base64 of an ECDSA P-256 public key)" })
    .optional(),
  WEBHOOK_MAX_AGE_SECONDS: int(10, 86_400).default(600),
  SEND_TIMEOUT_MS: int(1000, 120_000).default(15_000),
  SEND_RATE_PER_SECOND: int(1, 10_000).default(10),
  PACING: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  SUPPORTER_MAIL_RATE_PER_SECOND: int(1, 10_000).default(2),
  SEND_ATTEMPTS: int(1, 50).default(8),
  SEND_BACKOFF_MS: int(100, 3_600_000).default(30_000),
  WORKER_CONCURRENCY: int(1, 200).default(16),
  JOB_LOCK_MS: int(1000, 600_000).default(30_000),
  EVENT_LOG_MAX: int(1000, 100_000_000).default(1_000_000),
  OUTBOX_MAX: int(10, 100_000).default(1000),
  DIGEST_MAX_BYTES: int(20_000, 25_000_000).default(5_000_000),
  ADMIN_PASSWORD: z.string().min(12, { error: 'must be at least 12 characters' }).optional(),
  ADMIN_PASSWORD_HASH: z
    .string()
    .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, { error: 'must be a hash from "npm run cli -- hash-password"' })
    .optional(),
  SESSION_SECRET: z.string().min(32, { error: 'must be at least 32 characters (e.g. openssl rand -base64 48)' }).optional(),
  FORM_LIMIT_PER_IP: int(1, 1_000_000).default(30),
  FORM_LIMIT_PER_EMAIL: int(1, 10_000).default(10),
  FORM_MIN_FILL_SECONDS: int(0, 600).default(4),
  IP_HASH_SECRET: z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
  CAPTCHA_PROVIDER: z.enum(['off', 'turnstile', 'hcaptcha']).default('off'),
  CAPTCHA_SITE_KEY: z.string().min(1).optional(),
  CAPTCHA_SECRET: z.string().min(1).optional(),
  CAPTCHA_VERIFY_URL: z.url().optional(),
  RETENTION_DAYS: int(1, 3650).default(180),
  ADMIN_SESSION_HOURS: int(1, 24 * 14).default(8),
  LOGIN_MAX_FAILURES: int(1, 100).default(5),
  LOGIN_LOCKOUT_MINUTES: int(1, 24 * 60).default(15),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_TOKEN: z.string().min(16, { error: 'must be at least 16 characters (e.g. openssl rand -hex 24)' }).optional(),
  METRICS_PORT: int(1, 65535).optional(),
});

/** The named address ranges Express's `trust proxy` knows. */
const TRUSTED_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY as Express's `trust proxy` wants it: a number of hops, false, or a list of addresses,
 * CIDR ranges and range names. Anything else comes back as "!" and the reason (the schema reports it):
 * Express would read "1" as the address 0.0.0.1 and trust nobody, and "true" would let any client
 * choose its own address.
 */
export function parseTrustProxy(v: string): number | false | string {
  const value = v.trim();
  if (/^\d+$/.test(value)) return Number(value);
  if (value === 'false' || value === '') return false;
  if (value === 'true') return "!true would trust any client's X-Forwarded-For; give the load balancer's addresses, or the number of proxies in front (e.g. 1)";
  for (const entry of value.split(',').map((e) => e.trim())) {
    if (TRUSTED_RANGE_NAMES.has(entry)) continue;
    const [address, bits, ...rest] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !bitsOk || rest.length > 0)
      return `!"${entry}" is not an address, a CIDR range, loopback, linklocal or uniquelocal (or use a number of proxies, e.g. 1)`;
  }
  return value;
}

/**
 * Settings that make the deployment send differently from what campaigners expect (allowed, e.g. for a
 * trial run or a benchmark, but never silently): each as a sentence for the logs and the dashboard.
 */
export function deliverySettingWarnings(config: Pick<Config, 'delivery' | 'mail'>): string[] {
  const warnings: string[] = [];
  if (!config.delivery.pacing)
    warnings.push(
      "PACING=off: letters are not paced per recipient (office hours and each recipient's limits are ignored); only SEND_RATE_PER_SECOND caps sending.",
    );
  if (config.mail.transport === 'outbox') warnings.push('MAIL_TRANSPORT=outbox: letters are kept in the local outbox, not emailed.');
  if (config.mail.sendgrid?.sandbox) warnings.push('SENDGRID_SANDBOX=true: SendGrid accepts every letter and delivers none.');
  return warnings;
}

/** Rules between variables, checked on the raw values so every problem is reported at once. */
function crossChecks(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  const transport = env.MAIL_TRANSPORT ?? (env.SENDGRID_API_KEY ? 'sendgrid' : 'outbox');
  if (transport === 'sendgrid' && !env.SENDGRID_API_KEY) problems.push('SENDGRID_API_KEY: is required when MAIL_TRANSPORT=sendgrid');
  if (env.CAPTCHA_PROVIDER && env.CAPTCHA_PROVIDER !== 'off') {
    if (!env.CAPTCHA_SITE_KEY) problems.push(`CAPTCHA_SITE_KEY: is required when CAPTCHA_PROVIDER=${env.CAPTCHA_PROVIDER}`);
    if (!env.CAPTCHA_SECRET) problems.push(`CAPTCHA_SECRET: is required when CAPTCHA_PROVIDER=${env.CAPTCHA_PROVIDER}`);
  }
  if (env.NODE_ENV === 'production') {
    if (transport === 'outbox') problems.push('MAIL_TRANSPORT: outbox sends nothing and is refused in production; set SENDGRID_API_KEY');
    if (!env.MAIL_FROM) problems.push("MAIL_FROM: is required in production: the campaign's verified sender address");
    if (!env.SESSION_SECRET)
      problems.push("SESSION_SECRET: is required in production: it signs the forms' CSRF tokens (at least 32 characters, e.g. openssl rand -base64 48)");
    if (!env.PUBLIC_URL) problems.push('PUBLIC_URL: is required in production: the address supporters use, e.g. https://letters.example.org');
  }
  const lockMs = Number(env.JOB_LOCK_MS ?? 30_000);
  const timeoutMs = Number(env.SEND_TIMEOUT_MS ?? 15_000);
  if (lockMs <= timeoutMs)
    problems.push(
      `JOB_LOCK_MS: must be more than SEND_TIMEOUT_MS (${timeoutMs}): a send left "sending" is taken over after JOB_LOCK_MS, when the attempt that started it must have ended`,
    );
  if (env.METRICS_PORT && !env.METRICS_TOKEN)
    problems.push('METRICS_TOKEN: is required when METRICS_PORT is set (the worker serves /metrics only to that bearer token)');
  return problems;
}

/** The parsed configuration the rest of the program reads. */
export interface Config {
  env: 'development' | 'test' | 'production';
  isProduction: boolean;
  port: number;
  host: string;
  publicUrl: string;
  /** Express's `trust proxy`: hops in front, false, or the proxies' addresses and ranges. */
  trustProxy: number | false | string;
  redisUrl: string;
  redisPrefix: string;
  campaignsDir: string;
  /** Where `npm start` keeps the data of a Redis it starts itself. */
  dataDir: string;
  mail: {
    transport: 'outbox' | 'sendgrid';
    from: string;
    sendgrid?: { apiKey: string; apiUrl?: string; sandbox: boolean; timeoutMs: number };
  };
  delivery: {
    ratePerSecond: number;
    supporterMailRatePerSecond: number;
    attempts: number;
    backoffMs: number;
    concurrency: number;
    pacing: boolean;
    /** How long a worker's claim on a job lasts unless renewed; a dead worker's jobs come back within about twice this. */
    jobLockMs: number;
  };
  /** SendGrid's signed Event Webhook: off (404) without a public key; older signed requests are refused. */
  webhook: { publicKey?: string; maxAgeSeconds: number };
  eventLogMax: number;
  outboxMax: number;
  /** The largest digest email (text and HTML together); bigger digests are split into parts. */
  digestMaxBytes: number;
  logLevel: string;
  /** The campaigner dashboard; null when no admin password is configured (then /admin is off). */
  admin: {
    password?: string;
    passwordHash?: string;
    sessionHours: number;
    maxFailures: number;
    lockoutMinutes: number;
  } | null;
  /** Signs CSRF tokens; random per process when not set outside production. */
  sessionSecret: string;
  /** The public form's guards: submissions per IP address per hour and per email address per day, and the least time to fill it in. */
  form: { limitPerIpPerHour: number; limitPerEmailPerDay: number; minFillSeconds: number };
  /** Keys the hash under which IP addresses are kept (never raw). */
  ipHashSecret: string;
  /** Days after which a finished letter's personal data is deleted (the counts stay). */
  retentionDays: number;
  /** The optional captcha on the letter form; null when off. */
  captcha: { provider: 'turnstile' | 'hcaptcha'; siteKey: string; secret: string; verifyUrl: string } | null;
  /** GET /metrics (Prometheus): off (404) without a token; a worker process serves it on `port` when set. */
  metrics: { token?: string; port?: number };
}

/** A configuration problem; the message names every variable at fault and never a secret's value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses `env` (process.env by default). Throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  const problems = [...(result.success ? [] : result.error.issues.map((i) => `${String(i.path[0] ?? '?')}: ${i.message}`)), ...crossChecks(cleaned)];
  if (!result.success || problems.length) {
    throw new ConfigError(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
  const e = result.data;
  const transport = e.MAIL_TRANSPORT ?? (e.SENDGRID_API_KEY ? 'sendgrid' : 'outbox');
  const sessionSecret = e.SESSION_SECRET ?? randomBytes(32).toString('base64');
  return {
    env: e.NODE_ENV,
    isProduction: e.NODE_ENV === 'production',
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    trustProxy: e.TRUST_PROXY,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    campaignsDir: e.CAMPAIGNS_DIR,
    dataDir: e.DATA_DIR,
    mail: {
      transport,
      from: e.MAIL_FROM ?? 'letters@example.org',
      sendgrid:
        transport === 'sendgrid'
          ? { apiKey: e.SENDGRID_API_KEY!, apiUrl: e.SENDGRID_API_URL, sandbox: e.SENDGRID_SANDBOX, timeoutMs: e.SEND_TIMEOUT_MS }
          : undefined,
    },
    delivery: {
      ratePerSecond: e.SEND_RATE_PER_SECOND,
      supporterMailRatePerSecond: e.SUPPORTER_MAIL_RATE_PER_SECOND,
      attempts: e.SEND_ATTEMPTS,
      backoffMs: e.SEND_BACKOFF_MS,
      concurrency: e.WORKER_CONCURRENCY,
      pacing: e.PACING === 'on',
      jobLockMs: e.JOB_LOCK_MS,
    },
    webhook: { publicKey: e.SENDGRID_WEBHOOK_PUBLIC_KEY, maxAgeSeconds: e.WEBHOOK_MAX_AGE_SECONDS },
    eventLogMax: e.EVENT_LOG_MAX,
    outboxMax: e.OUTBOX_MAX,
    digestMaxBytes: e.DIGEST_MAX_BYTES,
    logLevel: e.LOG_LEVEL,
    admin:
      e.ADMIN_PASSWORD || e.ADMIN_PASSWORD_HASH
        ? {
            password: e.ADMIN_PASSWORD,
            passwordHash: e.ADMIN_PASSWORD_HASH,
            sessionHours: e.ADMIN_SESSION_HOURS,
            maxFailures: e.LOGIN_MAX_FAILURES,
            lockoutMinutes: e.LOGIN_LOCKOUT_MINUTES,
          }
        : null,
    sessionSecret,
    form: { limitPerIpPerHour: e.FORM_LIMIT_PER_IP, limitPerEmailPerDay: e.FORM_LIMIT_PER_EMAIL, minFillSeconds: e.FORM_MIN_FILL_SECONDS },
    ipHashSecret: e.IP_HASH_SECRET ?? sessionSecret,
    retentionDays: e.RETENTION_DAYS,
    captcha:
      e.CAPTCHA_PROVIDER === 'off'
        ? null
        : {
            provider: e.CAPTCHA_PROVIDER,
            siteKey: e.CAPTCHA_SITE_KEY!,
            secret: e.CAPTCHA_SECRET!,
            verifyUrl: e.CAPTCHA_VERIFY_URL ?? CAPTCHA_VERIFY_URLS[e.CAPTCHA_PROVIDER],
          },
    metrics: { token: e.METRICS_TOKEN, port: e.METRICS_PORT },
  };
}
