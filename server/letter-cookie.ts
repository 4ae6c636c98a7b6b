import type { Request, Response } from 'express';
import { isStatusTokenShape } from '../domain/ids.js';

// The supporter's own browser remembers the status links of the letters it sent (an httpOnly cookie),
// so a refused second letter can link straight to the first one. Nothing else reads it.

const NAME = 'al_letters';
const MAX_TOKENS = 10;

/** The status tokens this browser has; malformed entries are dropped. */
export function readLetterCookie(req: Request): string[] {
  const raw = (req.cookies as Record<string, unknown> | undefined)?.[NAME];
  if (typeof raw !== 'string') return [];
  return raw.split('.').filter(isStatusTokenShape).slice(0, MAX_TOKENS);
}

/** Adds a token to the cookie (newest first, at most ten), for 180 days. */
export function rememberLetter(req: Request, res: Response, token: string, secure: boolean): void {
  const tokens = [token, ...readLetterCookie(req).filter((t) => t !== token)].slice(0, MAX_TOKENS);
  res.cookie(NAME, tokens.join('.'), { httpOnly: true, sameSite: 'lax', secure, maxAge: 180 * 86_400_000, path: '/' });
}
