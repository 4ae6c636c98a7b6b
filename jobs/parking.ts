import type { Redis } from 'ioredis';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import type { DeliveryPlanner } from '../domain/delivery-planner.js';
import type { DeliveryScheduler } from '../domain/letter-submission.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import type { SendingControl } from '../domain/sending-control.js';

// Letters that meet a switch (sending paused, recipient held) are parked in order, per recipient;
// when the switch is lifted they get new places in their recipient's paced line, so a long pause
// never ends in a burst. Lifting a switch does not release them itself: it queues a "release-parked"
// job per recipient (release-parked.ts), which calls releaseBatch until the recipient's parked set is
// empty, and the orphan sweep queues one for any recipient left with parked letters and no switch on.

export interface ParkingDeps {
  redis: Redis;
  keys: RedisKeys;
  log: DeliveryLog;
  planner: DeliveryPlanner;
  scheduler: DeliveryScheduler;
  campaigns: CampaignRegistry;
  control: SendingControl;
  clock: Clock;
  /**
   * Queues the recipient's release job (the worker gives this, release-parked.ts). Without it, a letter
   * parked just as its switch was lifted releases one batch itself.
   */
  requestRelease?: (campaign: string, targetId: string) => Promise<void>;
}

/** Letters a park that finds its switch already lifted releases at once, when it has no release job to ask for (the oldest of its recipient's). */
export const PARK_RECHECK_BATCH = 200;

/** Parks and releases letters. Every method fails only when Redis does. */
export class Parking {
  constructor(private readonly deps: ParkingDeps) {}

  /**
   * Marks the delivery held with `reason` and keeps its place; false if it was no longer in a state that
   * can be parked, or (with `minAgeMs`) had not been in it that long: a send another job took over meanwhile.
   */
  async park(campaign: string, letterId: string, targetId: string, reason: string, options: { minAgeMs?: number } = {}): Promise<boolean> {
    const result = await this.deps.log.apply(campaign, letterId, targetId, 'parked', { note: reason, due: 0, minAgeMs: options.minAgeMs });
    if (!result.applied) return false;
    await this.deps.redis.zadd(this.deps.keys.parked(campaign, targetId), this.deps.clock.now(), letterId);
    // The switch may have been lifted while this letter was being parked (after the release looked):
    // look again, so no letter stays parked with nothing left to release it. The recipient's release job
    // is asked for (one per recipient: never two runs planning the same letters, each run reserving a
    // paced slot the other's letter then never uses); without one, a single batch, so a send never turns
    // into a bulk release. Anything left is the orphan sweep's.
    if (!(await this.deps.control.check(campaign, targetId)).blocked) {
      if (this.deps.requestRelease) await this.deps.requestRelease(campaign, targetId);
      else await this.releaseBatch(campaign, targetId, PARK_RECHECK_BATCH);
    }
    return true;
  }

  /** How many letters are parked for each recipient of a campaign. */
  async counts(campaign: string): Promise<Record<string, number>> {
    const c = this.deps.campaigns.get(campaign);
    if (!c) return {};
    const multi = this.deps.redis.multi();
    for (const t of c.targets) multi.zcard(this.deps.keys.parked(campaign, t.id));
    const results = (await multi.exec()) ?? [];
    return Object.fromEntries(c.targets.map((t, i) => [t.id, Number(results[i]?.[1] ?? 0)]));
  }

  /**
   * Gives up to `limit` of one recipient's parked letters new places in its line, oldest first, unless
   * sending is still paused or the recipient still held. Returns how many were released, and `more`
   * when letters are still parked and no switch blocks them (call again). Safe to run again after a
   * crash, or beside another run: the delivery log lets a letter leave "held" once, and a letter that
   * has already left it is only taken out of the parked set.
   */
  async releaseBatch(campaign: string, targetId: string, limit: number): Promise<{ released: number; more: boolean }> {
    const c = this.deps.campaigns.get(campaign);
    if (!c || !c.targetById.has(targetId)) return { released: 0, more: false };
    if ((await this.deps.control.check(campaign, targetId)).blocked) return { released: 0, more: false };
    const key = this.deps.keys.parked(campaign, targetId);
    let released = 0;
    let looked = 0;
    while (looked < limit) {
      const batch = await this.deps.redis.zrange(key, 0, Math.min(200, limit - looked) - 1);
      if (batch.length === 0) return { released, more: false };
      for (const letterId of batch) {
        looked += 1;
        const plan = await this.deps.planner.planOne(c, targetId);
        const event = plan.state === 'in-digest' ? 'released-to-digest' : 'released';
        // Noted first, so the orphan sweep finds the letter however long ago it was written, even if this process dies next.
        if (event === 'released') await this.deps.redis.zadd(this.deps.keys.releases(campaign), this.deps.clock.now(), letterId);
        const moved = await this.deps.log.apply(campaign, letterId, targetId, event, { due: plan.due, digestDate: plan.digestDate ?? '', note: '' });
        if (moved.applied) {
          if (plan.state === 'in-digest') await this.deps.redis.zadd(this.deps.keys.digestPending(campaign, targetId), this.deps.clock.now(), letterId);
          // A job id of its own (the letter's old job may still be finishing: the one that parked it),
          // named by the release's recorded time, which the orphan sweep reads back from the history.
          await this.deps.scheduler.schedule(campaign, letterId, [plan], { releasedAt: moved.at });
          released += 1;
        }
        await this.deps.redis.zrem(key, letterId);
      }
    }
    return { released, more: (await this.deps.redis.zcard(key)) > 0 };
  }
}
