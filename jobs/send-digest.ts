import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import type { DeliveryPlanner } from '../domain/delivery-planner.js';
import {
  digestEntry,
  inFlightField,
  inFlightRecord,
  readDigestParts,
  sentRecord,
  splitIntoParts,
  summarise,
  type createDigestRenderer,
} from '../domain/digest.js';
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
/** How long a run's record of its parts (the provider's events for a part name the run and part), and the recipient's maybe-sent letters, are kept. */
const PARTS_TTL_SECONDS = 30 * 86_400;
/** The note on a letter whose digest part was sent again after an attempt that may have reached the provider. */
const MAYBE_TWICE_NOTE = 'An earlier attempt to send its digest ended without a clear answer from the mail provider; this letter may arrive twice.';

/**
 * Builds the processor. Parts already sent (recorded per run) are not sent again when a job is retried;
 * a part recorded as being sent whose answer was lost (or whose worker died) goes again, its letters
 * flagged as possibly arriving twice; so are such letters when a later run sends them (keys.digestMaybeSent).
 * A transient failure throws for BullMQ's retry; a permanent one (400/403/413) fails that part's letters with
 * the reason and the job after the other parts; a 401 pauses all sending and puts the job back until sending resumes.
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
    // Letters a part may have carried to the official without a clear answer, in this run or an earlier one
    // (that then failed for good): whenever they are sent, they are flagged as possibly arriving twice.
    const maybeKey = deps.keys.digestMaybeSent(slug, targetId);
    const ids = await deps.redis.zrange(pendingKey, 0, MAX_LETTERS_PER_RUN - 1);
    const letters = (await Promise.all(ids.map((id) => deps.letters.get(id)))).filter(
      (l): l is StoredLetter => !!l && l.deliveries.some((d) => d.targetId === targetId && d.record.state === 'in-digest'),
    );
    const gone = ids.filter((id) => !letters.some((l) => l.id === id));
    if (gone.length)
      await deps.redis
        .multi()
        .zrem(pendingKey, ...gone)
        .srem(maybeKey, ...gone)
        .exec();

    let sentParts = 0;
    let comingBack = false;
    try {
      // Parts this run already sent (before a failure and retry): their letters are done, whatever
      // the split of the rest looks like now.
      const recorded = readDigestParts(await deps.redis.hgetall(partsKey));
      const maybeSent = new Set(await deps.redis.smembers(maybeKey));
      const flagOf = (id: string, partMaybeTwice: boolean) => (partMaybeTwice || maybeSent.has(id) ? { possibleDuplicate: true, note: MAYBE_TWICE_NOTE } : {});
      const alreadySent = new Set<string>();
      for (const r of recorded.sent) {
        for (const id of r.letterIds) {
          alreadySent.add(id);
          await deps.log.apply(slug, id, targetId, 'digest-sent', { messageId: r.messageId, digestDate: period, due: 0, ...flagOf(id, r.maybeTwice) });
        }
        if (r.letterIds.length)
          await deps.redis
            .multi()
            .zrem(pendingKey, ...r.letterIds)
            .srem(maybeKey, ...r.letterIds)
            .exec();
      }
      // Parts this run handed to the provider without recording the answer (it was lost, or the worker
      // died): they go again, with the same letters, and those letters may reach the official twice.
      const unsure = recorded.inFlight.filter((r) => !recorded.sent.some((s) => s.part === r.part));
      const again = unsure.map((r) => ({ part: r.part, letters: letters.filter((l) => r.letterIds.includes(l.id) && !alreadySent.has(l.id)) }));
      const inAgain = new Set(again.flatMap((a) => a.letters.map((l) => l.id)));
      const remaining = letters.filter((l) => !alreadySent.has(l.id) && !inAgain.has(l.id));
      for (const a of again) if (!a.letters.length) await deps.redis.hdel(partsKey, inFlightField(a.part));
      if (remaining.length || inAgain.size) {
        const summary = summarise(letters.map((l) => digestEntry(l, campaign)));
        const { frameBytes, entrySize } = deps.digests.sizer(campaign, target);
        const first = [...recorded.sent, ...recorded.inFlight].reduce((n, r) => Math.max(n, r.part), 0);
        const split = splitIntoParts(
          remaining.map((l) => digestEntry(l, campaign)),
          deps.maxPartBytes,
          entrySize,
          frameBytes,
        );
        const total = first + split.length;
        const pieces = [
          ...again.filter((a) => a.letters.length).map((a) => ({ part: a.part, entries: a.letters.map((l) => digestEntry(l, campaign)), maybeTwice: true })),
          ...split.map((piece) => ({ part: first + piece.part, entries: piece.entries, maybeTwice: false })),
        ];
        const failures: string[] = [];
        for (const { maybeTwice, ...piece } of pieces) {
          const part = { ...piece, parts: total };
          const letterIds = part.entries.map((e) => e.letterId);
          const where = { campaign: slug, target: targetId, period, run, part: part.part, letters: letterIds.length };
          if (maybeTwice)
            deps.logger.warn(
              { ...where, possibleDuplicate: true },
              'sending a digest part again after an unanswered or interrupted attempt: its letters may arrive twice',
            );
          await deps.redis
            .multi()
            .hset(partsKey, inFlightField(part.part), inFlightRecord(letterIds, deps.clock.now()))
            .expire(partsKey, PARTS_TTL_SECONDS)
            .sadd(maybeKey, ...letterIds)
            .expire(maybeKey, PARTS_TTL_SECONDS)
            .exec();
          let messageId: string;
          try {
            ({ messageId } = await deps.transport.send(deps.digests.render({ campaign, target, period, run, summary, part })));
          } catch (err) {
            const failure = err instanceof SendError ? err : new SendError('transient', (err as Error).message);
            deps.logger.warn({ ...where, status: failure.status, ambiguous: failure.ambiguous || undefined }, 'digest part failed');
            // Unless the provider may have taken it, the part was not sent: a retry need not flag it (its letters
            // that an earlier attempt may have carried keep their flag).
            if (!failure.ambiguous) {
              const notCarried = maybeTwice ? [] : letterIds.filter((id) => !maybeSent.has(id));
              const clear = deps.redis.multi().hdel(partsKey, inFlightField(part.part));
              if (notCarried.length) clear.srem(maybeKey, ...notCarried);
              await clear.exec();
            }
            if (failure.kind === 'account') {
              await deps.control.pauseAll(failure.reason);
              deps.logger.error({ ...where, status: failure.status }, `all sending paused: ${failure.reason}`);
              comingBack = true;
              await job.moveToDelayed(deps.clock.now() + BLOCKED_RETRY_MS, token);
              throw new DelayedError();
            }
            if (failure.kind !== 'permanent') throw failure;
            // Retrying cannot help: this part's letters fail, with the reason, and leave the digest.
            for (const id of letterIds) await deps.log.apply(slug, id, targetId, 'permanent-error', { error: failure.reason });
            await deps.redis
              .multi()
              .zrem(pendingKey, ...letterIds)
              .srem(maybeKey, ...letterIds)
              .exec();
            failures.push(`part ${part.part} (${letterIds.length} letter${letterIds.length === 1 ? '' : 's'}): ${failure.reason}`);
            continue;
          }
          // The record says whether the part may have gone twice, so that a retry finishing its letters flags
          // them too; letters only this (answered) attempt carried leave the maybe-sent set with it.
          const once = maybeTwice ? [] : letterIds.filter((id) => !maybeSent.has(id));
          const record = deps.redis
            .multi()
            .hset(partsKey, String(part.part), sentRecord(messageId, letterIds, deps.clock.now(), maybeTwice))
            .hdel(partsKey, inFlightField(part.part))
            .expire(partsKey, PARTS_TTL_SECONDS);
          if (once.length) record.srem(maybeKey, ...once);
          await record.exec();
          sentParts += 1;
          for (const id of letterIds)
            await deps.log.apply(slug, id, targetId, 'digest-sent', { messageId, digestDate: period, due: 0, ...flagOf(id, maybeTwice) });
          await deps.redis
            .multi()
            .zrem(pendingKey, ...letterIds)
            .srem(maybeKey, ...letterIds)
            .exec();
        }
        deps.logger.info({ campaign: slug, target: targetId, period, letters: remaining.length + inAgain.size, parts: pieces.length }, 'digest sent');
        if (failures.length) throw new UnrecoverableError(`Digest parts failed for good: ${failures.join('; ')}`);
      }
    } finally {
      // Letters that joined while this ran, beyond this run's limit, or left by a failure that will not
      // be retried, go in the next digest: a digest is never left without a job.
      // (Not when the job itself comes back: it still holds them.)
      if (!comingBack && (await deps.redis.zcard(pendingKey)) > 0) {
        const next = await deps.planner.planOne(campaign, targetId);
        await deps.scheduler.schedule(slug, 'digest', [next]);
      }
    }
    return { sent: letters.length, parts: sentParts };
  };
}
