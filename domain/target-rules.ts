import type { Campaign } from './campaign.js';
import { WEEKDAYS, type OfficeHours, type Target } from './campaign-schema.js';
import { parseClock, type DigestRule, type PaceRule, type WeeklyWindow } from './pacing.js';

// A recipient's effective pacing and digest rules: its own settings over the campaign's defaults.

/** No limits and no office hours: what every recipient gets when pacing is switched off (PACING=off). */
export const UNPACED: PaceRule = { perHour: null, perDay: null, timezone: 'UTC', window: null, jitter: 0 };

/** The pacing of letters to `target` (UNPACED when `enabled` is false). */
export function paceRuleFor(campaign: Campaign, target: Target, enabled = true): PaceRule {
  if (!enabled) return UNPACED;
  const d = campaign.pacing;
  const hours = target.officeHours === undefined ? d.officeHours : target.officeHours;
  return {
    perHour: target.pacing?.perHour === undefined ? d.perHour : target.pacing.perHour,
    perDay: target.pacing?.perDay === undefined ? d.perDay : target.pacing.perDay,
    timezone: target.timezone ?? d.timezone,
    window: hours ? toWindow(hours) : null,
    jitter: d.jitter,
  };
}

/** The digest schedule of `target`, or null when it gets letters one by one. */
export function digestRuleFor(campaign: Campaign, target: Target): DigestRule | null {
  if (target.delivery !== 'digest' || !target.digest) return null;
  return {
    timezone: target.timezone ?? campaign.pacing.timezone,
    days: target.digest.days.map(isoWeekday),
    minute: parseClock(target.digest.at),
  };
}

function toWindow(hours: OfficeHours): WeeklyWindow {
  return { days: hours.days.map(isoWeekday), startMinute: parseClock(hours.start), endMinute: parseClock(hours.end) };
}

function isoWeekday(day: (typeof WEEKDAYS)[number]): number {
  return WEEKDAYS.indexOf(day) + 1;
}
