import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { CampaignRegistry } from './campaign.js';
import { systemClock, type Clock } from './clock.js';
import { parseDelivery, type DeliveryLog } from './delivery-log.js';
import { DIGEST_PART_SETTLE_MS, inFlightField, recordedAt } from './digest.js';
import type { DeliveryEvent } from './delivery-states.js';
import type { RedisKeys } from './redis-keys.js';
import type { HoldKind, SendingControl } from './sending-control.js';

// What the mail provider (SendGrid's Event Webhook) tells us after a letter left: delivered,
// delayed, bounced, dropped, reported as spam. Each event is applied once, through the transitions
// table, to the letter (or every letter of the digest) it names in our custom arguments.

/** How long an event id is remembered: SendGrid retries for 24 hours; three days leaves a margin. */
const EVENT_ID_TTL_SECONDS = 259_200;

/** An id we put in custom_args (campaign, target, letter, digest period): safe in Redis keys. */
const ourId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

/**
 * One SendGrid event, with our custom_args (`campaign`, `letter`, `target`; or `campaign`, `target`,
 * `digest`, `part` for a digest email) at its top level. Other fields are kept and ignored.
 */
export const providerEventSchema = z.looseObject({
  event: z.string().min(1).max(64),
  sg_event_id: z.string().min(1).max(200),
  sg_message_id: z.string().max(500).optional(),
  timestamp: z.number(),
  reason: z.string().optional(),
  response: z.string().optional(),
  type: z.string().optional(),
  status: z.string().optional(),
  campaign: ourId.optional(),
  letter: ourId.optional(),
  target: ourId.optional(),
  digest: ourId.optional(),
  part: z
    .union([z.string().regex(/^\d{1,6}$/), z.number().int().min(0).max(999_999)])
    .transform(String)
    .optional(),
});
export type ProviderEvent = z.infer<typeof providerEventSchema>;

/** Which of our emails an event is about: one letter, or one part of a recipient's digest. */
export type ProviderEventSubject =
  { kind: 'letter'; campaign: string; target: string; letter: string } | { kind: 'digest'; campaign: string; target: string; digest: string; part: string };

/** The email an event names in its custom arguments; undefined when it carries none of ours (e.g. mail sent by another tool). */
export function subjectOf(e: ProviderEvent): ProviderEventSubject | undefined {
  if (!e.campaign || !e.target) return undefined;
  if (e.letter) return { kind: 'letter', campaign: e.campaign, target: e.target, letter: e.letter };
  if (e.digest && e.part !== undefined) return { kind: 'digest', campaign: e.campaign, target: e.target, digest: e.digest, part: e.part };
  return undefined;
}

/** What an event changes: a delivery transition (with the reason to show), a hold on the recipient, or both. */
export interface ProviderEventEffect {
  transition?: { event: DeliveryEvent; error?: string };
  hold?: { kind: HoldKind; reason: string };
}

/**
 * What a SendGrid event means for our deliveries. Undefined for events we do not act on:
 * processed (the letter is already "sent"), open, click, unsubscribes and group events, unknown ones.
 */
export function effectOf(e: ProviderEvent): ProviderEventEffect | undefined {
  switch (e.event) {
    case 'delivered':
      return { transition: { event: 'provider-delivered', error: '' } };
    case 'deferred':
      return { transition: { event: 'provider-deferred', error: e.response ?? e.reason } };
    case 'bounce': {
      const effect: ProviderEventEffect = { transition: { event: 'provider-bounced', error: e.reason } };
      if (e.type === 'bounce') effect.hold = { kind: 'bouncing', reason: `The address bounced: ${e.reason ?? 'no reason given'}` };
      if (e.type === 'blocked') effect.hold = { kind: 'bouncing', reason: `The recipient's server blocked the letter: ${e.reason ?? 'no reason given'}` };
      return effect;
    }
    case 'dropped':
      return { transition: { event: 'provider-dropped', error: e.reason } };
    case 'spamreport':
      return { hold: { kind: 'spam-report', reason: 'The recipient reported a letter as spam.' } };
    default:
      return undefined;
  }
}

/** One sent part of a digest, as stored in keys.digestParts: the message id and the letters it carried (other fields ignored). */
const digestPartSchema = z.object({ m: z.string(), l: z.array(ourId) });

export interface ProviderEventDeps {
  log: DeliveryLog;
  control: SendingControl;
  campaigns: CampaignRegistry;
  redis: Redis;
  keys: RedisKeys;
  /** Tells whether a digest part is still settling (see DIGEST_PART_SETTLE_MS); the system clock when not given. */
  clock?: Clock;
}

/** What a batch did. `moved` counts deliveries whose state changed (one digest event may move many). */
export interface ProviderEventCounts {
  /** Events handled for the first time. */
  applied: number;
  /** Events already handled in an earlier request (SendGrid may send an event twice). */
  duplicates: number;
  /** Events not for us, for an unknown campaign, recipient or digest part, or of a kind we do not act on. */
  ignored: number;
  /**
   * Events for a digest part that is being sent but not yet recorded (the provider answered before we
   * wrote it down), or recorded while its letters are not yet all marked sent: not applied and not
   * remembered, so that the provider's retry of the batch applies them. Only within DIGEST_PART_SETTLE_MS
   * of the mark or record: after that (its job died) the event is applied, or ignored for an unrecorded part.
   */
  notYet: number;
  moved: number;
}

/**
 * Applies a batch of SendGrid events (the parsed JSON array, unvalidated), each at most once by its
 * sg_event_id. A transition the table refuses (e.g. "delivered" after "bounced") or a letter that no
 * longer exists is skipped quietly. An event for a digest part still being recorded (for at most an hour)
 * counts as `notYet` (the caller should ask for a retry). Rejects when Redis fails; the event that failed is then forgotten,
 * so SendGrid's retry applies it.
 */
export async function applyProviderEvents(deps: ProviderEventDeps, events: readonly unknown[]): Promise<ProviderEventCounts> {
  const counts: ProviderEventCounts = { applied: 0, duplicates: 0, ignored: 0, notYet: 0, moved: 0 };
  for (const raw of events) {
    const parsed = providerEventSchema.safeParse(raw);
    const subject = parsed.success ? subjectOf(parsed.data) : undefined;
    const effect = parsed.success ? effectOf(parsed.data) : undefined;
    if (!parsed.success || !subject || !effect || !deps.campaigns.get(subject.campaign)?.targetById.has(subject.target)) {
      counts.ignored += 1;
      continue;
    }
    const letterIds = await lettersOf(deps, subject);
    if (letterIds === 'not-yet') {
      counts.notYet += 1;
      continue;
    }
    if (!letterIds) {
      counts.ignored += 1;
      continue;
    }
    // Event ids are remembered in one set per hour of the event's own time (a retried event keeps it),
    // each set for as long as SendGrid may retry: one small member per event instead of a key each.
    const eventId = parsed.data.sg_event_id;
    const hour = Math.floor(parsed.data.timestamp / 3600);
    const seenKey = deps.keys.providerEvents(hour);
    const [added] = await execValues(
      deps.redis
        .multi()
        .sadd(seenKey, eventId)
        .expireat(seenKey, (hour + 1) * 3600 + EVENT_ID_TTL_SECONDS),
    );
    if (added !== 1) {
      counts.duplicates += 1;
      continue;
    }
    try {
      if (effect.transition) {
        const { event, error } = effect.transition;
        for (const letterId of letterIds) {
          const result = await deps.log.apply(subject.campaign, letterId, subject.target, event, error === undefined ? {} : { error });
          if (result.applied) counts.moved += 1;
        }
      }
      if (effect.hold) await deps.control.hold(subject.campaign, subject.target, effect.hold.kind, effect.hold.reason);
    } catch (err) {
      await deps.redis.srem(seenKey, eventId).catch(() => undefined);
      throw err;
    }
    counts.applied += 1;
  }
  return counts;
}

/**
 * The letters an event is about; 'not-yet' for a digest part being sent whose record is not written yet, or
 * recorded with letters still "in-digest" (see jobs/send-digest.ts), while it is settling; undefined for a
 * digest part we have no record of, or only a stale being-sent mark (a mark without a time counts as stale).
 */
async function lettersOf(deps: ProviderEventDeps, subject: ProviderEventSubject): Promise<string[] | 'not-yet' | undefined> {
  if (subject.kind === 'letter') return [subject.letter];
  const key = deps.keys.digestParts(subject.campaign, subject.target, subject.digest);
  const [raw, sending] = await deps.redis.hmget(key, subject.part, inFlightField(subject.part));
  const now = (deps.clock ?? systemClock).now();
  const settling = (at: number | undefined) => at !== undefined && now - at < DIGEST_PART_SETTLE_MS;
  if (!raw) return settling(recordedAt(sending)) ? 'not-yet' : undefined;
  let letterIds: string[];
  try {
    const part = digestPartSchema.safeParse(JSON.parse(raw));
    if (!part.success) return undefined;
    letterIds = part.data.l;
  } catch {
    return undefined;
  }
  // Recorded, but the job may still be marking its letters sent (with the message id): an event applied to
  // a letter still "in-digest" would leave it without them. One round trip for the part's letters.
  if (settling(recordedAt(raw)) && letterIds.length) {
    const pipeline = deps.redis.pipeline();
    for (const id of letterIds) pipeline.hget(deps.keys.letter(id), `d:${subject.target}`);
    const records = (await pipeline.exec()) ?? [];
    for (const [err, value] of records) {
      if (err) throw err;
      if (typeof value === 'string' && parseDelivery(value)?.state === 'in-digest') return 'not-yet';
    }
  }
  return letterIds;
}

/** The replies of a transaction; rejects if it was aborted or a command failed. */
async function execValues(multi: ReturnType<Redis['multi']>): Promise<unknown[]> {
  const results = await multi.exec();
  if (!results) throw new Error('Redis transaction was aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
