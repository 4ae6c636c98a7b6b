import type { Redis } from 'ioredis';
import type { RedisKeys } from './redis-keys.js';

// The last check before a letter goes: whatever happened to the queue (workers down for a while,
// sending paused and resumed, the provider limiting us), no recipient gets more than its hourly and
// daily limits, nor two letters closer together than half its interval. Counts actual sends, atomically
// across all workers, and records this one if it may go.

// KEYS: 1 recent sends (sorted set), 2 sends per local day (hash: today and the previous day sent on)
// ARGV: 1 now, 2 per-hour limit (0 none), 3 local day, 4 per-day limit (0 none), 5 minimum gap ms, 6 member
const GUARD_LUA = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
local gap = tonumber(ARGV[5])
if gap > 0 then
  local last = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if last[2] and tonumber(last[2]) > now - gap then return {'gap', tonumber(last[2]) + gap} end
end
local perHour = tonumber(ARGV[2])
if perHour > 0 and redis.call('ZCARD', KEYS[1]) >= perHour then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'hour', tonumber(oldest[2]) + 3600000}
end
local perDay = tonumber(ARGV[4])
if perDay > 0 and tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0') >= perDay then return {'day', 0} end
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('PEXPIRE', KEYS[1], 3600000)
if redis.call('HINCRBY', KEYS[2], ARGV[3], 1) == 1 then
  -- The first send of a new local day: the days before the previous one are dropped (the previous one
  -- stays for a worker whose clock is a little behind at midnight). Dates (YYYY-MM-DD) sort as text.
  local before = {}
  for _, day in ipairs(redis.call('HKEYS', KEYS[2])) do
    if day < ARGV[3] then before[#before + 1] = day end
  end
  table.sort(before)
  for i = 1, #before - 1 do redis.call('HDEL', KEYS[2], before[i]) end
end
redis.call('PEXPIRE', KEYS[2], 172800000)
return {'ok', 0}
`;

/**
 * Whether the guard has anything to enforce for a recipient: a rule without an hourly or a daily limit
 * (PACING=off, or limits set to null) has none, so its sends are neither checked nor counted.
 */
export function isLimited(rule: { perHour: number | null; perDay: number | null }): boolean {
  return rule.perHour !== null || rule.perDay !== null;
}

export type GuardVerdict = { ok: true } | { ok: false; limit: 'gap' | 'hour'; retryAt: number } | { ok: false; limit: 'day' };

type GuardCommand = (
  sends: string,
  perDay: string,
  now: number,
  perHour: number,
  day: string,
  dayLimit: number,
  gap: number,
  member: string,
) => Promise<[string, number]>;

/** Checks and records actual sends per recipient, keeping the counts of its last two local days only. Rejects only when Redis does. */
export class SendGuard {
  private readonly guard: GuardCommand;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    const name = 'appealLettersSendGuard';
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 2, lua: GUARD_LUA });
    this.guard = (redis as unknown as Record<string, GuardCommand>)[name]!.bind(redis);
  }

  /** May one more letter go to the recipient now? If so it is counted (a send that then fails still counts: the guard errs towards fewer). */
  async admit(
    campaign: string,
    targetId: string,
    p: { now: number; perHour: number | null; perDay: number | null; localDay: string; minGapMs: number; sendId: string },
  ): Promise<GuardVerdict> {
    const [verdict, at] = await this.guard(
      this.keys.sends(campaign, targetId),
      this.keys.sendsPerDay(campaign, targetId),
      p.now,
      p.perHour ?? 0,
      p.localDay,
      p.perDay ?? 0,
      Math.floor(p.minGapMs),
      p.sendId,
    );
    if (verdict === 'ok') return { ok: true };
    if (verdict === 'day') return { ok: false, limit: 'day' };
    return { ok: false, limit: verdict as 'gap' | 'hour', retryAt: Number(at) };
  }
}
