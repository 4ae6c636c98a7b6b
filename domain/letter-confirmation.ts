import type { Redis } from 'ioredis';
import type { CampaignRegistry } from './campaign.js';
import type { Clock } from './clock.js';
import type { DeliveryLog } from './delivery-log.js';
import type { DeliveryPlanner, PlannedDelivery } from './delivery-planner.js';
import { hashToken, newStatusToken } from './ids.js';
import type { LetterStore } from './letter-store.js';
import type { DeliveryScheduler } from './letter-submission.js';
import type { RedisKeys } from './redis-keys.js';

// Double opt-in: a campaign can ask writers to confirm their email address before their letter goes.
// The confirmation link is its own secret (not the status link, which the writer sees on screen), sent
// only to the address on the letter and stored only as a hash; confirming puts each delivery in its
// recipient's line and counts the letter.

export type ConfirmResult = 'confirmed' | 'already-confirmed' | 'unknown';

/** How long a confirmation link still leads to its letter once used. */
export const CONFIRMED_LINK_GRACE_SECONDS = 600;

export interface LetterConfirmationDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignRegistry;
  letters: LetterStore;
  log: DeliveryLog;
  planner: DeliveryPlanner;
  scheduler: DeliveryScheduler;
  clock: Clock;
}

/** Mints, finds and redeems confirmation links. Every method fails only when Redis does. */
export class LetterConfirmation {
  constructor(private readonly deps: LetterConfirmationDeps) {}

  /** A new confirmation token for the letter, valid for `days`. */
  async mint(letterId: string, days: number): Promise<string> {
    const token = newStatusToken();
    await this.deps.redis.set(this.deps.keys.confirm(hashToken(token)), letterId, 'EX', days * 86_400);
    return token;
  }

  /** The letter a confirmation token is for, while the offer lasts. */
  async find(token: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(token)) return undefined;
    return (await this.deps.redis.get(this.deps.keys.confirm(hashToken(token)))) ?? undefined;
  }

  /** Confirms the letter a token is for: each waiting delivery gets its slot (or digest) and its job; the letter is counted. */
  async confirm(token: string): Promise<ConfirmResult> {
    const letterId = await this.find(token);
    const letter = letterId ? await this.deps.letters.get(letterId) : undefined;
    const campaign = letter ? this.deps.campaigns.get(letter.campaign) : undefined;
    if (!letter || !campaign) return 'unknown';
    const waiting = letter.deliveries.filter((d) => d.record.state === 'unconfirmed');
    if (waiting.length === 0) return 'already-confirmed';
    const now = this.deps.clock.now();
    const plans: PlannedDelivery[] = [];
    for (const { targetId } of waiting) plans.push({ ...(await this.deps.planner.planOne(campaign, targetId)), place: letter.recipients.indexOf(targetId) });
    // Jobs first: if queueing fails nothing has changed and the writer can press the button again; a
    // job that runs before its delivery leaves "unconfirmed" waits a few seconds (deliver-letter.ts).
    await this.deps.scheduler.schedule(campaign.slug, letter.id, plans);
    let moved = 0;
    for (const plan of plans) {
      const digest = plan.state === 'in-digest';
      const result = await this.deps.log.apply(campaign.slug, letter.id, plan.targetId, digest ? 'writer-confirmed-to-digest' : 'writer-confirmed', {
        due: plan.due,
        digestDate: plan.digestDate ?? '',
      });
      if (!result.applied) continue;
      moved += 1;
      if (digest) await this.deps.redis.zadd(this.deps.keys.digestPending(campaign.slug, plan.targetId), now, letter.id);
      else if (plan.state === 'waiting') await this.deps.log.apply(campaign.slug, letter.id, plan.targetId, 'rescheduled', { due: plan.due });
    }
    if (moved === 0) return 'already-confirmed';
    await this.deps.letters.countConfirmed(letter);
    // The link lasts a few minutes more, so a second press of the button (or a second tab) shows the
    // letter instead of "this link has expired"; then it is gone.
    await this.deps.redis.expire(this.deps.keys.confirm(hashToken(token)), CONFIRMED_LINK_GRACE_SECONDS, 'LT');
    return 'confirmed';
  }
}
