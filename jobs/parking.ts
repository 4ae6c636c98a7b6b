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
// never ends in a burst.

export interface ParkingDeps {
  redis: Redis;
  keys: RedisKeys;
  log: DeliveryLog;
  planner: DeliveryPlanner;
  scheduler: DeliveryScheduler;
  campaigns: CampaignRegistry;
  control: SendingControl;
  clock: Clock;
}

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
    // look again, so no letter stays parked with nothing left to release it.
    if (!(await this.deps.control.check(campaign, targetId)).blocked) await this.release(campaign, targetId);
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
   * Gives the parked letters of one recipient new places in its line, oldest first, unless sending
   * is still paused or the recipient still held. Returns how many were released.
   */
  async release(campaign: string, targetId: string): Promise<number> {
    const c = this.deps.campaigns.get(campaign);
    if (!c || !c.targetById.has(targetId)) return 0;
    if ((await this.deps.control.check(campaign, targetId)).blocked) return 0;
    const key = this.deps.keys.parked(campaign, targetId);
    let released = 0;
    for (;;) {
      const batch = await this.deps.redis.zrange(key, 0, 199);
      if (batch.length === 0) return released;
      for (const letterId of batch) {
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
  }

  /** Releases every recipient of every campaign that is not held (after the global pause is lifted). */
  async releaseAll(): Promise<number> {
    let n = 0;
    for (const c of this.deps.campaigns.list()) for (const t of c.targets) n += await this.release(c.slug, t.id);
    return n;
  }
}
