import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './redis-keys.js';

// Two guards on accepting letters:
// - the same form sent twice (double click, back button, a retry) makes one letter: each rendered form
//   carries a one-time submission id; the first POST claims it, and a repeat gets the first one's status
//   link back. The link is kept encrypted with a key derived from the submission id, which only the
//   supporter's browser has, and for one day only.
// - one letter per supporter (by normalised email) per recipient per campaign, claimed atomically.

const DAY_SECONDS = 86_400;

// KEYS: the dedupe keys, one per recipient. ARGV: 1 letter id.
// Returns {} when all were free (and are now claimed), else {index, letterId, ...} of those taken.
const CLAIM_LUA = `
local taken = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v then table.insert(taken, i); table.insert(taken, v) end
end
if #taken > 0 then return taken end
for _, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1]) end
return {}
`;
// KEYS: keys to delete if they still hold ARGV[1].
const RELEASE_LUA = `
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end
end
return 1
`;

/** A claim on a submission id: either new (go on and accept the letter) or a repeat of one already handled. */
export type SubmissionClaim = { kind: 'new' } | { kind: 'repeat'; token: string } | { kind: 'in-progress' };

/** The recipients this supporter already wrote to, with the letter that did. */
export type RecipientClaim = { ok: true } | { ok: false; taken: { targetId: string; letterId: string }[] };

/** Normalises an email address for "one letter per supporter": trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Claims and releases submission ids and supporter-recipient pairs. Rejects only when Redis does. */
export class SubmissionGuard {
  private readonly claimCmd: (...args: (string | number)[]) => Promise<string[]>;
  private readonly releaseCmd: (...args: (string | number)[]) => Promise<number>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    for (const [name, lua] of [
      ['appealLettersClaim', CLAIM_LUA],
      ['appealLettersRelease', RELEASE_LUA],
    ] as const) {
      if (!(name in redis)) redis.defineCommand(name, { lua });
    }
    const r = redis as unknown as Record<string, (...args: (string | number)[]) => Promise<never>>;
    this.claimCmd = r.appealLettersClaim!.bind(redis);
    this.releaseCmd = r.appealLettersRelease!.bind(redis);
  }

  /** Claims a submission id. A repeat waits up to `waitMs` for the first request to finish, to return its link. */
  async claimSubmission(submissionId: string, waitMs = 3000): Promise<SubmissionClaim> {
    const key = this.keys.submission(sha256(`id:${submissionId}`));
    if ((await this.redis.set(key, 'pending', 'EX', DAY_SECONDS, 'NX')) === 'OK') return { kind: 'new' };
    const until = Date.now() + waitMs;
    for (;;) {
      const value = await this.redis.get(key);
      if (value === null) {
        // The first request failed and gave the id back: this one may try.
        if ((await this.redis.set(key, 'pending', 'EX', DAY_SECONDS, 'NX')) === 'OK') return { kind: 'new' };
      } else if (value !== 'pending') {
        const token = decrypt(value, submissionId);
        return token ? { kind: 'repeat', token } : { kind: 'in-progress' };
      }
      if (Date.now() > until) return { kind: 'in-progress' };
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Records the status token a submission id produced (encrypted, for one day). */
  async completeSubmission(submissionId: string, token: string): Promise<void> {
    await this.redis.set(this.keys.submission(sha256(`id:${submissionId}`)), encrypt(token, submissionId), 'EX', DAY_SECONDS);
  }

  /** Gives a submission id back after the letter could not be accepted, so the supporter can try again. */
  async abandonSubmission(submissionId: string): Promise<void> {
    await this.redis.del(this.keys.submission(sha256(`id:${submissionId}`)));
  }

  /** Claims supporter-recipient pairs for a new letter, all or none. */
  async claimRecipients(campaign: string, email: string, targetIds: readonly string[], letterId: string): Promise<RecipientClaim> {
    const emailHash = sha256(`email:${normaliseEmail(email)}`);
    const keys = targetIds.map((t) => this.keys.dedupe(campaign, t, emailHash));
    const result = await this.claimCmd(keys.length, ...keys, letterId);
    if (result.length === 0) return { ok: true };
    const taken: { targetId: string; letterId: string }[] = [];
    for (let i = 0; i + 1 < result.length; i += 2) taken.push({ targetId: targetIds[Number(result[i]) - 1]!, letterId: result[i + 1]! });
    return { ok: false, taken };
  }

  /** Releases the pairs a letter claimed (when it could not be accepted after all, or is deleted). */
  async releaseRecipients(campaign: string, email: string, targetIds: readonly string[], letterId: string): Promise<void> {
    const emailHash = sha256(`email:${normaliseEmail(email)}`);
    const keys = targetIds.map((t) => this.keys.dedupe(campaign, t, emailHash));
    if (keys.length) await this.releaseCmd(keys.length, ...keys, letterId);
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function keyFor(submissionId: string): Buffer {
  return createHash('sha256').update(`key:${submissionId}`).digest();
}

function encrypt(token: string, submissionId: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(submissionId), iv);
  const ct = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

function decrypt(value: string, submissionId: string): string | undefined {
  try {
    const raw = Buffer.from(value, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', keyFor(submissionId), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
