import type { Campaign } from './campaign.js';
import type { Clock } from './clock.js';
import type { DeliveryPlan } from './delivery-log.js';
import type { PaceBook } from './pace-book.js';
import { localDay, nextDigestAt } from './pacing.js';
import { digestRuleFor, paceRuleFor } from './target-rules.js';

// Where each new delivery goes: its place in the recipient's paced line, or the recipient's next digest.

/** A delivery's plan plus what the queue needs to know. */
export interface PlannedDelivery extends DeliveryPlan {
  targetId: string;
  /** When the send (or the digest) is due, ms since the epoch. */
  due: number;
  /** For digest recipients: the digest's period id (its local date). */
  digestPeriod?: string;
  /** The recipient's place among the letter's recipients (0 for the first), when known: it names the delivery's job. */
  place?: number;
}

/** Slots closer than this to now count as "queued" rather than "waiting". */
const QUEUED_WITHIN_MS = 5_000;

/** Plans deliveries. Rejects only when Redis does (slot reservation). */
export class DeliveryPlanner {
  constructor(
    private readonly paceBook: PaceBook,
    private readonly clock: Clock,
    /** False when pacing is switched off (PACING=off): every slot is "now". */
    private readonly pacing = true,
  ) {}

  /** Plans one delivery per recipient (the letter's recipients, in order), reserving paced slots for individual recipients. */
  async plan(campaign: Campaign, targetIds: readonly string[]): Promise<PlannedDelivery[]> {
    return Promise.all(targetIds.map(async (id, place) => ({ ...(await this.planOne(campaign, id)), place })));
  }

  /** Plans one delivery again (after a hold is released): a new slot at the end of the line, or the next digest. */
  async planOne(campaign: Campaign, targetId: string): Promise<PlannedDelivery> {
    const target = campaign.targetById.get(targetId);
    if (!target) throw new Error(`unknown recipient ${targetId}`);
    const now = this.clock.now();
    const digest = digestRuleFor(campaign, target);
    if (digest) {
      const due = nextDigestAt(digest, now);
      const day = localDay(digest.timezone, due);
      return { targetId, state: 'in-digest', due, digestDate: day, digestPeriod: day };
    }
    const due = await this.paceBook.reserve(campaign.slug, targetId, paceRuleFor(campaign, target, this.pacing));
    return { targetId, state: due - now <= QUEUED_WITHIN_MS ? 'queued' : 'waiting', due };
  }
}
