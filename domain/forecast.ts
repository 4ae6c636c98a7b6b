import type { CampaignRegistry } from './campaign.js';
import type { Clock } from './clock.js';
import type { DeliveryLog } from './delivery-log.js';
import { PENDING_STATES } from './delivery-states.js';
import type { PaceBook } from './pace-book.js';
import { nextDigestAt } from './pacing.js';
import type { SendingControl } from './sending-control.js';
import { digestRuleFor } from './target-rules.js';

// How long the line is: per recipient and overall, how many letters wait and when the last of them
// will be sent, from the counters and the recipients' reserved slots (no scan of the queue).

export interface TargetForecast {
  targetId: string;
  mode: 'individual' | 'digest';
  /** Letters not yet sent (queued, waiting, in a digest, held, sending, retrying). */
  waiting: number;
  /** Why sending to it is stopped, if it is. */
  blockedBy: string | null;
  /** When its last waiting letter goes out (null: nothing waits, or it is held so no time can be given). */
  lastSendAt: number | null;
}

export interface CampaignForecast {
  campaign: string;
  waiting: number;
  lastSendAt: number | null;
  paused: string | null;
  targets: TargetForecast[];
}

export interface ForecastDeps {
  campaigns: CampaignRegistry;
  log: DeliveryLog;
  paceBook: PaceBook;
  control: SendingControl;
  clock: Clock;
}

/** The forecast of one campaign; undefined for an unknown campaign. Fails only when Redis does. */
export async function forecastCampaign(deps: ForecastDeps, slug: string): Promise<CampaignForecast | undefined> {
  const campaign = deps.campaigns.get(slug);
  if (!campaign) return undefined;
  const now = deps.clock.now();
  const [counts, status, lastSlots] = await Promise.all([
    deps.log.counts(slug),
    deps.control.status([slug]),
    Promise.all(campaign.targets.map((t) => deps.paceBook.lastSlot(slug, t.id))),
  ]);
  const paused = status.paused?.reason ?? null;
  const targets = campaign.targets.map((t, i): TargetForecast => {
    const byState = counts.byTarget[t.id];
    const waiting = byState ? [...PENDING_STATES].reduce((n, s) => n + (byState[s] ?? 0), 0) : 0;
    const blockedBy = paused ?? status.held[slug]?.[t.id]?.reason ?? null;
    const digest = digestRuleFor(campaign, t);
    let lastSendAt: number | null = null;
    if (waiting > 0 && !blockedBy) lastSendAt = digest ? nextDigestAt(digest, now) : Math.max(lastSlots[i] ?? now, now);
    return { targetId: t.id, mode: digest ? 'digest' : 'individual', waiting, blockedBy, lastSendAt };
  });
  const times = targets.map((t) => t.lastSendAt).filter((t): t is number => t !== null);
  return {
    campaign: slug,
    waiting: targets.reduce((n, t) => n + t.waiting, 0),
    lastSendAt: times.length ? Math.max(...times) : null,
    paused,
    targets,
  };
}
