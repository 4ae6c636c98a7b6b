import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { secureRandomBytes } from './random-bytes.js';
import type { Redis } from 'ioredis';
import type { LetterDraft } from './letter-form.js';
import type { RedisKeys } from './redis-keys.js';

// The guards on accepting letters, checked and claimed in one Redis script (one round trip):
// - the same form sent twice (double click, back button, a retry) makes one letter: each rendered form
//   carries a one-time submission id; the first POST claims it together with a digest of its letter, and a
//   repeat (same id, same letter) gets the first one's status link back. A changed letter sent from the
//   same page (back button, edited, sent again) is a new letter. The link is kept encrypted with a key
//   derived from the submission id, which only the supporter's browser has, and for one day only.
// - the submission limits (per IP address, per email address), each a counter over a fixed window that
//   starts with its first letter.
// - one letter per supporter (by normalised email) per recipient per campaign: one small hash per
//   supporter and campaign (recipient id -> letter id), claimed all or none.

const DAY_SECONDS = 86_400;

// KEYS: 1 the submission id's key, 2 the supporter's hash of claims, 3.. the limit counters.
// ARGV: 1 '1' when the submission id is to be claimed, 2 letter id, 3 n = number of recipients,
//   4..3+n the recipient ids, then for each limit its maximum and its window (ms).
// Returns {'seen', value} for a submission id already claimed; {'limited', index of the limit (1-based),
// ms until its window ends}; {'taken', recipient index (1-based), letter id, ...}; or {'new'} when all
// is claimed (the submission id as "pending" for a day, the recipients for this letter).
const ADMIT_LUA = `
if ARGV[1] == '1' then
  local seen = redis.call('GET', KEYS[1])
  if seen then return {'seen', seen} end
end
local n = tonumber(ARGV[3])
for i = 3, #KEYS do
  local max = tonumber(ARGV[3 + n + (i - 3) * 2 + 1])
  local window = tonumber(ARGV[3 + n + (i - 3) * 2 + 2])
  local count = redis.call('INCR', KEYS[i])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[i], window); ttl = window end
  if count > max then return {'limited', tostring(i - 2), tostring(ttl)} end
end
local taken = {'taken'}
for j = 1, n do
  local v = redis.call('HGET', KEYS[2], ARGV[3 + j])
  if v then taken[#taken + 1] = tostring(j); taken[#taken + 1] = v end
end
if #taken > 1 then return taken end
for j = 1, n do redis.call('HSET', KEYS[2], ARGV[3 + j], ARGV[2]) end
if ARGV[1] == '1' then redis.call('SET', KEYS[1], 'pending', 'EX', ${DAY_SECONDS}) end
return {'new'}
`;
// KEYS: 1 the supporter's hash of claims. ARGV: 1 letter id, 2.. recipient ids to release if this letter holds them.
const RELEASE_LUA = `
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
`;

/** A submission limit counted in Redis: at most `max` letters per window of `windowMs` (fixed, from the first letter). */
export interface SubmissionLimit {
  reason: 'ip-limit' | 'email-limit';
  /** The counter's key (it names a keyed hash of the address, never the address). */
  key: string;
  max: number;
  windowMs: number;
}

/** What the guards say about a new letter. */
export type Admission =
  /** Go on: the submission id and the recipients are claimed for this letter. */
  | { kind: 'new' }
  /** The same form was sent again: here is the first one's status token. */
  | { kind: 'repeat'; token: string }
  /** The same form is being handled by another request right now. */
  | { kind: 'in-progress' }
  /** Over a submission limit: try again after `retryAfterSeconds`. */
  | { kind: 'limited'; reason: SubmissionLimit['reason']; retryAfterSeconds: number }
  /** The supporter already wrote to some of these recipients. */
  | { kind: 'already-wrote'; taken: { targetId: string; letterId: string }[] };

/** A form's one-time id and the digest of the letter it carried (letterDigest): the same id with the same letter is a repeat. */
export interface FormSubmission {
  id: string;
  letterDigest: string;
}

/** What a new letter asks the guards for. */
export interface AdmissionRequest {
  campaign: string;
  email: string;
  targetIds: readonly string[];
  letterId: string;
  /** The form's one-time id and its letter's digest, when the form carried an id. */
  submission?: FormSubmission;
  limits?: readonly SubmissionLimit[];
}

/**
 * The SHA-256 (base64url) of everything a letter record takes from the form (names, email, country,
 * recipients in order, languages, subject, text, the consent box): equal for an identical re-send, different
 * for any change. Never fails.
 */
export function letterDigest(draft: LetterDraft): string {
  const parts = [
    draft.firstName,
    draft.lastName,
    draft.email,
    draft.country,
    draft.recipients,
    draft.letterLanguage ?? '',
    draft.subject,
    draft.body,
    !!draft.keepInformed,
  ];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/** Normalises an email address for "one letter per supporter": trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The name a supporter's claims are kept under: a hash of their normalised email (128 bits, base64url). */
export function supporterHash(email: string): string {
  return createHash('sha256')
    .update(`email:${normaliseEmail(email)}`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

type Command = (...args: (string | number)[]) => Promise<string[]>;

/** Claims and releases submission ids and supporter-recipient pairs, and counts the limits. Rejects only when Redis does. */
export class SubmissionGuard {
  private readonly admitCmd: Command;
  private readonly releaseCmd: Command;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    for (const [name, lua] of [
      ['appealLettersAdmit', ADMIT_LUA],
      ['appealLettersRelease', RELEASE_LUA],
    ] as const) {
      if (!(name in redis)) redis.defineCommand(name, { lua });
    }
    const r = redis as unknown as Record<string, Command>;
    this.admitCmd = r.appealLettersAdmit!.bind(redis);
    this.releaseCmd = r.appealLettersRelease!.bind(redis);
  }

  /**
   * Checks and claims everything a new letter needs, in one step: a repeat of the same form (it waits up
   * to `waitMs` for the first request to finish, to return its link), the limits, then the recipients.
   */
  async admit(req: AdmissionRequest, waitMs = 3000): Promise<Admission> {
    const submissionKey = req.submission ? this.submissionKey(req.submission) : this.keys.submission(sha256(`letter:${req.letterId}`));
    const limits = req.limits ?? [];
    const keys = [submissionKey, this.keys.writer(req.campaign, supporterHash(req.email)), ...limits.map((l) => l.key)];
    const args = [req.submission ? '1' : '0', req.letterId, req.targetIds.length, ...req.targetIds, ...limits.flatMap((l) => [l.max, l.windowMs])];
    const [kind, ...rest] = await this.admitCmd(keys.length, ...keys, ...args);
    switch (kind) {
      case 'new':
        return { kind: 'new' };
      case 'limited': {
        const limit = limits[Number(rest[0]) - 1]!;
        return { kind: 'limited', reason: limit.reason, retryAfterSeconds: Math.max(1, Math.ceil(Number(rest[1]) / 1000)) };
      }
      case 'taken': {
        const taken: { targetId: string; letterId: string }[] = [];
        for (let i = 0; i + 1 < rest.length; i += 2) taken.push({ targetId: req.targetIds[Number(rest[i]) - 1]!, letterId: rest[i + 1]! });
        return { kind: 'already-wrote', taken };
      }
      default:
        return this.awaitFirst(req, submissionKey, rest[0]!, Date.now() + waitMs);
    }
  }

  /** A repeat of a form: the first request's link once it has one; a new try if the first gave the id back. */
  private async awaitFirst(req: AdmissionRequest, key: string, value: string | null, until: number): Promise<Admission> {
    for (;;) {
      if (value === null) return this.admit(req, Math.max(0, until - Date.now()));
      if (value !== 'pending') {
        const token = decrypt(value, req.submission!.id);
        return token ? { kind: 'repeat', token } : { kind: 'in-progress' };
      }
      if (Date.now() > until) return { kind: 'in-progress' };
      await new Promise((r) => setTimeout(r, 50));
      value = await this.redis.get(key);
    }
  }

  /** Records the status token a submission (id and letter) produced (encrypted, for one day). Rejects when Redis does. */
  async completeSubmission(submission: FormSubmission, token: string): Promise<void> {
    await this.redis.set(this.submissionKey(submission), encrypt(token, submission.id), 'EX', DAY_SECONDS);
  }

  /** Gives a submission (id and letter) back after the letter could not be accepted, so the supporter can try again. Rejects when Redis does. */
  async abandonSubmission(submission: FormSubmission): Promise<void> {
    await this.redis.del(this.submissionKey(submission));
  }

  /** The key of a submission: named by a hash of its id and its letter's digest, so a changed letter from the same form is not a repeat. */
  private submissionKey(submission: FormSubmission): string {
    return this.keys.submission(sha256(`id:${submission.id}:${submission.letterDigest}`));
  }

  /** Releases the pairs a letter claimed (when it could not be accepted after all). */
  async releaseRecipients(campaign: string, email: string, targetIds: readonly string[], letterId: string): Promise<void> {
    if (targetIds.length) await this.releaseCmd(1, this.keys.writer(campaign, supporterHash(email)), letterId, ...targetIds);
  }
}

/** A submission's name in Redis: 128 bits of the SHA-256 of its id and letter digest, base64url. */
function sha256(s: string): string {
  return createHash('sha256').update(s).digest().subarray(0, 16).toString('base64url');
}

function keyFor(submissionId: string): Buffer {
  return createHash('sha256').update(`key:${submissionId}`).digest();
}

function encrypt(token: string, submissionId: string): string {
  const iv = secureRandomBytes(12);
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
