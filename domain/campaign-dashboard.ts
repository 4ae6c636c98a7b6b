import type { Redis } from 'ioredis';
import type { Campaign } from './campaign.js';
import type { Target } from './campaign-schema.js';
import type { Clock } from './clock.js';
import { countryName } from './countries.js';
import { parseDelivery, type CampaignCounts, type DeliveryLog } from './delivery-log.js';
import { DELIVERY_STATES, PENDING_STATES, SENT_STATES, type DeliveryState } from './delivery-states.js';
import { forecastCampaign, type CampaignForecast } from './forecast.js';
import type { PaceBook } from './pace-book.js';
import { intervalMs, isOpen, nextDigestAt, openAt } from './pacing.js';
import type { RedisKeys } from './redis-keys.js';
import type { SendingControl } from './sending-control.js';
import { digestRuleFor, paceRuleFor } from './target-rules.js';

// Everything the campaigner dashboard shows, read from counters kept at write time: the cost of a
// page does not grow with the number of letters (a handful of Redis round trips).

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Hours in the hourly chart, the current one included. */
export const HOURS_SHOWN = 48;
/** Days in the daily chart at the most, today included. */
export const DAYS_SHOWN = 366;

/** One bar of the chart: letters written and emails sent in one hour or day. */
export interface Bucket {
  start: number;
  written: number;
  sent: number;
}

export type TargetStatus = 'ok' | 'held' | 'bouncing' | 'paused' | 'out of office hours';

export interface TargetRow {
  target: Target;
  mode: 'individual' | 'digest';
  counts: Record<DeliveryState, number>;
  waiting: number;
  /** When the next letter is expected to go (null: nothing waits, or sending is stopped). */
  nextSendAt: number | null;
  lastSendAt: number | null;
  status: TargetStatus;
  holdReason: string | null;
}

export interface Problem {
  letterId: string;
  targetId: string;
  state: string;
  error: string;
  at: number;
  /** The delivery's state now (it may have been retried since), or undefined if the letter is gone. */
  current?: DeliveryState;
}

export interface DashboardData {
  now: number;
  counts: CampaignCounts;
  /** Emails that reached the provider (sent, delivered, deferred, bounced, dropped). */
  sentTotal: number;
  /** Deliveries entering each state today (UTC) and in the last 60 minutes, plus letters written. */
  today: Record<DeliveryState | 'written', number>;
  lastHour: Record<DeliveryState | 'written', number>;
  hourly: Bucket[];
  daily: Bucket[];
  /** Emails sent per minute over the last five full minutes. */
  sendRatePerMinute: number;
  targets: TargetRow[];
  countries: { code: string; name: string; letters: number; share: number }[];
  forecast: CampaignForecast;
  problems: Problem[];
}

export interface DashboardDeps {
  redis: Redis;
  keys: RedisKeys;
  log: DeliveryLog;
  paceBook: PaceBook;
  control: SendingControl;
  clock: Clock;
  pacing: boolean;
}

/** Reads the dashboard of one campaign. Fails only when Redis does. */
export async function readDashboard(deps: DashboardDeps, campaign: Campaign): Promise<DashboardData> {
  const now = deps.clock.now();
  const slug = campaign.slug;
  const statsKey = deps.keys.stats(slug);
  const hourNow = Math.floor(now / HOUR);
  const dayNow = Math.floor(now / DAY);
  const minuteNow = Math.floor(now / 60_000);
  const firstDay = Number((await deps.redis.hget(statsKey, 'firstDay')) ?? dayNow);
  const days = Math.min(dayNow - firstDay + 1, DAYS_SHOWN);
  const metrics = ['written', ...DELIVERY_STATES] as const;

  const fields: string[] = [];
  for (let i = HOURS_SHOWN - 1; i >= 0; i--) fields.push(`h${hourNow - i}:written`, `h${hourNow - i}:sent`);
  for (let i = days - 1; i >= 0; i--) fields.push(`d${dayNow - i}:written`, `d${dayNow - i}:sent`);
  for (const m of metrics) fields.push(`d${dayNow}:${m}`);

  const [values, thisHourMinutes, lastHourMinutes, counts, forecast, status, problemsRaw, lastSends] = await Promise.all([
    deps.redis.hmget(statsKey, ...fields),
    deps.redis.hgetall(deps.keys.minutes(slug, hourNow)),
    deps.redis.hgetall(deps.keys.minutes(slug, hourNow - 1)),
    deps.log.counts(slug),
    forecastCampaign(
      {
        campaigns: { list: () => [campaign], get: (s) => (s === slug ? campaign : undefined) },
        log: deps.log,
        paceBook: deps.paceBook,
        control: deps.control,
        clock: deps.clock,
      },
      slug,
    ),
    deps.control.status([slug]),
    deps.redis.lrange(deps.keys.problems(slug), 0, 49),
    Promise.all(campaign.targets.map((t) => deps.redis.zrevrange(deps.keys.sends(slug, t.id), 0, 0, 'WITHSCORES'))),
  ]);
  const n = (i: number) => Number(values[i] ?? 0);
  let i = 0;
  const hourly: Bucket[] = [];
  for (let k = HOURS_SHOWN - 1; k >= 0; k--, i += 2) hourly.push({ start: (hourNow - k) * HOUR, written: n(i), sent: n(i + 1) });
  const daily: Bucket[] = [];
  for (let k = days - 1; k >= 0; k--, i += 2) daily.push({ start: (dayNow - k) * DAY, written: n(i), sent: n(i + 1) });
  const today = {} as Record<DeliveryState | 'written', number>;
  for (const m of metrics) today[m] = n(i++);
  // The last 60 minutes, exactly, from the per-minute counts of this hour and the one before.
  const lastHour = Object.fromEntries(metrics.map((m) => [m, 0])) as Record<DeliveryState | 'written', number>;
  let lastFive = 0;
  for (const [field, value] of [...Object.entries(lastHourMinutes), ...Object.entries(thisHourMinutes)]) {
    const [minute, metric] = field.split(':') as [string, DeliveryState | 'written'];
    const age = minuteNow - Number(minute);
    if (age < 60 && metric in lastHour) lastHour[metric] += Number(value);
    if (metric === 'sent' && age >= 1 && age <= 5) lastFive += Number(value);
  }

  const paused = status.paused?.reason ?? null;
  const holds = status.held[slug] ?? {};
  const targets = campaign.targets.map((target, idx): TargetRow => {
    const c = counts.byTarget[target.id] ?? (Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>);
    const waiting = [...PENDING_STATES].reduce((sum, s) => sum + c[s], 0);
    const hold = holds[target.id];
    const digest = digestRuleFor(campaign, target);
    const rule = paceRuleFor(campaign, target, deps.pacing);
    const f = forecast!.targets[idx]!;
    let statusOf: TargetStatus = 'ok';
    if (paused) statusOf = 'paused';
    else if (hold) statusOf = hold.kind === 'campaigner' ? 'held' : 'bouncing';
    else if (!digest && !isOpen(rule, now)) statusOf = 'out of office hours';
    let nextSendAt: number | null = null;
    if (waiting > 0 && statusOf !== 'paused' && statusOf !== 'held' && statusOf !== 'bouncing') {
      if (digest) nextSendAt = nextDigestAt(digest, now);
      else {
        const lastActual = lastSends[idx]?.[1] ? Number(lastSends[idx]![1]) : 0;
        nextSendAt = openAt(rule, Math.max(now, lastActual + intervalMs(rule)));
      }
    }
    return {
      target,
      mode: digest ? 'digest' : 'individual',
      counts: c,
      waiting,
      nextSendAt,
      lastSendAt: f.lastSendAt,
      status: statusOf,
      holdReason: hold?.reason ?? paused,
    };
  });

  const countries = Object.entries(counts.byCountry)
    .map(([code, letters]) => ({ code, name: countryName(code), letters, share: counts.letters ? letters / counts.letters : 0 }))
    .sort((a, b) => b.letters - a.letters || a.name.localeCompare(b.name));

  const problems = problemsRaw.flatMap((raw): Problem[] => {
    try {
      const p = JSON.parse(raw) as { l: string; t: string; s: string; e: string; at: number };
      return [{ letterId: p.l, targetId: p.t, state: p.s, error: p.e, at: p.at }];
    } catch {
      return [];
    }
  });

  // Each listed problem with the delivery's state now, so a retried one is shown as such.
  const currents = problems.length ? await deps.redis.pipeline(problems.map((p) => ['hget', deps.keys.letter(p.letterId), `d:${p.targetId}`])).exec() : [];
  problems.forEach((p, k) => {
    const raw = currents?.[k]?.[1];
    const record = typeof raw === 'string' ? parseDelivery(raw) : undefined;
    p.current = record?.state;
  });

  return {
    now,
    counts,
    sentTotal: [...SENT_STATES].reduce((sum, s) => sum + counts.byState[s], 0),
    today,
    lastHour,
    hourly,
    daily,
    sendRatePerMinute: lastFive / 5,
    targets,
    countries,
    forecast: forecast!,
    problems,
  };
}

/**
 * Deletes the time buckets of a campaign's stats hash that the dashboard no longer shows (hours before the
 * last HOURS_SHOWN, days before the last DAYS_SHOWN), walking the hash with HSCAN so no command is long even
 * on a hash grown before this existed. Returns how many fields went. Fails only when Redis does (what it deleted stays deleted).
 */
export async function pruneStats(redis: Redis, keys: RedisKeys, campaign: string, now: number): Promise<number> {
  const key = keys.stats(campaign);
  const oldestHour = Math.floor(now / HOUR) - (HOURS_SHOWN - 1);
  const oldestDay = Math.floor(now / DAY) - (DAYS_SHOWN - 1);
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 1000);
    cursor = next;
    const old: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const m = /^([hd])(\d+):/.exec(flat[i]!);
      if (m && Number(m[2]) < (m[1] === 'h' ? oldestHour : oldestDay)) old.push(flat[i]!);
    }
    if (old.length) deleted += await redis.hdel(key, ...old);
  } while (cursor !== '0');
  return deleted;
}
