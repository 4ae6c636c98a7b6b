import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import type { DeliveryPlanner } from '../domain/delivery-planner.js';
import type { LetterStore } from '../domain/letter-store.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import { deliveryJobId, deliveryJobIds, type DeliveryJob, type QueueJobData } from './delivery-queue.js';
import { sweepJobIds } from './orphan-sweep.js';

// What a campaigner can do to deliveries from the dashboard: retry a failed or bounced letter (or all
// of a recipient's), and send a test letter to an address of their choosing.

export interface CampaignerActionDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignRegistry;
  log: DeliveryLog;
  planner: DeliveryPlanner;
  queue: Queue<QueueJobData>;
  letters: LetterStore;
  clock: Clock;
}

/** A test letter request, kept in Redis for a day (the job carries only its id). */
export interface TestLetterRequest {
  campaign: string;
  targetId: string;
  to: string;
  requestedAt: number;
  result?: { ok: true; messageId: string } | { ok: false; reason: string };
}

/** Dashboard actions. Every method fails only when Redis does. */
export class CampaignerActions {
  constructor(private readonly deps: CampaignerActionDeps) {}

  /**
   * Puts a failed, bounced or dropped delivery back in its recipient's line (a new slot at the end).
   * Returns false when the delivery is not in such a state (e.g. already retried), or when the
   * letter's text is gone (deleted once every copy was delivered, before this one was reported bounced).
   */
  async retry(campaign: string, letterId: string, targetId: string): Promise<boolean> {
    const c = this.deps.campaigns.get(campaign);
    if (!c?.targetById.has(targetId)) return false;
    const letter = await this.deps.letters.get(letterId);
    if (!letter || letter.textDeleted) return false;
    const moved = await this.deps.log.apply(campaign, letterId, targetId, 'campaigner-retry', { note: 'Retried by a campaigner.', attempt: 0, due: 0 });
    if (!moved.applied) return false;
    const plan = await this.deps.planner.planOne(c, targetId);
    // A digest recipient's retried letter goes on its own, at the recipient's pace.
    const due = plan.state === 'in-digest' ? this.deps.clock.now() : plan.due;
    if (due > this.deps.clock.now() + 5000) await this.deps.log.apply(campaign, letterId, targetId, 'rescheduled', { due });
    // Its old jobs go, with those the orphan sweep queued for it, so the retried delivery starts afresh.
    const own = deliveryJobIds(letterId, letter.recipients, targetId);
    for (const id of [...own, ...sweepJobIds(own[0]!)]) {
      const old = await this.deps.queue.getJob(id);
      if (old) await old.remove();
    }
    const jobId = deliveryJobId(letterId, targetId, letter.recipients.indexOf(targetId));
    await this.deps.queue.add('deliver', { l: letterId, t: targetId } satisfies DeliveryJob, { jobId, delay: Math.max(0, due - this.deps.clock.now()) });
    return true;
  }

  /** Retries every failed, bounced or dropped letter of one recipient; returns how many. */
  async retryAll(campaign: string, targetId: string): Promise<number> {
    const ids = await this.deps.redis.smembers(this.deps.keys.failed(campaign, targetId));
    let n = 0;
    for (const id of ids) if (await this.retry(campaign, id, targetId)) n += 1;
    return n;
  }

  /** Queues a test letter (subject prefixed "[TEST]") to `to` instead of the recipients; returns the request id. */
  async requestTestLetter(campaign: string, targetId: string, to: string): Promise<string> {
    const id = randomBytes(12).toString('hex');
    const request: TestLetterRequest = { campaign, targetId, to, requestedAt: this.deps.clock.now() };
    await this.deps.redis.set(this.deps.keys.testLetter(id), JSON.stringify(request), 'EX', 86_400);
    await this.deps.queue.add(
      'test-letter',
      { campaign, requestId: id },
      { attempts: 3, backoff: { type: 'exponential', delay: 5000 }, jobId: `test-letter.${id}`, removeOnComplete: true, removeOnFail: { age: 86_400 } },
    );
    return id;
  }

  /** A test letter request and, once sent, its result. */
  async testLetter(id: string): Promise<TestLetterRequest | undefined> {
    if (!/^[0-9a-f]{24}$/.test(id)) return undefined;
    const raw = await this.deps.redis.get(this.deps.keys.testLetter(id));
    return raw ? (JSON.parse(raw) as TestLetterRequest) : undefined;
  }
}
