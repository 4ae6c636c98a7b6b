import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { doubleCsrf } from 'csrf-csrf';
import type { Clock } from '../domain/clock.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import { normaliseEmail, type SubmissionLimit } from '../domain/submission-guard.js';
import { addressHash } from './client-address.js';
import type { Config } from './config.js';

// The public form's guards against abuse: a CSRF token, a signed "form shown at" time (too-fast posts
// are refused), a honeypot field, and the submission limits per IP address and per email address
// (counted in Redis with the letter's other claims, keyed by hashes, never by the raw address).

export type GuardVerdict =
  /** The form itself is genuine; the limits go with the letter's claims (submission-guard.ts). */
  | { ok: true; ipHash: string; limits: SubmissionLimit[] }
  /** The form's token or timestamp is missing or wrong (an old tab, or a forged post): show a fresh form. */
  | { ok: false; reason: 'stale-form' }
  /** Sent faster than a person can read the letter, or the hidden field was filled in. */
  | { ok: false; reason: 'too-fast' | 'honeypot' };

export interface FormGuards {
  /** The hidden fields a rendered form carries: the CSRF token and the signed time it was shown. */
  fields(req: Request, res: Response): { csrfToken: string; startedAt: string };
  /** Checks a posted form (no I/O) and names the limits `email` and the sender's address are counted against. */
  check(req: Request, email: string): GuardVerdict;
  /** The keyed hash of the request's IP address. */
  ipHash(req: Request): string;
  /** True when a posted form carries a valid CSRF token (for forms other than the letter's). */
  validCsrf(req: Request): boolean;
}

/** Builds the guards. Never fails: the limits are counted later, with the letter (a 503 if Redis is down then). */
export function formGuards(p: { config: Config; keys: RedisKeys; clock: Clock }): FormGuards {
  const { config, clock } = p;
  const secure = config.isProduction;
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => config.sessionSecret,
    // No sessions on the public side: the token is bound to the browser's CSRF cookie alone.
    getSessionIdentifier: () => 'public-form',
    cookieName: secure ? '__Host-al.form' : 'al.form',
    cookieOptions: { sameSite: 'lax', path: '/', secure, httpOnly: true },
    getCsrfTokenFromRequest: (req) => {
      const v = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof v === 'string' ? v : undefined;
    },
  });
  const sign = (ms: string) => createHmac('sha256', config.sessionSecret).update(`form-shown:${ms}`).digest('base64url').slice(0, 22);
  const hash = (s: string) => createHmac('sha256', config.ipHashSecret).update(s).digest('hex').slice(0, 32);

  const ipHash = (req: Request) => addressHash(req.ip, config.ipHashSecret);
  /** True when `startedAt` is "<ms>.<signature>" signed by this deployment. */
  const validStartedAt = (startedAt: string) => {
    const [ms, sig, ...rest] = startedAt.split('.');
    if (!ms || !/^\d{1,15}$/.test(ms) || !sig || rest.length > 0) return false;
    const expected = sign(ms);
    return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
  };

  return {
    ipHash,
    validCsrf: (req) => validateRequest(req),
    fields(req, res) {
      // A form shown again after an error keeps the time it was first shown (when that came back signed),
      // so correcting one field does not mean waiting FORM_MIN_FILL_SECONDS again.
      const posted = (req.body as Record<string, unknown> | undefined)?.startedAt;
      if (typeof posted === 'string' && validStartedAt(posted)) return { csrfToken: generateCsrfToken(req, res, { overwrite: false }), startedAt: posted };
      const ms = String(clock.now());
      return { csrfToken: generateCsrfToken(req, res, { overwrite: false }), startedAt: `${ms}.${sign(ms)}` };
    },
    check(req, email) {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!validateRequest(req)) return { ok: false, reason: 'stale-form' };
      if (typeof body.startedAt !== 'string' || !validStartedAt(body.startedAt)) return { ok: false, reason: 'stale-form' };
      const ms = body.startedAt.split('.')[0]!;
      // The hidden field filled in at all (also when sent more than once, as a list) gives a robot away.
      const honeypot = ([] as unknown[]).concat(body.website ?? []);
      if (honeypot.some((v) => typeof v !== 'string' || v.trim() !== '')) return { ok: false, reason: 'honeypot' };
      if (clock.now() - Number(ms) < config.form.minFillSeconds * 1000) return { ok: false, reason: 'too-fast' };
      const ip = ipHash(req);
      const limits: SubmissionLimit[] = [
        { reason: 'ip-limit', key: `${p.keys.formLimits}:ip:${ip}`, max: config.form.limitPerIpPerHour, windowMs: 3_600_000 },
        {
          reason: 'email-limit',
          key: `${p.keys.formLimits}:email:${hash(`email:${normaliseEmail(email)}`)}`,
          max: config.form.limitPerEmailPerDay,
          windowMs: 86_400_000,
        },
      ];
      return { ok: true, ipHash: ip, limits };
    },
  };
}
