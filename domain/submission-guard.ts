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
//   supporter and campaign (recipient id -> letter id), claimed all or none. A claim holds while its
//   letter exists, or for a short grace period after the claim while the letter is being stored; the
//   claim of a request that died before storing its letter is then free (so is its form's "in progress").

const DAY_SECONDS = 86_400;
/** How long an admitted letter's claims and its form's "in progress" hold without the letter being stored. */
export const DEFAULT_GRACE_MS = 60_000;

// KEYS: 1 the submission's key, 2 the supporter's hash of claims, 3 this letter's "admitting" marker,
//   4..3+l the limit counters, then for each letter holding a claim (as read before): its letter key and
//   its "admitting" marker.
// ARGV: 1 '1' when the submission is to be claimed, 2 letter id, 3 grace (ms), 4 n = number of recipients,
//   5 l = number of limits, 6 h = number of letters holding claims, then the n recipient ids, then for
//   each recipient the index (1-based) of the letter holding it as read before (0: none), then for each
//   limit its maximum and its window (ms), then the h letter ids.
// Returns {'seen', value} for a submission already claimed; {'changed'} when a claim is not as read before
// (nothing counted or claimed: read again); {'limited', index of the limit (1-based), ms until its window
// ends}; {'taken', recipient index (1-based), letter id, ...}; or {'new'} when all is claimed (the recipients
// for this letter, and its marker and the submission as "pending" for the grace period).
// A claim holds while its letter exists or its marker lives: a claim left by a request that died between
// this script and storing the letter is free once the grace period is over, and is overwritten.
const ADMIT_LUA = `
if ARGV[1] == '1' then
  local seen = redis.call('GET', KEYS[1])
  if seen then return {'seen', seen} end
end
local n, l, h = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local R, C, M = 6, 6 + n, 6 + 2 * n
local H = M + 2 * l
for j = 1, n do
  local k = tonumber(ARGV[C + j])
  local expected = false
  if k > 0 then expected = ARGV[H + k] end
  if redis.call('HGET', KEYS[2], ARGV[R + j]) ~= expected then return {'changed'} end
end
for i = 1, l do
  local max = tonumber(ARGV[M + 2 * i - 1])
  local window = tonumber(ARGV[M + 2 * i])
  local count = redis.call('INCR', KEYS[3 + i])
  local ttl = redis.call('PTTL', KEYS[3 + i])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[3 + i], window); ttl = window end
  if count > max then return {'limited', tostring(i), tostring(ttl)} end
end
local taken = {'taken'}
for j = 1, n do
  local k = tonumber(ARGV[C + j])
  if k > 0 then
    local at = 3 + l + 2 * (k - 1)
    if redis.call('EXISTS', KEYS[at + 1]) == 1 or redis.call('EXISTS', KEYS[at + 2]) == 1 then
      taken[#taken + 1] = tostring(j); taken[#taken + 1] = ARGV[H + k]
    end
  end
end
if #taken > 1 then return taken end
for j = 1, n do redis.call('HSET', KEYS[2], ARGV[R + j], ARGV[2]) end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
if ARGV[1] == '1' then redis.call('SET', KEYS[1], 'pending', 'PX', ARGV[3]) end
return {'new'}
`;
// KEYS: 1 the letter's "admitting" marker, 2 the supporter's hash of claims, 3 the submission's key (the
// marker again when there is none). ARGV: 1 letter id, 2 '1' when a submission is recorded, 3 its
// encrypted status token, 4.. the letter's recipient ids. Returns {1} when the letter still holds every
// claim (the marker dropped, the submission recorded), {0} when one was taken over (nothing changed).
const COMPLETE_LUA = `
for i = 4, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) ~= ARGV[1] then return {0} end
end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ${DAY_SECONDS}) end
return {1}
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

/** What became of a form's submission (id and letter) so far, as read without claiming anything. */
export type SubmissionState =
  /** Nothing: no request has this submission, or the one that had it gave it back (its letter was not accepted). */
  | { kind: 'none' }
  /** A letter was accepted for it: here is its status token. */
  | { kind: 'repeat'; token: string }
  /** A request is handling it right now (or died doing so, until the grace period is over). */
  | { kind: 'in-progress' };

/** The letter's claims were taken over while it was being stored (its request stalled past the grace period). */
export class AdmissionOvertakenError extends Error {
  override name = 'AdmissionOvertakenError';
  constructor() {
    super("the letter's recipient claims were taken over by another letter while it was being stored");
  }
}

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

/** Claims and releases submissions and supporter-recipient pairs, and counts the limits. Rejects only when Redis does. */
export class SubmissionGuard {
  private readonly admitCmd: Command;
  private readonly releaseCmd: Command;
  private readonly completeCmd: Command;

  /**
   * `graceMs`: how long an admitted letter's claims and its form's "in progress" hold before the letter is
   * stored; past it, a claim whose letter does not exist is free (the request that made it died). It must
   * be well above the time a request takes from admission to storing its letter.
   */
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly graceMs = DEFAULT_GRACE_MS,
  ) {
    for (const [name, lua] of [
      ['appealLettersAdmit', ADMIT_LUA],
      ['appealLettersRelease', RELEASE_LUA],
      ['appealLettersCompleteAdmission', COMPLETE_LUA],
    ] as const) {
      if (!(name in redis)) redis.defineCommand(name, { lua });
    }
    const r = redis as unknown as Record<string, Command>;
    this.admitCmd = r.appealLettersAdmit!.bind(redis);
    this.releaseCmd = r.appealLettersRelease!.bind(redis);
    this.completeCmd = r.appealLettersCompleteAdmission!.bind(redis);
  }

  /**
   * Checks and claims everything a new letter needs, in one step: a repeat of the same form (it waits up
   * to `waitMs` for the first request to finish, to return its link), the limits, then the recipients (a
   * claim left by a request that died before storing its letter is free after the grace period). Rejects
   * when Redis does, or when the claims keep changing under it.
   */
  async admit(req: AdmissionRequest, waitMs = 3000): Promise<Admission> {
    const submissionKey = req.submission ? this.submissionKey(req.submission) : this.keys.submission(sha256(`letter:${req.letterId}`));
    const limits = req.limits ?? [];
    const writerKey = this.keys.writer(req.campaign, supporterHash(req.email));
    for (let attempt = 1; ; attempt++) {
      // The script must name the keys of the letters holding claims: the first try assumes none (a new
      // supporter, one round trip); when the script finds some, they are read and it runs again.
      const claimed = attempt === 1 ? req.targetIds.map(() => null) : await this.redis.hmget(writerKey, ...req.targetIds);
      const holders = [...new Set(claimed.filter((v): v is string => v !== null))];
      const keys = [
        submissionKey,
        writerKey,
        this.keys.admitting(req.letterId),
        ...limits.map((l) => l.key),
        ...holders.flatMap((id) => [this.keys.letter(id), this.keys.admitting(id)]),
      ];
      const args = [
        req.submission ? '1' : '0',
        req.letterId,
        this.graceMs,
        req.targetIds.length,
        limits.length,
        holders.length,
        ...req.targetIds,
        ...claimed.map((v) => (v === null ? 0 : holders.indexOf(v) + 1)),
        ...limits.flatMap((l) => [l.max, l.windowMs]),
        ...holders,
      ];
      const [kind, ...rest] = await this.admitCmd(keys.length, ...keys, ...args);
      switch (kind) {
        case 'new':
          return { kind: 'new' };
        case 'changed':
          if (attempt >= 10) throw new Error("the supporter's claims kept changing while being checked");
          continue;
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
  }

  /** A repeat of a form: the first request's link once it has one; a new try if the first gave the id back. */
  private async awaitFirst(req: AdmissionRequest, key: string, value: string, until: number): Promise<Admission> {
    const state = await this.settle(key, req.submission!.id, value, until);
    return state.kind === 'none' ? this.admit(req, Math.max(0, until - Date.now())) : state;
  }

  /**
   * What became of a submission (id and letter), claiming nothing: for checks that work only once (a
   * captcha answer) to let a repeat through to the first letter's link. While another request holds it,
   * waits up to `waitMs` for that one to finish. Rejects when Redis does.
   */
  async peek(submission: FormSubmission, waitMs = 3000): Promise<SubmissionState> {
    const key = this.submissionKey(submission);
    return this.settle(key, submission.id, await this.redis.get(key), Date.now() + waitMs);
  }

  /** Follows a submission's key until it is not "pending" (or `until` passes: in progress). Rejects when Redis does. */
  private async settle(key: string, submissionId: string, value: string | null, until: number): Promise<SubmissionState> {
    for (;;) {
      if (value === null) return { kind: 'none' };
      if (value !== 'pending') {
        const token = decrypt(value, submissionId);
        return token ? { kind: 'repeat', token } : { kind: 'in-progress' };
      }
      if (Date.now() > until) return { kind: 'in-progress' };
      await new Promise((r) => setTimeout(r, 50));
      value = await this.redis.get(key);
    }
  }

  /**
   * Once the letter is stored, before its jobs are queued: checks that the letter still holds every claim
   * it made (a request stalled past the grace period may have been overtaken by another letter to the same
   * recipient), then drops its "admitting" marker (the stored letter now holds its claims) and records the
   * status token the submission, if any, produced (encrypted, for one day). Rejects with
   * AdmissionOvertakenError when a claim was taken over (the caller discards the letter), or when Redis fails.
   */
  async completeAdmission(req: Pick<AdmissionRequest, 'campaign' | 'email' | 'targetIds' | 'letterId' | 'submission'>, token: string): Promise<void> {
    const marker = this.keys.admitting(req.letterId);
    const keys = [marker, this.keys.writer(req.campaign, supporterHash(req.email)), req.submission ? this.submissionKey(req.submission) : marker];
    const value = req.submission ? encrypt(token, req.submission.id) : '';
    const [held] = await this.completeCmd(keys.length, ...keys, req.letterId, req.submission ? '1' : '0', value, ...req.targetIds);
    if (Number(held) !== 1) throw new AdmissionOvertakenError();
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
