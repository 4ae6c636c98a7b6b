import { DateTime } from 'luxon';

// Pacing rules and the arithmetic of send slots, as pure functions of time (no I/O, no clock of
// their own): how far apart letters to one recipient go, inside which local office hours, with how
// many per hour and per local day, and when a digest goes out.

/** Office hours in the recipient's own time zone: ISO weekdays (1 = Monday ... 7 = Sunday) and minutes after midnight. */
export interface WeeklyWindow {
  days: readonly number[];
  startMinute: number;
  endMinute: number;
}

/** How letters to one recipient are paced. A null limit means no limit of that kind. */
export interface PaceRule {
  perHour: number | null;
  perDay: number | null;
  /** An IANA time zone, e.g. "Europe/London". */
  timezone: string;
  /** Office hours; null sends at any time of day. */
  window: WeeklyWindow | null;
  /** Extra random delay added to each paced slot, as a share of the interval (0 to 0.5). */
  jitter: number;
}

/** When a recipient in digest mode receives its digest: at `minute` after local midnight on `days`. */
export interface DigestRule {
  timezone: string;
  days: readonly number[];
  minute: number;
}

/** What is remembered per recipient between reservations: the last slot, its local day and how many slots that day has. */
export interface PaceState {
  last: number | null;
  day: string | null;
  dayCount: number;
}

export const EMPTY_PACE_STATE: PaceState = { last: null, day: null, dayCount: 0 };

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The smallest gap between two letters to the recipient: an even spread of its hourly and daily limits over its open hours. */
export function intervalMs(rule: PaceRule): number {
  const openPerDay = rule.window ? (rule.window.endMinute - rule.window.startMinute) * 60_000 : DAY;
  return Math.max(rule.perHour ? HOUR / rule.perHour : 0, rule.perDay ? openPerDay / rule.perDay : 0);
}

/** The recipient's local date (YYYY-MM-DD) at time `t`. */
export function localDay(timezone: string, t: number): string {
  return dayAt(timezone, t).date;
}

/** The earliest time at or after `t` inside the office hours (t itself when there are none). */
export function openAt(rule: Pick<PaceRule, 'timezone' | 'window'>, t: number): number {
  const w = rule.window;
  if (!w) return t;
  let day = dayAt(rule.timezone, t);
  let at = t;
  for (let i = 0; i < 8; i++) {
    if (w.days.includes(day.weekday)) {
      const start = wallClock(day, w.startMinute);
      const end = wallClock(day, w.endMinute);
      if (at < start) return start;
      if (at < end) return at;
    }
    at = day.end;
    day = dayAt(rule.timezone, at);
  }
  throw new Error('office hours have no open day');
}

/** True when `t` is inside the office hours (always, when there are none). */
export function isOpen(rule: Pick<PaceRule, 'timezone' | 'window'>, t: number): boolean {
  return openAt(rule, t) === t;
}

/** The opening of the office hours on the first local day after the one `t` falls on (local midnight when there are none). */
export function nextDayOpening(rule: Pick<PaceRule, 'timezone' | 'window'>, t: number): number {
  return openAt(rule, dayAt(rule.timezone, t).end);
}

/**
 * The next send slot for a recipient, given what was reserved before: no earlier than `now`, at least
 * one interval (plus jitter) after the previous slot, inside office hours, and within the daily limit
 * of the slot's local day. Returns the slot and the state to remember. `random` returns [0, 1).
 */
export function nextSlot(rule: PaceRule, state: PaceState, now: number, random: () => number = Math.random): { slot: number; state: PaceState } {
  const interval = intervalMs(rule);
  let t = now;
  if (state.last !== null && state.last + interval > now) {
    t = state.last + interval + Math.floor(random() * rule.jitter * interval);
  }
  for (let guard = 0; guard < 400; guard++) {
    t = openAt(rule, t);
    const day = localDay(rule.timezone, t);
    const count = day === state.day ? state.dayCount : 0;
    if (rule.perDay !== null && count >= rule.perDay) {
      t = nextDayOpening(rule, t);
      continue;
    }
    return { slot: t, state: { last: t, day, dayCount: count + 1 } };
  }
  throw new Error('no send slot found within 400 days');
}

/** The next digest time strictly after `now`. */
export function nextDigestAt(rule: DigestRule, now: number): number {
  let day = dayAt(rule.timezone, now);
  for (let i = 0; i < 8; i++) {
    if (rule.days.includes(day.weekday)) {
      const at = wallClock(day, rule.minute);
      if (at > now) return at;
    }
    day = dayAt(rule.timezone, day.end);
  }
  throw new Error('digest has no day');
}

/** "HH:MM" to minutes after midnight; throws on anything else. */
export function parseClock(hhmm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!m) throw new Error(`not a time of day: ${hhmm}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** One local calendar day of a time zone: where it starts and ends in UTC, its date and ISO weekday. */
interface LocalDayInfo {
  start: number;
  end: number;
  date: string;
  weekday: number;
  midnight: DateTime;
  /** Minutes after midnight already turned into instants (office hours, digest times). */
  instants: Map<number, number>;
}

/** A few recent days per time zone: slot arithmetic asks about the same days again and again, and luxon's zone maths is slow. */
const recentDays = new Map<string, LocalDayInfo[]>();
const DAYS_KEPT_PER_ZONE = 16;

/** The local day of `timezone` that `t` falls in (computed by luxon once, then remembered). */
function dayAt(timezone: string, t: number): LocalDayInfo {
  let days = recentDays.get(timezone);
  if (!days) recentDays.set(timezone, (days = []));
  for (const d of days) if (t >= d.start && t < d.end) return d;
  const midnight = DateTime.fromMillis(t, { zone: timezone }).startOf('day');
  const day: LocalDayInfo = {
    start: midnight.toMillis(),
    end: midnight.plus({ days: 1 }).toMillis(),
    date: midnight.toISODate()!,
    weekday: midnight.weekday,
    midnight,
    instants: new Map(),
  };
  days.unshift(day);
  if (days.length > DAYS_KEPT_PER_ZONE) days.pop();
  return day;
}

/** The instant of the local wall-clock time `minute` after midnight on `day` (so 09:00 stays 09:00 across a DST change). */
function wallClock(day: LocalDayInfo, minute: number): number {
  let at = day.instants.get(minute);
  if (at === undefined) {
    at = day.midnight.set({ hour: Math.floor(minute / 60), minute: minute % 60, second: 0, millisecond: 0 }).toMillis();
    day.instants.set(minute, at);
  }
  return at;
}
