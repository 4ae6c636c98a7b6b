import { DateTime } from 'luxon';
import { seededRandom } from '../support/seeded-random.js';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_PACE_STATE,
  intervalMs,
  isOpen,
  localDay,
  nextDayOpening,
  nextDigestAt,
  nextSlot,
  openAt,
  type DigestRule,
  type PaceRule,
  type PaceState,
} from '../../domain/pacing.js';
import { UNPACED } from '../../domain/target-rules.js';

// Time is driven explicitly: every `now` is a fixed instant, and `random` is deterministic.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const LONDON = 'Europe/London';
const SHANGHAI = 'Asia/Shanghai';
const NEW_YORK = 'America/New_York';

/** The instant of a local wall-clock time, e.g. at('2026-01-10T15:00', LONDON). */
function at(iso: string, zone: string): number {
  const dt = DateTime.fromISO(iso, { zone });
  if (!dt.isValid) throw new Error(`bad test time ${iso}`);
  return dt.toMillis();
}

function local(t: number, zone: string): DateTime {
  return DateTime.fromMillis(t, { zone });
}

const seeded = seededRandom;

/** `count` reservations all made at `now`, each carrying the state of the one before. */
function reserve(rule: PaceRule, count: number, now: number, random: () => number = seeded(1), state: PaceState = EMPTY_PACE_STATE) {
  const slots: number[] = [];
  let s = state;
  for (let i = 0; i < count; i++) {
    const r = nextSlot(rule, s, now, random);
    slots.push(r.slot);
    s = r.state;
  }
  return { slots, state: s };
}

function gaps(slots: readonly number[]): number[] {
  return slots.slice(1).map((t, i) => t - slots[i]!);
}

function perLocalDay(slots: readonly number[], zone: string): Map<string, number> {
  const days = new Map<string, number>();
  for (const t of slots) days.set(localDay(zone, t), (days.get(localDay(zone, t)) ?? 0) + 1);
  return days;
}

const OFFICE_HOURS = { days: [1, 2, 3, 4, 5], startMinute: 9 * 60, endMinute: 17 * 60 };
const londonOffice: PaceRule = { perHour: null, perDay: 40, timezone: LONDON, window: OFFICE_HOURS, jitter: 0 };

describe('letters to one recipient limited to 10 an hour, at any time of day', () => {
  const rule: PaceRule = { perHour: 10, perDay: null, timezone: 'UTC', window: null, jitter: 0 };
  const now = Date.UTC(2026, 2, 10, 14, 7, 31);

  it('when 50 letters are reserved at once, then they go at least 6 minutes apart, the first right away', () => {
    expect(intervalMs(rule)).toBe(6 * MINUTE);
    const { slots } = reserve(rule, 50, now);
    expect(slots[0]).toBe(now);
    expect(slots).toHaveLength(50);
    for (const g of gaps(slots)) expect(g).toBeGreaterThanOrEqual(6 * MINUTE);
    // Evenly, not all bunched up and then a long wait.
    expect(slots[49]).toBe(now + 49 * 6 * MINUTE);
  });

  it('when 50 letters are reserved at once, then no rolling hour holds more than 10 of them', () => {
    for (const jitter of [0, 0.1]) {
      const { slots } = reserve({ ...rule, jitter }, 50, now, seeded(7));
      for (const start of slots) {
        const inHour = slots.filter((t) => t >= start && t < start + HOUR).length;
        expect(inHour).toBeLessThanOrEqual(10);
      }
    }
  });

  it('when the jitter is 0.1, then each gap is between one interval and 1.1 intervals, and not always the same', () => {
    const interval = 6 * MINUTE;
    const edges = [0, 0.9999999, 0.5];
    const rest = seeded(3);
    let i = 0;
    const random = () => (i < edges.length ? edges[i++]! : rest());
    const { slots } = reserve({ ...rule, jitter: 0.1 }, 50, now, random);
    const g = gaps(slots);
    for (const gap of g) {
      expect(gap).toBeGreaterThanOrEqual(interval);
      expect(gap).toBeLessThan(1.1 * interval);
    }
    expect(g[0]).toBe(interval);
    expect(new Set(g).size).toBeGreaterThan(10);
  });
});

describe('an unpaced recipient', () => {
  it('when letters are reserved at once or later, then every slot is "now" (they go at the global rate)', () => {
    const now = Date.UTC(2026, 5, 6, 23, 59, 59);
    const { slots, state } = reserve({ ...UNPACED, jitter: 0.5 }, 30, now, () => 0.99);
    expect(slots).toEqual(Array(30).fill(now));
    const later = now + 1234;
    expect(nextSlot(UNPACED, state, later, () => 0.99).slot).toBe(later);
  });
});

describe('office hours 09:00-17:00 Monday to Friday in London, at most 40 a day', () => {
  // Saturday 10 January 2026, 15:00 in London (GMT).
  const saturday = at('2026-01-10T15:00', LONDON);
  const { slots } = reserve(londonOffice, 100, saturday);
  const locals = slots.map((t) => local(t, LONDON));

  it('when 100 letters are written on a Saturday afternoon, then the first goes at 09:00 on Monday exactly', () => {
    expect(slots[0]).toBe(at('2026-01-12T09:00', LONDON));
    expect(locals[0]!.toFormat('cccc HH:mm:ss.SSS')).toBe('Monday 09:00:00.000');
  });

  it('when 100 letters are written on a Saturday afternoon, then all go inside office hours Monday to Wednesday, none at the weekend', () => {
    for (const dt of locals) {
      expect([1, 2, 3]).toContain(dt.weekday);
      const minute = dt.hour * 60 + dt.minute;
      expect(minute).toBeGreaterThanOrEqual(9 * 60);
      expect(minute).toBeLessThan(17 * 60);
      expect(dt.toISODate()! >= '2026-01-12' && dt.toISODate()! <= '2026-01-14').toBe(true);
    }
    for (const t of slots) expect(isOpen(londonOffice, t)).toBe(true);
  });

  it('when 100 letters are written on a Saturday afternoon, then no local day gets more than 40', () => {
    expect(Object.fromEntries(perLocalDay(slots, LONDON))).toEqual({ '2026-01-12': 40, '2026-01-13': 40, '2026-01-14': 20 });
  });

  it('when 100 letters are written on a Saturday afternoon, then each day they are spread 12 minutes apart over the day, not piled at the opening', () => {
    expect(intervalMs(londonOffice)).toBe(12 * MINUTE);
    for (let i = 1; i < slots.length; i++) {
      if (localDay(LONDON, slots[i]!) === localDay(LONDON, slots[i - 1]!)) expect(slots[i]! - slots[i - 1]!).toBe(12 * MINUTE);
    }
    expect(locals[39]!.toFormat('cccc HH:mm')).toBe('Monday 16:48');
    expect(locals[40]!.toFormat('cccc HH:mm')).toBe('Tuesday 09:00');
    expect(locals[99]!.toFormat('cccc HH:mm')).toBe('Wednesday 12:48');
  });
});

describe('the daily limit', () => {
  it('when a recipient has had its 40 letters today, then the next goes at the opening of the next open day', () => {
    const monday = at('2026-01-12T14:00', LONDON);
    const full: PaceState = { last: at('2026-01-12T13:00', LONDON), day: '2026-01-12', dayCount: 40 };
    const { slot, state } = nextSlot(londonOffice, full, monday, () => 0);
    expect(slot).toBe(at('2026-01-13T09:00', LONDON));
    expect(state).toEqual({ last: slot, day: '2026-01-13', dayCount: 1 });

    const friday = at('2026-01-16T10:00', LONDON);
    const fullFriday: PaceState = { last: at('2026-01-16T09:48', LONDON), day: '2026-01-16', dayCount: 40 };
    expect(nextSlot(londonOffice, fullFriday, friday, () => 0).slot).toBe(at('2026-01-19T09:00', LONDON));
  });

  it('when the limit is not reached yet, then the next letter still goes today', () => {
    const monday = at('2026-01-12T14:00', LONDON);
    const partly: PaceState = { last: at('2026-01-12T13:00', LONDON), day: '2026-01-12', dayCount: 39 };
    const { slot, state } = nextSlot(londonOffice, partly, monday, () => 0);
    expect(slot).toBe(monday);
    expect(state.dayCount).toBe(40);
  });

  it('when a 25-hour day (clocks going back) would fit a 25th hourly letter, then it rolls to the next local midnight instead', () => {
    // Sunday 25 October 2026 in London has 25 hours; 24 a day at any time means one an hour.
    const rule: PaceRule = { perHour: null, perDay: 24, timezone: LONDON, window: null, jitter: 0 };
    const { slots } = reserve(rule, 26, at('2026-10-25T00:00', LONDON));
    expect(perLocalDay(slots, LONDON).get('2026-10-25')).toBe(24);
    expect(local(slots[23]!, LONDON).toFormat('yyyy-MM-dd HH:mm')).toBe('2026-10-25 22:00');
    expect(slots[24]).toBe(at('2026-10-26T00:00', LONDON));
    expect(slots[25]).toBe(at('2026-10-26T01:00', LONDON));
  });

  it('when there are no office hours, then the next day "opening" is local midnight', () => {
    const rule = { timezone: SHANGHAI, window: null };
    expect(nextDayOpening(rule, Date.UTC(2026, 2, 10, 15, 30))).toBe(at('2026-03-11T00:00', SHANGHAI));
  });
});

describe('office hours across a daylight-saving change', () => {
  it('when clocks go forward on Sunday 29 March 2026, then Monday still opens at 09:00 London time (08:00 UTC)', () => {
    const { slots } = reserve(londonOffice, 45, at('2026-03-28T15:00', LONDON));
    expect(slots[0]).toBe(Date.UTC(2026, 2, 30, 8, 0));
    expect(local(slots[0]!, LONDON).toFormat('cccc HH:mm')).toBe('Monday 09:00');
    expect(local(slots[39]!, LONDON).toFormat('cccc HH:mm')).toBe('Monday 16:48');
    expect(local(slots[40]!, LONDON).toFormat('cccc HH:mm')).toBe('Tuesday 09:00');
  });

  it('when clocks go back on Sunday 25 October 2026, then Monday still opens at 09:00 London time (09:00 UTC)', () => {
    const { slots } = reserve(londonOffice, 45, at('2026-10-23T17:30', LONDON));
    expect(slots[0]).toBe(Date.UTC(2026, 9, 26, 9, 0));
    expect(local(slots[0]!, LONDON).toFormat('cccc HH:mm')).toBe('Monday 09:00');
    expect(local(slots[39]!, LONDON).toFormat('cccc HH:mm')).toBe('Monday 16:48');
  });

  it('when the office is open every day, then on the day the clocks change it still opens at 09:00 local time', () => {
    const everyDay: PaceRule = { ...londonOffice, window: { ...OFFICE_HOURS, days: [1, 2, 3, 4, 5, 6, 7] } };
    expect(nextSlot(everyDay, EMPTY_PACE_STATE, at('2026-03-28T18:00', LONDON)).slot).toBe(Date.UTC(2026, 2, 29, 8, 0));
    expect(nextSlot(everyDay, EMPTY_PACE_STATE, at('2026-10-24T18:00', LONDON)).slot).toBe(Date.UTC(2026, 9, 25, 9, 0));
    expect(nextDayOpening(everyDay, at('2026-03-28T10:00', LONDON))).toBe(at('2026-03-29T09:00', LONDON));
  });

  it('when it is summer time, then "open" follows London wall-clock time, not UTC', () => {
    expect(isOpen(londonOffice, Date.UTC(2026, 2, 30, 8, 30))).toBe(true); // 09:30 BST
    expect(isOpen(londonOffice, Date.UTC(2026, 2, 30, 16, 30))).toBe(false); // 17:30 BST
    expect(openAt(londonOffice, Date.UTC(2026, 2, 30, 7, 0))).toBe(Date.UTC(2026, 2, 30, 8, 0));
  });
});

describe('office hours in Shanghai (no daylight saving)', () => {
  const shanghai: PaceRule = { ...londonOffice, timezone: SHANGHAI };

  it('when letters are written at 10:00 UTC on Tuesday, already 18:00 in Shanghai, then they go from 09:00 Wednesday Shanghai time', () => {
    const now = Date.UTC(2026, 2, 10, 10, 0); // Tuesday 10 March 2026
    expect(local(now, SHANGHAI).toFormat('cccc HH:mm')).toBe('Tuesday 18:00');
    const { slots } = reserve(shanghai, 3, now);
    expect(slots[0]).toBe(Date.UTC(2026, 2, 11, 1, 0));
    expect(slots.map((t) => local(t, SHANGHAI).toFormat('cccc HH:mm'))).toEqual(['Wednesday 09:00', 'Wednesday 09:12', 'Wednesday 09:24']);
  });

  it('when it is 02:00 UTC on a weekday, then the Shanghai office (10:00) is open and a letter goes at once', () => {
    const now = Date.UTC(2026, 2, 10, 2, 0);
    expect(nextSlot(shanghai, EMPTY_PACE_STATE, now, () => 0).slot).toBe(now);
  });
});

describe('when a digest goes out', () => {
  const weekdays930: DigestRule = { timezone: NEW_YORK, days: [1, 2, 3, 4, 5], minute: 9 * 60 + 30 };

  it('when it is Friday 10:00 in New York, then the next digest is Monday 09:30 New York time (across the clocks going forward)', () => {
    const t = nextDigestAt(weekdays930, at('2026-03-06T10:00', NEW_YORK));
    expect(local(t, NEW_YORK).toFormat('yyyy-MM-dd cccc HH:mm')).toBe('2026-03-09 Monday 09:30');
    expect(t).toBe(Date.UTC(2026, 2, 9, 13, 30)); // EDT, UTC-4
  });

  it('when it is Monday 09:00, then the next digest is at 09:30 the same day', () => {
    expect(nextDigestAt(weekdays930, at('2026-03-09T09:00', NEW_YORK))).toBe(at('2026-03-09T09:30', NEW_YORK));
    expect(nextDigestAt(weekdays930, at('2026-03-09T09:30', NEW_YORK) - 1)).toBe(at('2026-03-09T09:30', NEW_YORK));
  });

  it('when it is exactly 09:30, then the next digest is strictly later: 09:30 the next weekday', () => {
    const now = at('2026-03-09T09:30', NEW_YORK);
    const t = nextDigestAt(weekdays930, now);
    expect(t).toBeGreaterThan(now);
    expect(t).toBe(at('2026-03-10T09:30', NEW_YORK));
  });

  it('when the recipient is ahead of UTC, then the digest day is its own local day', () => {
    const tokyo: DigestRule = { ...weekdays930, timezone: 'Asia/Tokyo' };
    // Sunday 23:00 UTC is Monday 08:00 in Tokyo.
    expect(nextDigestAt(tokyo, Date.UTC(2026, 2, 8, 23, 0))).toBe(Date.UTC(2026, 2, 9, 0, 30));
  });
});

describe('the state remembered between reservations', () => {
  // 10 an hour, 240 a day: a 6-minute interval either way.
  const rule: PaceRule = { perHour: 10, perDay: 240, timezone: LONDON, window: null, jitter: 0.5 };
  const now = at('2026-01-12T14:00', LONDON);

  it('when the recipient has been idle longer than the interval, then the next letter goes now, not after the old line', () => {
    const idle: PaceState = { last: now - 2 * HOUR, day: '2026-01-12', dayCount: 3 };
    const { slot, state } = nextSlot(rule, idle, now, () => 0.99);
    expect(slot).toBe(now);
    expect(state).toEqual({ last: now, day: '2026-01-12', dayCount: 4 });
  });

  it('when the last letter went 2 minutes ago, then the next waits for the rest of the interval', () => {
    const recent: PaceState = { last: now - 2 * MINUTE, day: '2026-01-12', dayCount: 3 };
    expect(nextSlot({ ...rule, jitter: 0 }, recent, now).slot).toBe(now + 4 * MINUTE);
  });

  it('when the count belongs to an earlier day, then today starts from zero', () => {
    const yesterday: PaceState = { last: now - 20 * HOUR, day: '2026-01-11', dayCount: 240 };
    const { slot, state } = nextSlot(rule, yesterday, now, () => 0);
    expect(slot).toBe(now);
    expect(state.dayCount).toBe(1);
  });

  it('when reservations are made at successive times, then each continues the line left by the one before', () => {
    const first = reserve({ ...rule, jitter: 0 }, 5, now);
    expect(first.slots[4]).toBe(now + 4 * 6 * MINUTE);
    const more = reserve({ ...rule, jitter: 0 }, 2, now + 10 * MINUTE, undefined, first.state);
    expect(more.slots).toEqual([now + 5 * 6 * MINUTE, now + 6 * 6 * MINUTE]);
    expect(more.state.dayCount).toBe(7);
  });
});

describe('remembered local days', () => {
  /** openAt and localDay computed afresh with luxon, as the rules define them. */
  function reference(rule: Pick<PaceRule, 'timezone' | 'window'>, t: number): { open: number; day: string } {
    const day = DateTime.fromMillis(t, { zone: rule.timezone }).toISODate()!;
    const w = rule.window;
    if (!w) return { open: t, day };
    let dt = DateTime.fromMillis(t, { zone: rule.timezone });
    for (let i = 0; i < 8; i++) {
      if (w.days.includes(dt.weekday)) {
        const start = dt.set({ hour: Math.floor(w.startMinute / 60), minute: w.startMinute % 60, second: 0, millisecond: 0 });
        const end = dt.set({ hour: Math.floor(w.endMinute / 60), minute: w.endMinute % 60, second: 0, millisecond: 0 });
        if (dt < start) return { open: start.toMillis(), day };
        if (dt < end) return { open: dt.toMillis(), day };
      }
      dt = dt.startOf('day').plus({ days: 1 });
    }
    throw new Error('no open day');
  }

  it('when times in three zones are asked about in random order across the clock changes, then every answer is the one luxon gives afresh', () => {
    const random = seededRandom(20261126);
    const window = { days: [1, 2, 3, 4, 5], startMinute: 9 * 60, endMinute: 17 * 60 + 30 };
    const from = at('2026-03-20T00:00', 'UTC');
    const to = at('2026-11-10T00:00', 'UTC');
    for (let i = 0; i < 3000; i++) {
      const timezone = [LONDON, SHANGHAI, NEW_YORK][Math.floor(random() * 3)]!;
      // Often near the same instants (as a burst of letters is), sometimes anywhere in the eight months.
      const t = random() < 0.5 ? from + Math.floor(random() * (to - from)) : at('2026-10-25T00:30', 'UTC') + Math.floor(random() * 4 * 86_400_000);
      const rule = { timezone, window };
      const expected = reference(rule, t);
      expect(openAt(rule, t), `${timezone} ${new Date(t).toISOString()}`).toBe(expected.open);
      expect(localDay(timezone, t)).toBe(expected.day);
    }
  });
});
