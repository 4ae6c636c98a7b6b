import { createHash, randomBytes } from 'node:crypto';

/** A new letter id: 16 random bytes as hex. Safe in BullMQ job ids and Redis keys. */
export function newLetterId(): string {
  return randomBytes(16).toString('hex');
}

/** A new status-link token: 24 random bytes (192 bits), base64url. Never stored; only its hash is. */
export function newStatusToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The stored form of a status token: SHA-256 hex, so a copy of Redis gives no working links. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** True when `token` has the shape newStatusToken makes; anything else is refused before Redis. */
export function isStatusTokenShape(token: string): boolean {
  return /^[A-Za-z0-9_-]{32}$/.test(token);
}
