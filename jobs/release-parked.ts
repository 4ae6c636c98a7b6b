import { DelayedError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { z } from 'zod';
import { slugSchema } from '../domain/campaign-schema.js';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { SendingControl } from '../domain/sending-control.js';
import type { Parking } from './parking.js';
import type { SupporterMailJob } from './supporter-mail.js';

// Releasing parked letters, off the request that lifted the switch. Lifting a pause or a hold only
// queues a "release-parked" job on the supporter-mail queue for each recipient that has parked letters
// and no switch left on; the worker releases them in batches (RELEASE_BATCH), the job putting itself
// back in the queue between batches, so a restart loses at most the batch in flight (and the delivery
// log lets no letter leave "held" twice). The job id names the recipient, so clicking twice, or the
// sweep finding the same recipient, queues one job. The five-minute orphan sweep also queues one for
// every recipient still holding parked letters while neither the pause nor its hold is on (a release
// job lost, or a web process that died between lifting the switch and queueing it): no letter stays
// parked once its switches are off.

/** The job's name on the supporter-mail queue. */
export const RELEASE_PARKED_JOB = 'release-parked';

/** "release-parked": give one recipient's parked letters new places in its line. Ids only. */
export const releaseParkedJobSchema = z.strictObject({ campaign: slugSchema, targetId: slugSchema });
export type ReleaseParkedJob = z.infer<typeof releaseParkedJobSchema>;

/** Letters released per run of a job before it goes back in the queue for the next batch. */
export const RELEASE_BATCH = 1000;

/** The id of a recipient's release job: one at a time per recipient, however often it is asked for. */
export function releaseParkedJobId(campaign: string, targetId: string): string {
  return `release-parked.${campaign}.${targetId}`;
}

/** What finding releasable recipients needs. */
export interface ReleaseRequestDeps {
  queue: Queue<SupporterMailJob>;
  parking: Parking;
  control: SendingControl;
  campaigns: CampaignRegistry;
}

/** A recipient with parked letters that no switch blocks any more. */
export interface Releasable {
  campaign: string;
  targetId: string;
  parked: number;
}

/**
 * The recipients (of `campaign`, or of every campaign) that have parked letters while sending is not
 * paused and they are not held. Rejects if Redis does.
 */
export async function findReleasable(deps: ReleaseRequestDeps, campaign?: string): Promise<Releasable[]> {
  const campaigns = campaign ? [deps.campaigns.get(campaign)].filter((c) => c !== undefined) : deps.campaigns.list();
  const status = await deps.control.status(campaigns.map((c) => c.slug));
  if (status.paused) return [];
  const found: Releasable[] = [];
  for (const c of campaigns) {
    const counts = await deps.parking.counts(c.slug);
    for (const [targetId, parked] of Object.entries(counts))
      if (parked > 0 && !status.held[c.slug]?.[targetId]) found.push({ campaign: c.slug, targetId, parked });
  }
  return found;
}

/** Queues a release job for each of `recipients` (none twice: a job already queued or running is kept). Rejects if Redis does. */
export async function queueReleases(queue: Queue<SupporterMailJob>, recipients: readonly Pick<Releasable, 'campaign' | 'targetId'>[]): Promise<void> {
  if (!recipients.length) return;
  await queue.addBulk(
    recipients.map(({ campaign, targetId }) => ({
      name: RELEASE_PARKED_JOB,
      data: { campaign, targetId },
      // Removed when finished, failed too: a failed job kept under the id would swallow the next request.
      opts: {
        jobId: releaseParkedJobId(campaign, targetId),
        attempts: 5,
        backoff: { type: 'exponential', delay: 10_000 },
        removeOnComplete: true,
        removeOnFail: true,
      },
    })),
  );
}

/**
 * Queues release jobs for the recipients whose parked letters no switch blocks any more (of `campaign`,
 * or of every campaign): what lifting a switch asks for. Returns how many letters are to be released.
 * Rejects if Redis does (the orphan sweep then queues them within minutes).
 */
export async function requestRelease(deps: ReleaseRequestDeps, campaign?: string, targetId?: string): Promise<number> {
  const found = (await findReleasable(deps, campaign)).filter((r) => targetId === undefined || r.targetId === targetId);
  await queueReleases(deps.queue, found);
  return found.reduce((sum, r) => sum + r.parked, 0);
}

/**
 * The orphan sweep's part: queues a release job for every recipient left with parked letters and no
 * switch on and no release job in the queue (its job was lost, or never queued). Returns how many
 * recipients it queued. Rejects if Redis does (the next sweep goes on).
 */
export async function sweepStrandedParked(deps: ReleaseRequestDeps & { logger: Logger }): Promise<number> {
  const found = await findReleasable(deps);
  const stranded: Releasable[] = [];
  for (const r of found) if (!(await deps.queue.getJob(releaseParkedJobId(r.campaign, r.targetId)))) stranded.push(r);
  await queueReleases(deps.queue, stranded);
  for (const r of stranded)
    deps.logger.warn({ campaign: r.campaign, target: r.targetId, parked: r.parked }, 'parked letters with no switch on were left unreleased; release queued');
  return stranded.length;
}

/** What the processor needs. */
export interface ReleaseParkedDeps {
  parking: Parking;
  logger: Logger;
  /** Letters per run (RELEASE_BATCH unless a test sets fewer). */
  batch?: number;
}

/**
 * The "release-parked" processor: releases one batch of the recipient's parked letters, then puts the
 * job back for the next batch while any are left (its attempts untouched). A bad payload fails it for
 * good (UnrecoverableError); a Redis error fails the attempt (BullMQ retries it, then the sweep).
 */
export function createReleaseParkedProcessor(deps: ReleaseParkedDeps): (job: Job<ReleaseParkedJob>, token?: string) => Promise<{ released: number }> {
  return async (job, token) => {
    const parsed = releaseParkedJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Invalid release job payload: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const { campaign, targetId } = parsed.data;
    const { released, more } = await deps.parking.releaseBatch(campaign, targetId, deps.batch ?? RELEASE_BATCH);
    deps.logger.info({ campaign, target: targetId, released, more }, 'parked letters released');
    if (more) {
      // Back in the queue at once, behind whatever else waits: a restart from here loses nothing.
      await job.moveToDelayed(0, token);
      throw new DelayedError();
    }
    return { released };
  };
}
