import type { Redis } from 'ioredis';
import type { Clock } from './clock.js';
import { DELIVERY_STATES, isDeliveryState, transitionFor, type DeliveryEvent, type DeliveryState, type InitialState } from './delivery-states.js';
import type { RedisKeys } from './redis-keys.js';

// The delivery log in Redis: per letter and recipient the state, attempts, provider message id,
// the time of each transition and the last error (when every copy of a letter is delivered, the
// same transition deletes the letter's subject and text); per campaign counters kept as states change and
// a capped stream of every transition. All changes go through one Lua script, so the record, the
// counters and the stream never disagree, even with many workers.

/**
 * One letter to one recipient, as stored in the letter's hash under `d:<targetId>` (JSON with short
 * names: a attempts, m message id, e error, d due, g digest date, n note, x possible duplicate, and
 * h the history, whose last state is the record's state; see TRANSITION_LUA).
 */
export interface DeliveryRecord {
  state: DeliveryState;
  /** Attempts started so far. */
  attempts: number;
  /** The provider's id for the accepted message. */
  messageId?: string;
  /** The reason of the last failure, cleared when a later attempt succeeds. */
  error?: string;
  /** When it is due to be sent (its place in the recipient's paced line, or its digest's time). */
  due?: number;
  /** The local date (YYYY-MM-DD) of the digest it is in. */
  digestDate?: string;
  /** Why it is held, or another remark for the people following it. */
  note?: string;
  /** Set when an attempt was interrupted after it may have reached the provider: the letter may arrive twice. */
  possibleDuplicate?: boolean;
  /** When the state last changed (ms). */
  changedAt: number;
  /** Every state with the time it was entered, oldest first. */
  history: { state: DeliveryState; at: number }[];
}

/** What a transition may record besides the new state. An empty string clears a text field. */
export interface TransitionDetails {
  attempt?: number;
  messageId?: string;
  /** A reason to show; an empty string clears the last one. */
  error?: string;
  /** 0 clears it. */
  due?: number;
  digestDate?: string;
  note?: string;
  possibleDuplicate?: boolean;
  /**
   * An id unique to this attempt at the transition. Redis clients re-send a command whose answer was lost
   * with the connection (Redis restarting); with an id, a transition that was in fact applied is then
   * reported applied (`repeated`) instead of "not allowed" from the state it led to.
   */
  op?: string;
  /**
   * Refuse the move (`too-soon`) unless the delivery has been in its state for at least this long (ms).
   * Not stored. A send may be taken over only once the attempt that started it cannot still be running.
   */
  minAgeMs?: number;
}

/** Short field names in the stored JSON (`ma` is read by the script and never stored). */
const DETAIL_FIELDS = {
  attempt: 'a',
  messageId: 'm',
  error: 'e',
  due: 'd',
  digestDate: 'g',
  note: 'n',
  possibleDuplicate: 'x',
  op: 'o',
  minAgeMs: 'ma',
} as const;

export type TransitionResult =
  | {
      applied: true;
      from: DeliveryState;
      to: DeliveryState;
      repeated?: true;
      /** The time recorded for the move (ms); for a repeat, the time of this call. */
      at: number;
    }
  | { applied: false; reason: 'missing' }
  | { applied: false; reason: 'not-allowed'; from: DeliveryState }
  | { applied: false; reason: 'too-soon'; from: DeliveryState; /** When the delivery entered its state (ms). */ since: number };

/** A campaign's counters, read in one round trip. */
export interface CampaignCounts {
  letters: number;
  deliveries: number;
  byState: Record<DeliveryState, number>;
  byTarget: Record<string, Record<DeliveryState, number>>;
  /** Letters per supporter country (ISO code). */
  byCountry: Record<string, number>;
}

/** One entry of the campaign's transition stream. */
export interface DeliveryLogEntry {
  id: string;
  at: number;
  letterId: string;
  targetId: string;
  event: string;
  from: string;
  to: string;
  error: string;
}

// KEYS: 1 letter hash, 2 campaign counts, 3 campaign events stream, 4 campaign stats (time buckets),
//       5 campaign problems list, 6 the recipient's failed set, 7 this hour's per-minute counts
// ARGV: 1 target id, 2 new state, 3 allowed from-states (comma list), 4 now (ms),
//       5 details JSON (short field names), 6 stream MAXLEN, 7 letter id, 8 event name
const TRANSITION_LUA = `
-- A record's history is one flat list: the first state and its time (ms), then each later state and
-- the ms since the one before; the record's state is the last one. Records written before this form
-- (a state "s", a change time "t", and [state, time] pairs) are rewritten in it on their next change.
local function flat(d)
  if type(d.h) ~= 'table' or type(d.h[1]) ~= 'table' then return d.h end
  local h, prev = {}, nil
  for _, e in ipairs(d.h) do
    table.insert(h, e[1])
    table.insert(h, prev and (e[2] - prev) or e[2])
    prev = e[2]
  end
  return h
end
local function state_of(d)
  if d.s then return d.s end
  return d.h[#d.h - 1]
end
local field = 'd:' .. ARGV[1]
local raw = redis.call('HGET', KEYS[1], field)
if not raw then return {'missing', ''} end
local d = cjson.decode(raw)
local from = state_of(d)
local to = ARGV[2]
local details = cjson.decode(ARGV[5])
if details.o and d.o == details.o then return {'repeat', from} end
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do
  if s == from then allowed = true end
end
if not allowed then return {'not-allowed', from} end
local now = tonumber(ARGV[4])
local h = flat(d)
local last = 0
for i = 2, #h, 2 do last = last + h[i] end
local min_age = details.ma
details.ma = nil
if min_age and now - last < min_age then return {'too-soon', from, tostring(last)} end
-- An attempt's id only needs to outlive the command that carried it.
d.o = nil
for k, v in pairs(details) do
  if v == '' or v == 0 or v == false then d[k] = nil else d[k] = v end
end
table.insert(h, to)
table.insert(h, now - last)
d.h = h
d.s = nil
d.t = nil
redis.call('HSET', KEYS[1], field, cjson.encode(d))
-- Once every copy is delivered (or withdrawn), the letter's subject and text are deleted; the rest
-- (who wrote, to whom, the delivery records) stays until the retention period.
if to == 'delivered' or to == 'cancelled' then
  local done = true
  for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(name, 1, 2) == 'd:' and name ~= field then
      local other = state_of(cjson.decode(redis.call('HGET', KEYS[1], name)))
      if other ~= 'delivered' and other ~= 'cancelled' then done = false end
    end
  end
  if done then redis.call('HDEL', KEYS[1], 'su', 'z', 'bo') end
end
if from ~= to then
  redis.call('HINCRBY', KEYS[2], 's:' .. from, -1)
  redis.call('HINCRBY', KEYS[2], 's:' .. to, 1)
  redis.call('HINCRBY', KEYS[2], 't:' .. ARGV[1] .. ':' .. from, -1)
  redis.call('HINCRBY', KEYS[2], 't:' .. ARGV[1] .. ':' .. to, 1)
  local hour = math.floor(now / 3600000)
  local day = math.floor(now / 86400000)
  redis.call('HINCRBY', KEYS[4], 'h' .. hour .. ':' .. to, 1)
  redis.call('HINCRBY', KEYS[4], 'd' .. day .. ':' .. to, 1)
  redis.call('HINCRBY', KEYS[7], math.floor(now / 60000) .. ':' .. to, 1)
  redis.call('EXPIRE', KEYS[7], 7200)
  local problem = (to == 'failed' or to == 'bounced' or to == 'dropped')
  if problem then
    redis.call('SADD', KEYS[6], ARGV[7])
    redis.call('LPUSH', KEYS[5], cjson.encode({l = ARGV[7], t = ARGV[1], s = to, e = d.e or '', at = now}))
    redis.call('LTRIM', KEYS[5], 0, 199)
  elseif from == 'failed' or from == 'bounced' or from == 'dropped' then
    redis.call('SREM', KEYS[6], ARGV[7])
  end
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*',
  'l', ARGV[7], 't', ARGV[1], 'e', ARGV[8], 'f', from, 's', to, 'r', details.e or '')
return {'ok', from}
`;

type TransitionCommand = (
  letterKey: string,
  countsKey: string,
  eventsKey: string,
  statsKey: string,
  problemsKey: string,
  failedKey: string,
  minutesKey: string,
  targetId: string,
  to: string,
  allowedFrom: string,
  now: number,
  details: string,
  maxLen: number,
  letterId: string,
  event: string,
) => Promise<[string, string, string?]>;

/** How a new delivery starts: its state, and when it is due (its slot or its digest). */
export interface DeliveryPlan {
  state: InitialState;
  due?: number;
  digestDate?: string;
}

/** The JSON stored for a new delivery (used by the letter store inside its MULTI). */
export function initialDeliveryJson(now: number, plan: DeliveryPlan): string {
  return JSON.stringify({
    a: 0,
    h: [plan.state, now],
    ...(plan.due ? { d: plan.due } : {}),
    ...(plan.digestDate ? { g: plan.digestDate } : {}),
  });
}

/** Reads a stored delivery; returns undefined for a field that is not a delivery record. */
export function parseDelivery(raw: string): DeliveryRecord | undefined {
  try {
    const d = JSON.parse(raw) as {
      s?: string;
      a: number;
      m?: string;
      e?: string;
      t?: number;
      d?: number;
      g?: string;
      n?: string;
      x?: boolean;
      h: (string | number)[] | [string, number][] | Record<string, never>;
    };
    const history = historyOf(d.h);
    const state = d.s ?? history[history.length - 1]?.state;
    if (state === undefined || !isDeliveryState(state)) return undefined;
    return {
      state,
      attempts: d.a ?? 0,
      messageId: d.m,
      error: d.e,
      changedAt: d.t ?? history[history.length - 1]?.at ?? 0,
      history,
      due: d.d,
      digestDate: d.g,
      note: d.n,
      possibleDuplicate: d.x === true ? true : undefined,
    };
  } catch {
    return undefined;
  }
}

/** A stored history as states and times: the flat form (state, time, then state, ms since the one before) or the older [state, time] pairs. */
function historyOf(h: unknown): { state: DeliveryState; at: number }[] {
  if (!Array.isArray(h)) return [];
  const out: { state: DeliveryState; at: number }[] = [];
  if (Array.isArray(h[0])) {
    for (const [s, at] of h as [string, number][]) if (isDeliveryState(s)) out.push({ state: s, at });
    return out;
  }
  let at = 0;
  for (let i = 0; i + 1 < h.length; i += 2) {
    const s = h[i];
    at += Number(h[i + 1]);
    if (typeof s === 'string' && isDeliveryState(s)) out.push({ state: s, at });
  }
  return out;
}

/** Writes and reads the delivery log. Fails only when Redis does (the error propagates). */
export class DeliveryLog {
  private readonly transitionCmd: TransitionCommand;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
    private readonly streamMaxLen = 100_000,
  ) {
    const name = 'appealLettersTransition';
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 7, lua: TRANSITION_LUA });
    this.transitionCmd = (redis as unknown as Record<string, TransitionCommand>)[name]!.bind(redis);
  }

  /**
   * Moves one delivery by `event` (see TRANSITIONS), atomically updating its record, the campaign's
   * counters and the event stream; the transition that leaves every copy of the letter delivered or
   * cancelled also deletes its subject and text. Returns applied: false when the delivery does not
   * exist, is in a state the event does not start from, or (with `minAgeMs`) has not been in it that
   * long; nothing is written then.
   */
  async apply(campaign: string, letterId: string, targetId: string, event: DeliveryEvent, details: TransitionDetails = {}): Promise<TransitionResult> {
    const { from, to } = transitionFor(event);
    const now = this.clock.now();
    const payload: Record<string, unknown> = {};
    for (const [name, short] of Object.entries(DETAIL_FIELDS)) {
      const v = details[name as keyof TransitionDetails];
      if (v !== undefined) payload[short] = typeof v === 'string' ? v.slice(0, 500) : v;
    }
    const [status, prev, since] = await this.transitionCmd(
      this.keys.letter(letterId),
      this.keys.counts(campaign),
      this.keys.events(campaign),
      this.keys.stats(campaign),
      this.keys.problems(campaign),
      this.keys.failed(campaign, targetId),
      this.keys.minutes(campaign, Math.floor(now / 3_600_000)),
      targetId,
      to,
      from.join(','),
      now,
      JSON.stringify(payload),
      this.streamMaxLen,
      letterId,
      event,
    );
    if (status === 'missing') return { applied: false, reason: 'missing' };
    if (status === 'not-allowed') return { applied: false, reason: 'not-allowed', from: prev as DeliveryState };
    if (status === 'too-soon') return { applied: false, reason: 'too-soon', from: prev as DeliveryState, since: Number(since) };
    if (status === 'repeat') return { applied: true, from: prev as DeliveryState, to, repeated: true, at: now };
    return { applied: true, from: prev as DeliveryState, to, at: now };
  }

  /** One delivery's record, or undefined when the letter or the recipient is unknown. */
  async get(letterId: string, targetId: string): Promise<DeliveryRecord | undefined> {
    const raw = await this.redis.hget(this.keys.letter(letterId), `d:${targetId}`);
    return raw ? parseDelivery(raw) : undefined;
  }

  /** The campaign's counters: letters, deliveries, and deliveries per state and per target. */
  async counts(campaign: string): Promise<CampaignCounts> {
    const raw = await this.redis.hgetall(this.keys.counts(campaign));
    const zero = () => Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
    const result: CampaignCounts = { letters: Number(raw.letters ?? 0), deliveries: Number(raw.deliveries ?? 0), byState: zero(), byTarget: {}, byCountry: {} };
    for (const [field, value] of Object.entries(raw)) {
      const n = Number(value);
      if (field.startsWith('c:')) {
        if (n > 0) result.byCountry[field.slice(2)] = n;
      } else if (field.startsWith('s:')) {
        const s = field.slice(2);
        if (isDeliveryState(s)) result.byState[s] = n;
      } else if (field.startsWith('t:')) {
        const cut = field.lastIndexOf(':');
        const target = field.slice(2, cut);
        const s = field.slice(cut + 1);
        if (isDeliveryState(s)) (result.byTarget[target] ??= zero())[s] = n;
      }
    }
    return result;
  }

  /** The newest `count` transitions of a campaign, newest first. */
  async recent(campaign: string, count = 50): Promise<DeliveryLogEntry[]> {
    const rows = await this.redis.xrevrange(this.keys.events(campaign), '+', '-', 'COUNT', count);
    return rows.map(([id, flat]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
      return {
        id,
        at: Number(id.split('-')[0]),
        letterId: f.l ?? '',
        targetId: f.t ?? '',
        event: f.e ?? '',
        from: f.f ?? '',
        to: f.s ?? '',
        error: f.r ?? '',
      };
    });
  }
}
