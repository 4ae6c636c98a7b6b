import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import type { DeliveryPlanner } from '../domain/delivery-planner.js';
import { digestEntry, splitIntoParts, summarise, type createDigestRenderer } from '../domain/digest.js';
import type { LetterStore, StoredLetter } from '../domain/letter-store.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import type { SendingControl } from '../domain/sending-control.js';
import { digestJobSchema, type DigestJob } from './delivery-queue.js';
import type { DeliveryScheduler } from '../domain/letter-submission.js';
import { SendError, type MailTransport } from './transports/mail-transport.js';

// The processor of a "digest" job: collect the recipient's pending letters, send them as one email
// (or several parts, each under the size limit), mark each letter sent with its part's message id.

export interface SendDigestDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignRegistry;
  letters: LetterStore;
  log: DeliveryLog;
  control: SendingControl;
  planner: DeliveryPlanner;
  scheduler: DeliveryScheduler;
  transport: MailTransport;
  digests: ReturnType<typeof createDigestRenderer>;
  /** The largest part, in bytes of text and HTML together. */
  maxPartBytes: number;
  clock: Clock;
  logger: Logger;
}

/** Letters per digest run at the most; the rest go in the next period's digest. */
const MAX_LETTERS_PER_RUN = 5000;
/** While sending is paused or the recipient held, the digest looks again after this long. */
const BLOCKED_RETRY_MS = 15 * 60_000;

/**
 * Builds the processor. Parts already sent (recorded per period) are not sent again when a job is
 * retried. A transient failure throws for BullMQ's retry; a permanent one fails the job with the
 * reason, leaving the letters in the digest for the next period.
 */
export function createSendDigestProcessor(deps: SendDigestDeps): (job: Job<DigestJob>, token?: string) => Promise<{ sent: number; parts: number }> {
  return async (job, token) => {
    const parsed = digestJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Invalid digest job payload: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const { campaign: slug, targetId, period } = parsed.data;
    const campaign = deps.campaigns.get(slug);
    const target = campaign?.targetById.get(targetId);
    if (!campaign || !target) throw new UnrecoverableError(`Unknown campaign or recipient: ${slug}/${targetId}`);

    if ((await deps.control.check(slug, targetId)).blocked) {
      await job.moveToDelayed(deps.clock.now() + BLOCKED_RETRY_MS, token);
      throw new DelayedError();
    }

    const pendingKey = deps.keys.digestPending(slug, targetId);
    // One run of this job (the same across its retries, different for a later job of the same period):
    // parts already sent by this run are not sent again when it is retried.
    const run = `${period}-r${job.timestamp}`;
    const partsKey = deps.keys.digestParts(slug, targetId, run);
    const ids = await deps.redis.zrange(pendingKey, 0, MAX_LETTERS_PER_RUN - 1);
    const letters = (await Promise.all(ids.map((id) => deps.letters.get(id)))).filter(
      (l): l is StoredLetter => !!l && l.deliveries.some((d) => d.targetId === targetId && d.record.state === 'in-digest'),
    );
    const gone = ids.filter((id) => !letters.some((l) => l.id === id));
    if (gone.length) await deps.redis.zrem(pendingKey, ...gone);

    let sentParts = 0;
    try {
      // Parts this run already sent (before a failure and retry): their letters are done, whatever
      // the split of the rest looks like now.
      const done = await deps.redis.hgetall(partsKey);
      const recorded = Object.entries(done).map(([n, raw]) => ({ part: Number(n), ...(JSON.parse(raw) as { m: string; l: string[] }) }));
      const alreadySent = new Set<string>();
      for (const r of recorded) {
        for (const id of r.l) {
          alreadySent.add(id);
          await deps.log.apply(slug, id, targetId, 'digest-sent', { messageId: r.m, digestDate: period, due: 0 });
        }
        if (r.l.length) await deps.redis.zrem(pendingKey, ...r.l);
      }
      const remaining = letters.filter((l) => !alreadySent.has(l.id));
      if (remaining.length) {
        const summary = summarise(letters.map((l) => digestEntry(l, campaign)));
        const { frameBytes, entrySize } = deps.digests.sizer(campaign, target);
        const first = recorded.reduce((n, r) => Math.max(n, r.part), 0);
        const split = splitIntoParts(
          remaining.map((l) => digestEntry(l, campaign)),
          deps.maxPartBytes,
          entrySize,
          frameBytes,
        );
        const total = first + split.length;
        for (const piece of split) {
          const part = { ...piece, part: first + piece.part, parts: total };
          const letterIds = part.entries.map((e) => e.letterId);
          let messageId: string;
          try {
            ({ messageId } = await deps.transport.send(deps.digests.render({ campaign, target, period, run, summary, part })));
          } catch (err) {
            const failure = err instanceof SendError ? err : new SendError('transient', (err as Error).message);
            deps.logger.warn({ campaign: slug, target: targetId, period, part: part.part, status: failure.status }, 'digest part failed');
            if (failure.kind === 'permanent') throw new UnrecoverableError(failure.reason);
            throw failure;
          }
          await deps.redis.hset(partsKey, String(part.part), JSON.stringify({ m: messageId, l: letterIds }));
          await deps.redis.expire(partsKey, 30 * 86_400);
          sentParts += 1;
          for (const id of letterIds) await deps.log.apply(slug, id, targetId, 'digest-sent', { messageId, digestDate: period, due: 0 });
          await deps.redis.zrem(pendingKey, ...letterIds);
        }
        deps.logger.info({ campaign: slug, target: targetId, period, letters: remaining.length, parts: split.length }, 'digest sent');
      }
    } finally {
      // Letters that joined while this ran, beyond this run's limit, or left by a failure that will not
      // be retried, go in the next digest: a digest is never left without a job.
      if ((await deps.redis.zcard(pendingKey)) > 0) {
        const next = await deps.planner.planOne(campaign, targetId);
        await deps.scheduler.schedule(slug, 'digest', [next]);
      }
    }
    return { sent: letters.length, parts: sentParts };
  };
}
