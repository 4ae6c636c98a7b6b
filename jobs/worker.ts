import path from 'node:path';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import { DeliveryLog } from '../domain/delivery-log.js';
import { DeliveryPlanner } from '../domain/delivery-planner.js';
import { createDigestRenderer } from '../domain/digest.js';
import { createLetterEmailRenderer } from '../domain/letter-email.js';
import { LetterStore } from '../domain/letter-store.js';
import { PaceBook } from '../domain/pace-book.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import { SendGuard } from '../domain/send-guard.js';
import { SendingControl } from '../domain/sending-control.js';
import { createDeliverLetterProcessor } from './deliver-letter.js';
import {
  createQueueScheduler,
  DELIVERY_QUEUE,
  FINISHED_DELIVERY_JOBS,
  type DeliveryJob,
  type DigestJob,
  type QueueJobData,
  type RetryPolicy,
  type TestLetterJob,
} from './delivery-queue.js';
import { Parking } from './parking.js';
import { createSendDigestProcessor } from './send-digest.js';
import { createSendStatusLinkProcessor } from './send-status-link.js';
import { createSendTestLetterProcessor } from './send-test-letter.js';
import { createConfirmLetterProcessor, createExpireUnconfirmedProcessor } from './send-confirmation.js';
import { SUPPORTER_MAIL_QUEUE, type LetterRefJob, type StatusLinkJob, type SupporterMailJob } from './supporter-mail.js';
import { LetterConfirmation } from '../domain/letter-confirmation.js';
import { createRetentionProcessor } from './retention.js';
import { sweepOrphans } from './orphan-sweep.js';
import { createReleaseParkedProcessor, queueReleases, RELEASE_PARKED_JOB, sweepStrandedParked, type ReleaseParkedJob } from './release-parked.js';
import type { MailTransport } from './transports/mail-transport.js';
import type { WorkerMetrics } from './worker-metrics.js';

// The worker process's composition root: a BullMQ worker on the delivery queue running the "deliver",
// "digest" and "test-letter" processors, and one on the supporter-mail queue running "status-link",
// "confirm-letter", "expire-unconfirmed" and the housekeeping: "retention", "orphan-sweep" (which also
// queues the release of letters left parked with no switch on) and "release-parked".

export interface WorkerDeps {
  /** A connection for the worker (maxRetriesPerRequest: null); BullMQ duplicates it for blocking commands. */
  connection: Redis;
  keys: RedisKeys;
  logger: Logger;
  campaigns: CampaignRegistry;
  transport: MailTransport;
  clock: Clock;
  settings: {
    concurrency: number;
    /** The global cap on letters sent per second, across all worker processes. */
    ratePerSecond: number;
    /** The cap on email to supporters (confirmations, status links) per second, across all worker processes. */
    supporterMailRatePerSecond?: number;
    retry: RetryPolicy;
    mailFrom: string;
    publicUrl: string;
    emailTemplatesDir: string;
    /** The largest digest email, text and HTML together. */
    maxDigestBytes: number;
    eventLogMax: number;
    /** False when pacing is switched off (PACING=off). */
    pacing: boolean;
    /** Days after which finished letters' personal data is deleted (checked every hour). */
    retentionDays: number;
    /** Parked letters released per run of a "release-parked" job (RELEASE_BATCH unless a test sets fewer). */
    releaseBatch?: number;
    /**
     * How long a worker's lock on a job lasts unless renewed (renewed every half of it), and how often
     * locks are checked: a job whose worker died goes back to the queue within about twice this. Default 30 s.
     */
    jobLockMs?: number;
  };
  random?: () => number;
  /** Send latency and provider errors for Prometheus, on the registry the process serves. */
  metrics?: WorkerMetrics;
}

/** A running delivery worker and the way to stop it. */
export interface DeliveryWorker {
  worker: Worker<QueueJobData>;
  /** Stops taking jobs and waits for the ones in flight to finish. */
  close(): Promise<void>;
}

/** Starts a worker on the delivery queue. Errors of single jobs are logged, never thrown from here. */
export function createWorker(deps: WorkerDeps): DeliveryWorker {
  const { connection, keys, clock, settings } = deps;
  const lockMs = settings.jobLockMs ?? 30_000;
  // The stores get their own connection with auto-pipelining: what the jobs in flight ask in the same
  // tick leaves in one write and comes back in one read. BullMQ keeps `connection` (its scripts, and
  // the blocking client it duplicates from it).
  const redis = connection.duplicate({ enableAutoPipelining: true });
  redis.on('error', (err: Error) => deps.logger.warn({ err: err.message }, 'worker store connection error'));
  const letters = new LetterStore(redis, keys, clock, settings.eventLogMax);
  const log = new DeliveryLog(redis, keys, clock, settings.eventLogMax);
  const control = new SendingControl(redis, keys, clock);
  const queue = new Queue<QueueJobData>(DELIVERY_QUEUE, { connection, prefix: keys.bullPrefix });
  const planner = new DeliveryPlanner(new PaceBook(redis, keys, clock, deps.random), clock, settings.pacing);
  const scheduler = createQueueScheduler(queue, settings.retry, clock);
  // Email to supporters and the housekeeping (release jobs among it) have a queue of their own.
  const supporterQueue = new Queue<SupporterMailJob>(SUPPORTER_MAIL_QUEUE, { connection, prefix: keys.bullPrefix });
  // A letter parked as its switch was lifted asks for its recipient's release job rather than releasing beside it.
  const requestRelease = (campaign: string, targetId: string) => queueReleases(supporterQueue, [{ campaign, targetId }]);
  const parking = new Parking({ redis, keys, log, planner, scheduler, campaigns: deps.campaigns, control, clock, requestRelease });

  const renderLetter = createLetterEmailRenderer(settings.emailTemplatesDir, settings);
  const deliver = createDeliverLetterProcessor({
    campaigns: deps.campaigns,
    letters,
    log,
    control,
    parking,
    sendGuard: new SendGuard(redis, keys),
    transport: deps.transport,
    render: renderLetter,
    rateLimitQueue: (ms) => queue.rateLimit(ms),
    clock,
    logger: deps.logger,
    pacing: settings.pacing,
    retry: settings.retry,
    random: deps.random,
    metrics: deps.metrics,
    takeOverAfterMs: lockMs,
  });
  const digest = createSendDigestProcessor({
    redis,
    keys,
    campaigns: deps.campaigns,
    letters,
    log,
    control,
    planner,
    scheduler,
    transport: deps.transport,
    digests: createDigestRenderer(settings.emailTemplatesDir, settings),
    maxPartBytes: settings.maxDigestBytes,
    clock,
    logger: deps.logger,
  });
  const statusLink = createSendStatusLinkProcessor({
    campaigns: deps.campaigns,
    letters,
    transport: deps.transport,
    emailTemplatesDir: settings.emailTemplatesDir,
    mailFrom: settings.mailFrom,
    publicUrl: settings.publicUrl,
    logger: deps.logger,
  });

  const testLetter = createSendTestLetterProcessor({
    redis,
    keys,
    campaigns: deps.campaigns,
    transport: deps.transport,
    render: renderLetter,
    logger: deps.logger,
  });

  const retention = createRetentionProcessor({
    redis,
    keys,
    campaigns: deps.campaigns,
    letters,
    clock,
    logger: deps.logger,
    retentionDays: settings.retentionDays,
  });
  // Housekeeping runs beside supporter mail, so the letters' queue holds letters only. One scheduler
  // for the whole deployment (upserting it from every worker is idempotent).
  void supporterQueue
    .upsertJobScheduler(
      'retention',
      { every: 3_600_000 },
      { name: 'retention', data: {} as SupporterMailJob, opts: { removeOnComplete: true, removeOnFail: 10 } },
    )
    .catch((err: unknown) => deps.logger.error({ err }, 'could not schedule retention'));
  // Deliveries stored without their job (the web process died between the two), or whose job failed on an unexpected error, are queued again.
  const orphanDeps = { redis, keys, campaigns: deps.campaigns, letters, log, queue, policy: settings.retry, clock, logger: deps.logger };
  // Letters still parked while no switch blocks them (their release job lost, or never queued) get one.
  const strandedDeps = { queue: supporterQueue, parking, control, campaigns: deps.campaigns, logger: deps.logger };
  const releaseParked = createReleaseParkedProcessor({ parking, logger: deps.logger, batch: settings.releaseBatch });
  void supporterQueue
    .upsertJobScheduler(
      'orphan-sweep',
      { every: 5 * 60_000 },
      { name: 'orphan-sweep', data: {} as SupporterMailJob, opts: { removeOnComplete: true, removeOnFail: 10 } },
    )
    .catch((err: unknown) => deps.logger.error({ err }, 'could not schedule the orphan sweep'));

  const processor = async (job: Job<QueueJobData>, token?: string) => {
    switch (job.name) {
      case 'deliver':
        return deliver(job as Job<DeliveryJob>, token);
      case 'digest':
        return digest(job as Job<DigestJob>, token);
      case 'test-letter':
        return testLetter(job as Job<TestLetterJob>);
      default:
        throw new Error(`unknown job name "${job.name}"`);
    }
  };

  // Email to supporters: its own queue, so a backlog of letters never delays a confirmation.
  const confirmation = new LetterConfirmation({ redis, keys, campaigns: deps.campaigns, letters, log, planner, scheduler, clock });
  const confirmMail = createConfirmLetterProcessor({
    campaigns: deps.campaigns,
    letters,
    confirmation,
    transport: deps.transport,
    emailTemplatesDir: settings.emailTemplatesDir,
    mailFrom: settings.mailFrom,
    publicUrl: settings.publicUrl,
    logger: deps.logger,
  });
  const expire = createExpireUnconfirmedProcessor({ letters, logger: deps.logger });
  const supporterWorker = new Worker<SupporterMailJob>(
    SUPPORTER_MAIL_QUEUE,
    async (job, token) => {
      switch (job.name) {
        case 'status-link':
          return statusLink(job as Job<StatusLinkJob>);
        case 'confirm-letter':
          return confirmMail(job as Job<LetterRefJob>);
        case 'expire-unconfirmed':
          return expire(job as Job<LetterRefJob>);
        case 'retention':
          return retention(job);
        case 'orphan-sweep': {
          // Both parts run whatever the other meets; the job fails (and is logged) if either did.
          const [stranded, orphans] = await Promise.allSettled([sweepStrandedParked(strandedDeps), sweepOrphans(orphanDeps)]);
          if (stranded.status === 'rejected') throw stranded.reason;
          if (orphans.status === 'rejected') throw orphans.reason;
          return { ...orphans.value, strandedReleases: stranded.value };
        }
        case RELEASE_PARKED_JOB:
          return releaseParked(job as Job<ReleaseParkedJob>, token);
        default:
          throw new Error(`unknown job name "${job.name}"`);
      }
    },
    { connection, prefix: keys.bullPrefix, concurrency: 4, limiter: { max: settings.supporterMailRatePerSecond ?? 2, duration: 1000 } },
  );
  supporterWorker.on('error', (err) => deps.logger.error({ err }, 'supporter-mail worker error'));
  // A release job that fails for good is removed (so a later lift can queue it again); the sweep queues it again meanwhile.
  supporterWorker.on('failed', (job, err) => {
    if (job?.name === RELEASE_PARKED_JOB && job.attemptsMade >= (job.opts.attempts ?? 1))
      deps.logger.error({ job: job.id, reason: err.message }, 'releasing parked letters failed; the orphan sweep will queue it again');
  });

  const worker = new Worker<QueueJobData>(DELIVERY_QUEUE, processor, {
    connection,
    prefix: keys.bullPrefix,
    concurrency: settings.concurrency,
    limiter: { max: settings.ratePerSecond, duration: 1000 },
    lockDuration: lockMs,
    stalledInterval: lockMs,
    ...FINISHED_DELIVERY_JOBS,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'worker error'));
  worker.on('failed', (job, err) => {
    if (job) deps.logger.debug({ job: job.id, reason: err.message }, 'job attempt failed');
  });
  return {
    worker,
    async close() {
      await Promise.all([worker.close(), supporterWorker.close()]);
      await Promise.all([queue.close(), supporterQueue.close()]);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Where the email templates are, relative to the project root. */
export function emailTemplatesDir(appRoot: string): string {
  return path.join(appRoot, 'templates', 'emails');
}
