import type { Redis } from 'ioredis';
import { textsFor, type Campaign } from './campaign.js';
import type { Clock } from './clock.js';
import { initialDeliveryJson, parseDelivery, type DeliveryPlan, type DeliveryRecord } from './delivery-log.js';
import {
  hashToken,
  isShortLetterId,
  isStatusTokenShape,
  letterOfToken,
  letterTokenHash,
  newLetterId,
  newLetterToken,
  newStatusToken,
  tokenHashMatches,
} from './ids.js';
import { supporterHash } from './submission-guard.js';
import type { LetterDraft } from './letter-form.js';
import { dictionaryId, packedDictionaryId, packLetterText, textDictionary, unpackLetterText, type TextDictionary } from './letter-text.js';
import type { RedisKeys } from './redis-keys.js';

// Letters in Redis: one hash per letter, in as few fields as possible (each field of a Redis hash
// costs about 50 bytes of its own):
//   w       JSON of everything about the letter but its text: campaign, time, recipients, the writer
//           (names, email, country), languages, consent, the keyed IP hash and the status token's hash;
//   su, z   the subject, and the text compressed (letter-text.ts); both are deleted once every copy
//           is delivered (delivery-log.ts), so a delivered letter keeps who wrote, to whom and how it went;
//   tx      the hashes of further status tokens (links sent again), when there are any;
//   d:<t>   the delivery record of each recipient (delivery-log.ts).
// A status token names its letter (ids.ts), so no key leads from tokens to letters; only the
// token's hash is stored. Letters stored before this layout (one field per item, "bo" the text
// uncompressed, a "token:" key per link) are read and deleted as well.

/** A letter as stored, with the delivery record of each recipient in the order they were chosen. */
export interface StoredLetter extends LetterDraft {
  id: string;
  campaign: string;
  createdAt: number;
  deliveries: { targetId: string; record: DeliveryRecord }[];
  /** What the "keep me informed" box said and when it was ticked, if it was. */
  consent?: { text: string; at: number };
  /** The keyed hash of the sender's IP address. */
  ipHash?: string;
  /** The interface language the letter was written in (emails to the writer use it). */
  pageLanguage?: string;
  /** True once the subject and text were deleted because every copy was delivered (subject and body are empty then). */
  textDeleted?: boolean;
}

/** The letter hash's "w" field: everything about a letter but its text and its deliveries. */
interface LetterFacts {
  /** Campaign slug. */
  c: string;
  /** Written at (ms). */
  at: number;
  /** Recipients, in the writer's order. */
  r: string[];
  /** First and last name, email, country (ISO code). */
  f?: string;
  l?: string;
  e?: string;
  co: string;
  ih?: string;
  lg?: string;
  pl?: string;
  ki?: { text: string; at: number };
  /** The first status token's hash. */
  th?: string;
}

/** What a letter hash holds besides the text, in either layout; undefined when it is not a letter. */
export interface LetterFields extends Omit<StoredLetter, 'id' | 'body' | 'deliveries' | 'keepInformed'> {
  /** The hashes of every status token of the letter. */
  tokenHashes: string[];
}

/**
 * Reads a letter hash (as strings; the compressed text, if read, is ignored) of either layout.
 * Undefined when the hash is not a letter (empty, or its "w" field is not valid JSON).
 */
export function letterFieldsOf(h: Record<string, string>): LetterFields | undefined {
  const extra = (h.tx ?? '').split(',').filter(Boolean);
  if (h.w !== undefined) {
    let w: LetterFacts;
    try {
      w = JSON.parse(h.w) as LetterFacts;
    } catch {
      return undefined;
    }
    return {
      campaign: w.c,
      createdAt: w.at,
      recipients: w.r,
      firstName: w.f ?? '',
      lastName: w.l ?? '',
      email: w.e ?? '',
      country: w.co,
      subject: h.su ?? '',
      consent: w.ki,
      ipHash: w.ih,
      letterLanguage: w.lg,
      pageLanguage: w.pl,
      textDeleted: h.su === undefined && h.z === undefined,
      tokenHashes: [w.th, ...extra].filter((x): x is string => !!x),
    };
  }
  if (!h.c) return undefined;
  return {
    campaign: h.c,
    createdAt: Number(h.at ?? 0),
    recipients: (h.r ?? '').split(',').filter(Boolean),
    firstName: h.fn ?? '',
    lastName: h.ln ?? '',
    email: h.em ?? '',
    country: h.co ?? '',
    subject: h.su ?? '',
    consent: h.ki ? (JSON.parse(h.ki) as { text: string; at: number }) : undefined,
    ipHash: h.ih,
    letterLanguage: h.lg,
    pageLanguage: h.pl,
    textDeleted: h.su === undefined && h.bo === undefined,
    tokenHashes: [h.th, ...extra].filter((x): x is string => !!x),
  };
}

/** What is kept with a letter besides what was typed: the keyed hash of the sender's IP address (abuse review only). */
export interface LetterMeta {
  ipHash?: string;
  /** The page's language when the letter was written (the writer's emails use it; the consent text is recorded in it). */
  pageLanguage?: string;
}

/** A letter just accepted: its id (for jobs and logs) and its private status token (for the supporter only). */
export interface CreatedLetter {
  letterId: string;
  token: string;
}

// Stores a new letter in one step (one command instead of a transaction of some twenty: the letter
// path's main cost on the web side was building and writing those commands).
// KEYS: 1 letter, 2 token, 3 counts, 4 stats, 5 this hour's minutes, 6 letter index, 7 events stream,
//   8 the text's dictionary, 9.. each recipient's digest line (in the order of the recipients in ARGV).
// ARGV: 1 letter id, 2 now, 3 the day number for the stats' first day ('' when the letter is not
//   counted yet), 4 stream cap, 5 '1' to write the token key, 6 the dictionary's bytes ('' when the
//   caller believes it stored), 7 n = number of hash field/value items, 8..7+n the letter's fields and
//   values, then m = number of counter changes and m triples (index in KEYS, field, increment), then
//   per recipient its id and its initial state. Returns 0, having written nothing, when the dictionary
//   is missing and not given.
const CREATE_LUA = `
if redis.call('EXISTS', KEYS[8]) == 0 then
  if ARGV[6] == '' then return 0 end
  redis.call('SET', KEYS[8], ARGV[6])
end
local n = tonumber(ARGV[7])
local fields = {}
for i = 8, 7 + n do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[5] == '1' then redis.call('SET', KEYS[2], ARGV[1]) end
local c = 8 + n
local m = tonumber(ARGV[c])
for i = 0, m - 1 do
  redis.call('HINCRBY', KEYS[tonumber(ARGV[c + 1 + 3 * i])], ARGV[c + 2 + 3 * i], ARGV[c + 3 + 3 * i])
end
if ARGV[3] ~= '' then
  redis.call('HSETNX', KEYS[4], 'firstDay', ARGV[3])
  redis.call('EXPIRE', KEYS[5], 7200)
end
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
local r0 = c + 1 + 3 * m
for r = 1, (#ARGV - r0 + 1) / 2 do
  local t = ARGV[r0 + 2 * (r - 1)]
  local state = ARGV[r0 + 2 * (r - 1) + 1]
  if state == 'in-digest' then redis.call('ZADD', KEYS[8 + r], ARGV[2], ARGV[1]) end
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[4], '*', 'l', ARGV[1], 't', t, 'e', 'letter-accepted', 'f', '', 's', state, 'r', '')
end
return 1
`;

/** One change to a campaign counter: a field of a hash, and by how much. */
interface CounterChange {
  key: string;
  field: string;
  by: number;
}

/** Stores and reads letters. Every method fails only when Redis does. */
export class LetterStore {
  private readonly createCmd: (...args: (string | number | Buffer)[]) => Promise<number>;
  /** Text dictionaries this process has seen stored in Redis. */
  private readonly storedDictionaries = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
    private readonly streamMaxLen = 100_000,
  ) {
    const name = 'appealLettersCreateLetter';
    if (!(name in redis)) redis.defineCommand(name, { lua: CREATE_LUA });
    this.createCmd = (redis as unknown as Record<string, (...args: (string | number | Buffer)[]) => Promise<number>>)[name]!.bind(redis);
  }

  /** Text dictionaries by id, once used or read. */
  private readonly dictionaries = new Map<string, TextDictionary>();

  /**
   * Stores a new letter with one delivery per recipient (in the state its plan says; "queued" when
   * there is no plan), its token, the campaign's counters and the stream entries, in one script:
   * either all of it exists or none.
   */
  async create(
    campaign: Campaign,
    draft: LetterDraft,
    plans: Record<string, DeliveryPlan> = {},
    letterId = newLetterId(),
    meta: LetterMeta = {},
  ): Promise<CreatedLetter> {
    // Ids of the older form (32 hex digits) cannot be named by a token: those letters get a token key.
    const locating = isShortLetterId(letterId);
    const token = locating ? newLetterToken(letterId) : newStatusToken();
    const now = this.clock.now();
    const letterKey = this.keys.letter(letterId);
    const dictionary = textDictionary(campaign, draft.letterLanguage);
    this.dictionaries.set(dictionary.id, dictionary);
    const facts: LetterFacts = {
      c: campaign.slug,
      at: now,
      r: draft.recipients,
      f: draft.firstName,
      l: draft.lastName,
      e: draft.email,
      co: draft.country,
      th: locating ? letterTokenHash(token) : hashToken(token),
    };
    if (meta.ipHash) facts.ih = meta.ipHash;
    if (draft.letterLanguage) facts.lg = draft.letterLanguage;
    if (meta.pageLanguage) facts.pl = meta.pageLanguage;
    const consent = campaign.consent && textsFor(campaign, meta.pageLanguage ?? campaign.language).consent;
    if (draft.keepInformed && consent) facts.ki = { text: consent.label, at: now };
    const fields: Record<string, string | Buffer> = { w: JSON.stringify(facts), su: draft.subject, z: packLetterText(draft.body, dictionary) };
    const planOf = (t: string): DeliveryPlan => plans[t] ?? { state: 'queued' };
    for (const t of draft.recipients) fields[`d:${t}`] = initialDeliveryJson(now, planOf(t));

    // A letter waiting for its writer's confirmation (double opt-in) is counted when confirmed.
    const awaitingConfirmation = draft.recipients.some((t) => planOf(t).state === 'unconfirmed');
    const keys = [
      letterKey,
      this.keys.token(hashToken(token)),
      this.keys.counts(campaign.slug),
      this.keys.stats(campaign.slug),
      this.keys.minutes(campaign.slug, Math.floor(now / 3_600_000)),
      this.keys.letterIndex(campaign.slug),
      this.keys.events(campaign.slug),
      this.keys.textDictionary(dictionary.id),
      ...draft.recipients.map((t) => this.keys.digestPending(campaign.slug, t)),
    ];
    const changes = [
      ...(awaitingConfirmation ? [] : this.writtenChanges(campaign.slug, draft.country, draft.recipients.length, now)),
      ...draft.recipients.flatMap((t) => this.stateChanges(campaign.slug, t, planOf(t).state)),
    ];
    const pairs = Object.entries(fields).flat();
    const args = (dictionaryBytes: Buffer | '') => [
      letterId,
      now,
      awaitingConfirmation ? '' : Math.floor(now / 86_400_000),
      this.streamMaxLen,
      locating ? '' : '1',
      dictionaryBytes,
      pairs.length,
      ...pairs,
      changes.length,
      ...changes.flatMap((ch) => [keys.indexOf(ch.key) + 1, ch.field, ch.by]),
      ...draft.recipients.flatMap((t) => [t, planOf(t).state]),
    ];
    // The dictionary's bytes go along only until this process has seen it stored (the script asks for them if missing).
    const known = this.storedDictionaries.has(dictionary.id);
    if ((await this.createCmd(keys.length, ...keys, ...args(known ? '' : dictionary.bytes))) === 0) {
      await this.createCmd(keys.length, ...keys, ...args(dictionary.bytes));
    }
    this.storedDictionaries.add(dictionary.id);
    return { letterId, token };
  }

  /**
   * The counter changes of a letter written (`sign` 1) or taken back (-1): letters, deliveries, its
   * country, and the hour, day and minute buckets of "written".
   */
  private writtenChanges(campaign: string, country: string, deliveries: number, at: number, sign = 1): CounterChange[] {
    const counts = this.keys.counts(campaign);
    const stats = this.keys.stats(campaign);
    const hour = Math.floor(at / 3_600_000);
    return [
      { key: counts, field: 'letters', by: sign },
      { key: counts, field: 'deliveries', by: sign * deliveries },
      { key: counts, field: `c:${country}`, by: sign },
      { key: stats, field: `h${hour}:written`, by: sign },
      { key: stats, field: `d${Math.floor(at / 86_400_000)}:written`, by: sign },
      { key: this.keys.minutes(campaign, hour), field: `${Math.floor(at / 60_000)}:written`, by: sign },
    ];
  }

  /** The counter changes of one delivery entering (`sign` 1) or leaving (-1) `state`. */
  private stateChanges(campaign: string, targetId: string, state: string, sign = 1): CounterChange[] {
    const counts = this.keys.counts(campaign);
    return [
      { key: counts, field: `s:${state}`, by: sign },
      { key: counts, field: `t:${targetId}:${state}`, by: sign },
    ];
  }

  /** Adds a letter to the campaign's counters, in `multi`. */
  private count(multi: ReturnType<Redis['multi']>, campaign: string, country: string, deliveries: number, now: number): void {
    for (const ch of this.writtenChanges(campaign, country, deliveries, now)) multi.hincrby(ch.key, ch.field, ch.by);
    multi.hsetnx(this.keys.stats(campaign), 'firstDay', String(Math.floor(now / 86_400_000)));
    multi.expire(this.keys.minutes(campaign, Math.floor(now / 3_600_000)), 7200);
  }

  /**
   * Deletes the personal fields of a letter but keeps its delivery records (ids, states), for a letter
   * withdrawn while one of its deliveries is being sent or after some reached the provider: the send and the
   * provider's later reports can still be recorded and counted; retention removes the rest later.
   */
  private async stripPersonalData(letterId: string, h: Record<string, string>, f: LetterFields): Promise<boolean> {
    const letterKey = this.keys.letter(letterId);
    const multi = this.redis.multi().hdel(letterKey, 'fn', 'ln', 'em', 'su', 'bo', 'z', 'ih', 'ki', 'th', 'tx');
    if (h.w !== undefined) {
      // What stays: the campaign, the time, the recipients, the country and the languages.
      const kept: LetterFacts = { c: f.campaign, at: f.createdAt, r: f.recipients, co: f.country };
      if (f.letterLanguage) kept.lg = f.letterLanguage;
      if (f.pageLanguage) kept.pl = f.pageLanguage;
      multi.hset(letterKey, 'w', JSON.stringify(kept));
    }
    // Tokens of letters with ids of the older form have keys of their own.
    if (!isShortLetterId(letterId)) for (const th of f.tokenHashes) multi.del(this.keys.token(th));
    if (f.recipients.length) multi.hdel(this.keys.writer(f.campaign, supporterHash(f.email)), ...f.recipients);
    await execOrThrow(multi);
    return true;
  }

  /** Counts a letter whose writer just confirmed it (double opt-in), at the time of confirmation; only once, however often it is called. */
  async countConfirmed(letter: StoredLetter): Promise<void> {
    if ((await this.redis.hsetnx(this.keys.letter(letter.id), 'counted', '1')) === 0) return;
    const multi = this.redis.multi();
    this.count(multi, letter.campaign, letter.country, letter.deliveries.length, this.clock.now());
    await execOrThrow(multi);
  }

  /**
   * Deletes a letter whose writer never confirmed it, taking its unconfirmed deliveries out of the
   * state counters (it was never counted as written). False when there is no such letter or it was confirmed.
   */
  async discardUnconfirmed(letterId: string): Promise<boolean> {
    const letter = await this.get(letterId);
    if (!letter || !letter.deliveries.some((d) => d.record.state === 'unconfirmed')) return false;
    const multi = this.redis.multi();
    for (const { targetId, record } of letter.deliveries) {
      for (const ch of this.stateChanges(letter.campaign, targetId, record.state, -1)) multi.hincrby(ch.key, ch.field, ch.by);
    }
    await execOrThrow(multi);
    return this.purge(letterId);
  }

  /**
   * Removes a letter that was stored but could not be queued, and takes it back out of the
   * counters, so no count ever includes a letter that will not be sent.
   */
  async discard(campaign: string, letterId: string, token: string): Promise<void> {
    const letter = await this.get(letterId);
    if (!letter) return;
    const multi = this.redis.multi().del(this.keys.letter(letterId)).zrem(this.keys.letterIndex(campaign), letterId);
    if (!letterOfToken(token)) multi.del(this.keys.token(hashToken(token)));
    for (const t of letter.recipients) multi.zrem(this.keys.digestPending(campaign, t), letterId);
    // A letter awaiting confirmation was never counted as written.
    const counted = !letter.deliveries.some((d) => d.record.state === 'unconfirmed');
    const changes = [
      ...(counted ? this.writtenChanges(campaign, letter.country, letter.deliveries.length, letter.createdAt, -1) : []),
      ...letter.deliveries.flatMap(({ targetId, record }) => this.stateChanges(campaign, targetId, record.state, -1)),
    ];
    for (const ch of changes) multi.hincrby(ch.key, ch.field, ch.by);
    await execOrThrow(multi);
  }

  /**
   * The letter with its deliveries, or undefined when there is no such letter (or no longer). Rejects
   * when Redis does, or when the dictionary its text is compressed with is missing from Redis.
   */
  async get(letterId: string): Promise<StoredLetter | undefined> {
    const raw = await this.redis.hgetallBuffer(this.keys.letter(letterId));
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) if (k !== 'z') h[k] = v.toString('utf8');
    if (raw.z) h.z = '';
    const f = letterFieldsOf(h);
    if (!f) return undefined;
    const deliveries = f.recipients.flatMap((targetId) => {
      const rec = h[`d:${targetId}`];
      const record = rec ? parseDelivery(rec) : undefined;
      return record ? [{ targetId, record }] : [];
    });
    const body = raw.z ? unpackLetterText(raw.z, await this.dictionary(packedDictionaryId(raw.z))) : (h.bo ?? '');
    const { tokenHashes: _t, ...fields } = f;
    return { id: letterId, ...fields, body, deliveries, keepInformed: !!f.consent };
  }

  /** A text dictionary by id: from memory, else from Redis (and remembered). Rejects when it is in neither. */
  private async dictionary(id: string): Promise<TextDictionary> {
    const known = this.dictionaries.get(id);
    if (known) return known;
    const bytes = await this.redis.getBuffer(this.keys.textDictionary(id));
    if (!bytes) throw new Error(`the text dictionary ${id} is missing from Redis: the letter's text cannot be read`);
    // Named by what it holds, so a damaged copy is refused when a text is read with it.
    const stored = { id: dictionaryId(bytes), bytes };
    this.dictionaries.set(id, stored);
    return stored;
  }

  /** Adds another status token for a letter (a link sent again by email); the token is stored only as a hash, in the letter. */
  async addToken(letterId: string): Promise<string> {
    const letterKey = this.keys.letter(letterId);
    const previous = await this.redis.hget(letterKey, 'tx');
    // Letters with 32-hex ids (the older form) cannot be named by a token: their tokens get a key.
    const locating = isShortLetterId(letterId);
    const token = locating ? newLetterToken(letterId) : newStatusToken();
    const hash = locating ? letterTokenHash(token) : hashToken(token);
    const multi = this.redis.multi().hset(letterKey, 'tx', previous ? `${previous},${hash}` : hash);
    if (!locating) multi.set(this.keys.token(hash), letterId);
    await execOrThrow(multi);
    return token;
  }

  /**
   * Deletes everything personal about a letter: the letter itself (names, email, text, IP hash,
   * consent), every status link, its place in the index and in digest and parked lists, and the
   * "one letter per supporter" claims (email hashes). The campaign's counters stay. Deliveries should be
   * final (or cancelled) first. Returns false when there was no such letter.
   */
  async purge(letterId: string, options: { keepDeliveryRecords?: boolean } = {}): Promise<boolean> {
    const h = await this.redis.hgetall(this.keys.letter(letterId));
    const f = letterFieldsOf(h);
    if (!f) return false;
    if (options.keepDeliveryRecords) return this.stripPersonalData(letterId, h, f);
    const campaign = f.campaign;
    const multi = this.redis.multi().del(this.keys.letter(letterId)).zrem(this.keys.letterIndex(campaign), letterId);
    // Tokens of letters with ids of the older form have keys of their own.
    if (!isShortLetterId(letterId)) for (const th of f.tokenHashes) multi.del(this.keys.token(th));
    for (const t of f.recipients) {
      multi.zrem(this.keys.digestPending(campaign, t), letterId).zrem(this.keys.parked(campaign, t), letterId).srem(this.keys.failed(campaign, t), letterId);
    }
    if (f.recipients.length) multi.hdel(this.keys.writer(campaign, supporterHash(f.email)), ...f.recipients);
    await execOrThrow(multi);
    return true;
  }

  /** True when the letter still has its text (not deleted after delivery, not withdrawn); false also for no such letter. */
  async hasText(letterId: string): Promise<boolean> {
    const [su, z, bo] = await this.redis.hmget(this.keys.letter(letterId), 'su', 'z', 'bo');
    return su != null || z != null || bo != null;
  }

  /** The letter id a status token opens; undefined for an unknown or malformed token (no Redis call then). */
  async findByToken(token: string): Promise<string | undefined> {
    if (!isStatusTokenShape(token)) return undefined;
    const letterId = letterOfToken(token);
    if (!letterId) return (await this.redis.get(this.keys.token(hashToken(token)))) ?? undefined;
    const [w, tx] = await this.redis.hmget(this.keys.letter(letterId), 'w', 'tx');
    if (w == null) return undefined;
    const f = letterFieldsOf(tx == null ? { w } : { w, tx });
    return f && tokenHashMatches(letterTokenHash(token), f.tokenHashes) ? letterId : undefined;
  }
}

async function execOrThrow(multi: ReturnType<Redis['multi']>): Promise<void> {
  const results = await multi.exec();
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
}
