import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import { pruneStats } from '../domain/campaign-dashboard.js';
import type { Clock } from '../domain/clock.js';
import { FINAL_STATES } from '../domain/delivery-states.js';
import type { LetterStore } from '../domain/letter-store.js';
import type { RedisKeys } from '../domain/redis-keys.js';

// Retention: supporters' personal data is kept only as long as needed. Once a letter is older than
// the retention period and every delivery of it is final, the letter (names, email, text, IP hash,
// consent, status links) is deleted; the campaign's counters stay. The same job trims each campaign's
// hourly and daily stats to what the dashboard shows, so that hash stops growing with the campaign's age.

export interface RetentionDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignRegistry;
  letters: LetterStore;
  clock: Clock;
  logger: Logger;
  retentionDays: number;
}

/** Letters looked at per run at the most; the next run goes on from where this one stopped. */
const MAX_PER_RUN = 50_000;

/**
 * Deletes the expired letters of every campaign and the stats buckets its dashboard no longer shows; returns
 * how many letters were deleted and how many are kept because still on their way. Fails when Redis does (the next run goes on).
 */
export async function applyRetention(deps: RetentionDeps): Promise<{ deleted: number; kept: number }> {
  const cutoff = deps.clock.now() - deps.retentionDays * 86_400_000;
  let deleted = 0;
  let kept = 0;
  let examined = 0;
  let pruned = 0;
  for (const campaign of deps.campaigns.list()) {
    pruned += await pruneStats(deps.redis, deps.keys, campaign.slug, deps.clock.now());
    const index = deps.keys.letterIndex(campaign.slug);
    // Old letters still on their way are skipped, not deleted; a cursor past them lets each run get
    // further, and it starts again from the oldest once the end is reached.
    const cursorKey = `${index}:retention-offset`;
    let offset = Number((await deps.redis.get(cursorKey)) ?? 0);
    for (;;) {
      if (examined >= MAX_PER_RUN) {
        await deps.redis.set(cursorKey, String(offset));
        break;
      }
      const ids = await deps.redis.zrangebyscore(index, '-inf', cutoff, 'LIMIT', offset, 500);
      if (ids.length === 0) {
        await deps.redis.del(cursorKey);
        break;
      }
      examined += ids.length;
      for (const id of ids) {
        const letter = await deps.letters.get(id);
        if (!letter) {
          await deps.redis.zrem(index, id);
          continue;
        }
        if (letter.deliveries.every((d) => FINAL_STATES.has(d.record.state))) {
          await deps.letters.purge(id);
          deleted += 1;
        } else {
          kept += 1;
          offset += 1;
        }
      }
    }
  }
  if (deleted) deps.logger.info({ deleted, kept }, 'retention: personal data of old letters deleted');
  if (pruned) deps.logger.debug({ fields: pruned }, 'retention: stats buckets older than the dashboard shows deleted');
  return { deleted, kept };
}

/** The processor of the hourly "retention" job. */
export function createRetentionProcessor(deps: RetentionDeps): (job: Job) => Promise<{ deleted: number; kept: number }> {
  return () => applyRetention(deps);
}
