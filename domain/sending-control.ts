import type { Redis } from 'ioredis';
import type { Clock } from './clock.js';
import type { RedisKeys } from './redis-keys.js';

// The kill switches: pause all sending, or hold one recipient (by a campaigner, or automatically when
// its address bounces, is blocked or reports spam). Workers check them before every send; letters that
// meet a switch are parked, in order, and go out at their pace once sending resumes (a worker's job
// releases them: jobs/release-parked.ts). This module only reads and flips the flags.

/** Why a recipient is held. */
export type HoldKind = 'campaigner' | 'bouncing' | 'spam-report';

export interface Hold {
  kind: HoldKind;
  reason: string;
  since: number;
}

export interface SendingStatus {
  paused: { reason: string; since: number } | null;
  held: Record<string, Record<string, Hold>>;
}

/** What stops a send right now, if anything. */
export type SendBlock = { blocked: false } | { blocked: true; scope: 'all' | 'target'; reason: string };

/** Reads and flips the switches. Every method fails only when Redis does. */
export class SendingControl {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
  ) {}

  /** Pauses every send, across all workers, with a reason shown on /readyz and in the logs. Keeps the first reason if already paused. */
  async pauseAll(reason: string): Promise<void> {
    await this.redis.hsetnx(this.keys.control(), 'paused', JSON.stringify({ reason, since: this.clock.now() }));
  }

  /** Lifts the global pause (the parked letters are released by a worker's job: jobs/release-parked.ts). Returns false if it was not paused. */
  async resumeAll(): Promise<boolean> {
    return (await this.redis.hdel(this.keys.control(), 'paused')) === 1;
  }

  /** Holds one recipient of a campaign. A later hold replaces the reason. */
  async hold(campaign: string, targetId: string, kind: HoldKind, reason: string): Promise<void> {
    const hold: Hold = { kind, reason, since: this.clock.now() };
    await this.redis.hset(this.keys.holds(campaign), targetId, JSON.stringify(hold));
  }

  /** Lifts one recipient's hold (its parked letters are released by a worker's job). Returns false if it was not held. */
  async release(campaign: string, targetId: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.holds(campaign), targetId)) === 1;
  }

  /**
   * Whether a send to this recipient may go now, in one round trip (two reads sent together; on an
   * auto-pipelining connection they share a write with whatever else is asked in the same tick).
   */
  async check(campaign: string, targetId: string): Promise<SendBlock> {
    const [paused, hold] = await Promise.all([this.redis.hget(this.keys.control(), 'paused'), this.redis.hget(this.keys.holds(campaign), targetId)]);
    if (paused) return { blocked: true, scope: 'all', reason: (JSON.parse(paused) as { reason: string }).reason };
    if (hold) return { blocked: true, scope: 'target', reason: (JSON.parse(hold) as Hold).reason };
    return { blocked: false };
  }

  /** The global pause and every hold of the given campaigns. */
  async status(campaigns: readonly string[]): Promise<SendingStatus> {
    const multi = this.redis.multi().hget(this.keys.control(), 'paused');
    for (const c of campaigns) multi.hgetall(this.keys.holds(c));
    const results = ((await multi.exec()) ?? []).map(([, v]) => v);
    const paused = results[0] ? (JSON.parse(results[0] as string) as { reason: string; since: number }) : null;
    const held: SendingStatus['held'] = {};
    campaigns.forEach((c, i) => {
      const raw = (results[i + 1] ?? {}) as Record<string, string>;
      const entries = Object.entries(raw).map(([t, v]) => [t, JSON.parse(v) as Hold] as const);
      if (entries.length) held[c] = Object.fromEntries(entries);
    });
    return { paused, held };
  }
}
