import type { Redis } from 'ioredis';
import { textsFor, type Campaign } from './campaign.js';
import type { Clock } from './clock.js';
import { initialDeliveryJson, parseDelivery, type DeliveryPlan, type DeliveryRecord } from './delivery-log.js';
import { hashToken, isStatusTokenShape, newLetterId, newStatusToken } from './ids.js';
import { supporterHash } from './submission-guard.js';
import type { LetterDraft } from './letter-form.js';
import type { RedisKeys } from './redis-keys.js';

// Letters in Redis: one hash per letter holding what the supporter wrote and, under d:<targetId>,
// the delivery record of each recipient. The status link's token is stored only as a hash.

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
//   8.. each recipient's digest line (in the order of the recipients in ARGV).
// ARGV: 1 letter id, 2 now, 3 country ('' when the letter is not counted yet), 4 hour bucket field,
//   5 day bucket field, 6 day number, 7 minute field, 8 stream cap, 9 n = number of hash field/value
//   items, 10..9+n the letter's fields and values, then per recipient its id and its initial state.
const CREATE_LUA = `
local n = tonumber(ARGV[9])
local fields = {}
for i = 10, 9 + n do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('SET', KEYS[2], ARGV[1])
local recipients = (#ARGV - 9 - n) / 2
if ARGV[3] ~= '' then
  redis.call('HINCRBY', KEYS[3], 'letters', 1)
  redis.call('HINCRBY', KEYS[3], 'deliveries', recipients)
  redis.call('HINCRBY', KEYS[3], 'c:' .. ARGV[3], 1)
  redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
  redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
  redis.call('HSETNX', KEYS[4], 'firstDay', ARGV[6])
  redis.call('HINCRBY', KEYS[5], ARGV[7], 1)
  redis.call('EXPIRE', KEYS[5], 7200)
end
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
for r = 1, recipients do
  local t = ARGV[9 + n + 2 * r - 1]
  local state = ARGV[9 + n + 2 * r]
  if state == 'in-digest' then redis.call('ZADD', KEYS[7 + r], ARGV[2], ARGV[1]) end
  redis.call('HINCRBY', KEYS[3], 's:' .. state, 1)
  redis.call('HINCRBY', KEYS[3], 't:' .. t .. ':' .. state, 1)
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*', 'l', ARGV[1], 't', t, 'e', 'letter-accepted', 'f', '', 's', state, 'r', '')
end
return 1
`;

/** Stores and reads letters. Every method fails only when Redis does. */
export class LetterStore {
  private readonly createCmd: (...args: (string | number)[]) => Promise<number>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
    private readonly streamMaxLen = 100_000,
  ) {
    const name = 'appealLettersCreateLetter';
    if (!(name in redis)) redis.defineCommand(name, { lua: CREATE_LUA });
    this.createCmd = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<number>>)[name]!.bind(redis);
  }

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
    const token = newStatusToken();
    const now = this.clock.now();
    const letterKey = this.keys.letter(letterId);
    const countsKey = this.keys.counts(campaign.slug);
    const fields: Record<string, string> = {
      c: campaign.slug,
      fn: draft.firstName,
      ln: draft.lastName,
      em: draft.email,
      co: draft.country,
      su: draft.subject,
      bo: draft.body,
      at: String(now),
      r: draft.recipients.join(','),
      th: hashToken(token),
    };
    if (meta.ipHash) fields.ih = meta.ipHash;
    if (draft.letterLanguage) fields.lg = draft.letterLanguage;
    if (meta.pageLanguage) fields.pl = meta.pageLanguage;
    const consent = campaign.consent && textsFor(campaign, meta.pageLanguage ?? campaign.language).consent;
    if (draft.keepInformed && consent) fields.ki = JSON.stringify({ text: consent.label, at: now });
    const planOf = (t: string): DeliveryPlan => plans[t] ?? { state: 'queued' };
    for (const t of draft.recipients) fields[`d:${t}`] = initialDeliveryJson(now, planOf(t));

    // A letter waiting for its writer's confirmation (double opt-in) is counted when confirmed.
    const awaitingConfirmation = draft.recipients.some((t) => planOf(t).state === 'unconfirmed');
    const hour = Math.floor(now / 3_600_000);
    const keys = [
      letterKey,
      this.keys.token(hashToken(token)),
      countsKey,
      this.keys.stats(campaign.slug),
      this.keys.minutes(campaign.slug, hour),
      this.keys.letterIndex(campaign.slug),
      this.keys.events(campaign.slug),
      ...draft.recipients.map((t) => this.keys.digestPending(campaign.slug, t)),
    ];
    const pairs = Object.entries(fields).flat();
    const args = [
      letterId,
      now,
      awaitingConfirmation ? '' : draft.country,
      `h${hour}:written`,
      `d${Math.floor(now / 86_400_000)}:written`,
      Math.floor(now / 86_400_000),
      `${Math.floor(now / 60_000)}:written`,
      this.streamMaxLen,
      pairs.length,
      ...pairs,
      ...draft.recipients.flatMap((t) => [t, planOf(t).state]),
    ];
    await this.createCmd(keys.length, ...keys, ...args);
    return { letterId, token };
  }

  /** Adds a letter to the campaign's counters (letters, deliveries, country, the time buckets of "written"). */
  private count(multi: ReturnType<Redis['multi']>, campaign: string, country: string, deliveries: number, now: number): void {
    const countsKey = this.keys.counts(campaign);
    const statsKey = this.keys.stats(campaign);
    multi.hincrby(countsKey, 'letters', 1).hincrby(countsKey, 'deliveries', deliveries).hincrby(countsKey, `c:${country}`, 1);
    multi.hincrby(statsKey, `h${Math.floor(now / 3_600_000)}:written`, 1).hincrby(statsKey, `d${Math.floor(now / 86_400_000)}:written`, 1);
    multi.hsetnx(statsKey, 'firstDay', String(Math.floor(now / 86_400_000)));
    const minutesKey = this.keys.minutes(campaign, Math.floor(now / 3_600_000));
    multi.hincrby(minutesKey, `${Math.floor(now / 60_000)}:written`, 1).expire(minutesKey, 7200);
  }

  /**
   * Deletes the personal fields of a letter but keeps its delivery records (ids, states), for a letter
   * withdrawn while one of its deliveries is being sent: the send can still be recorded and counted;
   * retention removes the rest later.
   */
  private async stripPersonalData(letterId: string, h: Record<string, string>): Promise<boolean> {
    const campaign = h.c!;
    const recipients = (h.r ?? '').split(',').filter(Boolean);
    const tokenHashes = [h.th, ...(h.tx ?? '').split(',')].filter((x): x is string => !!x);
    const multi = this.redis.multi().hdel(this.keys.letter(letterId), 'fn', 'ln', 'em', 'su', 'bo', 'ih', 'ki', 'th', 'tx');
    for (const th of tokenHashes) multi.del(this.keys.token(th));
    if (recipients.length) multi.hdel(this.keys.writer(campaign, supporterHash(h.em ?? '')), ...recipients);
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
    const countsKey = this.keys.counts(letter.campaign);
    const multi = this.redis.multi();
    for (const { targetId, record } of letter.deliveries) {
      multi.hincrby(countsKey, `s:${record.state}`, -1).hincrby(countsKey, `t:${targetId}:${record.state}`, -1);
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
    const countsKey = this.keys.counts(campaign);
    const multi = this.redis
      .multi()
      .del(this.keys.letter(letterId))
      .del(this.keys.token(hashToken(token)))
      .zrem(this.keys.letterIndex(campaign), letterId);
    for (const t of letter.recipients) multi.zrem(this.keys.digestPending(campaign, t), letterId);
    // A letter awaiting confirmation was never counted as written.
    if (!letter.deliveries.some((d) => d.record.state === 'unconfirmed')) {
      const statsKey = this.keys.stats(campaign);
      const at = letter.createdAt;
      multi.hincrby(countsKey, 'letters', -1).hincrby(countsKey, 'deliveries', -letter.deliveries.length).hincrby(countsKey, `c:${letter.country}`, -1);
      multi.hincrby(statsKey, `h${Math.floor(at / 3_600_000)}:written`, -1).hincrby(statsKey, `d${Math.floor(at / 86_400_000)}:written`, -1);
      multi.hincrby(this.keys.minutes(campaign, Math.floor(at / 3_600_000)), `${Math.floor(at / 60_000)}:written`, -1);
    }
    for (const { targetId, record } of letter.deliveries) {
      multi.hincrby(countsKey, `s:${record.state}`, -1).hincrby(countsKey, `t:${targetId}:${record.state}`, -1);
    }
    await execOrThrow(multi);
  }

  /** The letter with its deliveries, or undefined when there is no such letter (or no longer). */
  async get(letterId: string): Promise<StoredLetter | undefined> {
    const h = await this.redis.hgetall(this.keys.letter(letterId));
    if (!h.c) return undefined;
    const recipients = (h.r ?? '').split(',').filter(Boolean);
    const deliveries = recipients.flatMap((targetId) => {
      const raw = h[`d:${targetId}`];
      const record = raw ? parseDelivery(raw) : undefined;
      return record ? [{ targetId, record }] : [];
    });
    return {
      id: letterId,
      campaign: h.c,
      firstName: h.fn ?? '',
      lastName: h.ln ?? '',
      email: h.em ?? '',
      country: h.co ?? '',
      subject: h.su ?? '',
      body: h.bo ?? '',
      recipients,
      createdAt: Number(h.at ?? 0),
      deliveries,
      keepInformed: !!h.ki,
      consent: h.ki ? (JSON.parse(h.ki) as { text: string; at: number }) : undefined,
      ipHash: h.ih,
      letterLanguage: h.lg,
      pageLanguage: h.pl,
    };
  }

  /** Adds another status token for a letter (a link sent again by email); the token is stored only as a hash. */
  async addToken(letterId: string): Promise<string> {
    const token = newStatusToken();
    const hash = hashToken(token);
    const letterKey = this.keys.letter(letterId);
    // Remember the extra token's hash on the letter, so deleting the letter deletes every link to it.
    const previous = (await this.redis.hget(letterKey, 'tx')) ?? '';
    await this.redis
      .multi()
      .set(this.keys.token(hash), letterId)
      .hset(letterKey, 'tx', previous ? `${previous},${hash}` : hash)
      .exec();
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
    if (!h.c) return false;
    if (options.keepDeliveryRecords) return this.stripPersonalData(letterId, h);
    const campaign = h.c;
    const recipients = (h.r ?? '').split(',').filter(Boolean);
    const tokenHashes = [h.th, ...(h.tx ?? '').split(',')].filter((x): x is string => !!x);
    const multi = this.redis.multi().del(this.keys.letter(letterId)).zrem(this.keys.letterIndex(campaign), letterId);
    for (const th of tokenHashes) multi.del(this.keys.token(th));
    for (const t of recipients) {
      multi.zrem(this.keys.digestPending(campaign, t), letterId).zrem(this.keys.parked(campaign, t), letterId).srem(this.keys.failed(campaign, t), letterId);
    }
    if (recipients.length) multi.hdel(this.keys.writer(campaign, supporterHash(h.em ?? '')), ...recipients);
    await execOrThrow(multi);
    return true;
  }

  /** The letter id a status token opens; undefined for an unknown or malformed token (no Redis call then). */
  async findByToken(token: string): Promise<string | undefined> {
    if (!isStatusTokenShape(token)) return undefined;
    return (await this.redis.get(this.keys.token(hashToken(token)))) ?? undefined;
  }
}

async function execOrThrow(multi: ReturnType<Redis['multi']>): Promise<void> {
  const results = await multi.exec();
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
}
