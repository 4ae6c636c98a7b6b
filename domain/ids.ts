import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { secureRandomBytes } from './random-bytes.js';

/**
 * A new letter id: 12 random bytes as base64url (16 characters), starting with a letter or digit (so
 * it is never taken for a command-line option or escaped as a formula in a CSV cell). Safe in BullMQ
 * job ids and Redis keys.
 */
export function newLetterId(): string {
  for (;;) {
    const id = secureRandomBytes(12).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

/** A letter id: 16 base64url characters, or the 32 hex digits of letters stored before ids were shortened. */
export const letterIdSchema = z.string().regex(/^(?:[A-Za-z0-9][A-Za-z0-9_-]{15}|[0-9a-f]{32})$/, { error: 'not a letter id' });

/** True for a string that is a letter id (either form). */
export function isLetterId(s: string): boolean {
  return letterIdSchema.safeParse(s).success;
}

/** True for a letter id of the current form (16 characters), the only form a token can name. */
export function isShortLetterId(s: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{15}$/.test(s);
}

/** A new random secret: 24 random bytes (192 bits), base64url. Never stored; only its hash is. */
export function newStatusToken(): string {
  return secureRandomBytes(24).toString('base64url');
}

/**
 * A new status-link token for a letter: the letter's id followed by a new secret (48 characters in all),
 * so the token names the letter it opens and only the secret's hash is kept, in the letter itself.
 */
export function newLetterToken(letterId: string): string {
  if (!isShortLetterId(letterId)) throw new Error('tokens that name their letter need a 16-character letter id');
  return letterId + newStatusToken();
}

/** The letter a token names (tokens of newLetterToken's shape); undefined for the older tokens, found through their own key. */
export function letterOfToken(token: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{47}$/.test(token) ? token.slice(0, 16) : undefined;
}

/** The stored form of a status token: SHA-256 hex, so a copy of Redis gives no working links. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The stored form of a token that names its letter: the first 128 bits of its SHA-256, base64url
 * (22 characters; the token's secret has 192 bits, so a copy of Redis still gives no working links).
 */
export function letterTokenHash(token: string): string {
  return createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url');
}

/** True when `hash` is among `stored`, compared in constant time. */
export function tokenHashMatches(hash: string, stored: readonly string[]): boolean {
  const mine = Buffer.from(hash);
  return stored.some((s) => {
    const theirs = Buffer.from(s);
    return theirs.length === mine.length && timingSafeEqual(theirs, mine);
  });
}

/** True when `token` has a shape newStatusToken or newLetterToken makes; anything else is refused before Redis. */
export function isStatusTokenShape(token: string): boolean {
  return /^(?:[A-Za-z0-9_-]{32}|[A-Za-z0-9_-]{48})$/.test(token);
}
