import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { Clock } from '../domain/clock.js';
import { DeliveryLog } from '../domain/delivery-log.js';
import { DeliveryPlanner } from '../domain/delivery-planner.js';
import { LetterStore } from '../domain/letter-store.js';
import { PaceBook } from '../domain/pace-book.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import { SendingControl } from '../domain/sending-control.js';
import { LetterConfirmation } from '../domain/letter-confirmation.js';
import { SubmissionGuard } from '../domain/submission-guard.js';
import { createDeliveryQueue, createQueueScheduler, type QueueJobData } from '../jobs/delivery-queue.js';
import { createSupporterMailQueue, requestConfirmation, requestStatusLinkEmail, type SupporterMailJob } from '../jobs/supporter-mail.js';
import { CampaignerActions } from '../jobs/campaigner-actions.js';
import { Parking } from '../jobs/parking.js';
import { createSendingSwitches } from '../jobs/sending-switches.js';
import type { AppDeps } from './app.js';
import type { Config } from './config.js';

// The web process's dependencies, built from a Redis connection; the program and the tests share it.

/**
 * Everything createApp needs, plus the queues it opened (close them on shutdown). `queueRedis` carries
 * the queues: BullMQ defines some sixty scripts on its connection, and ioredis copies every script onto
 * each pipeline and transaction, so the letter path's many small transactions get a connection of their own.
 */
export function buildAppDeps(p: {
  config: Config;
  campaigns: CampaignRegistry;
  redis: Redis;
  queueRedis?: Redis;
  keys: RedisKeys;
  logger: Logger;
  clock: Clock;
}): {
  deps: AppDeps;
  queue: Queue<QueueJobData>;
  supporterQueue: Queue<SupporterMailJob>;
} {
  const { config, redis, keys, clock } = p;
  const queue = createDeliveryQueue(p.queueRedis ?? redis, keys);
  const supporterQueue = createSupporterMailQueue(p.queueRedis ?? redis, keys);
  const paceBook = new PaceBook(redis, keys, clock);
  const planner = new DeliveryPlanner(paceBook, clock, config.delivery.pacing);
  const scheduler = createQueueScheduler(queue, config.delivery, clock);
  const log = new DeliveryLog(redis, keys, clock, config.eventLogMax);
  const letters = new LetterStore(redis, keys, clock, config.eventLogMax);
  const control = new SendingControl(redis, keys, clock);
  const parking = new Parking({ redis, keys, log, planner, scheduler, campaigns: p.campaigns, control, clock });
  const deps: AppDeps = {
    config,
    campaigns: p.campaigns,
    letters,
    log,
    scheduler,
    planner,
    paceBook,
    switches: createSendingSwitches(control, { queue: supporterQueue, parking, campaigns: p.campaigns }),
    actions: new CampaignerActions({ redis, keys, campaigns: p.campaigns, log, planner, queue, letters, clock }),
    guard: new SubmissionGuard(redis, keys),
    requestStatusLink: (data) => requestStatusLinkEmail(supporterQueue, data, clock.now()),
    requestConfirmation: (campaign, letterId, expireDays) => requestConfirmation(supporterQueue, { campaign, letterId }, expireDays),
    confirmation: new LetterConfirmation({ redis, keys, campaigns: p.campaigns, letters, log, planner, scheduler, clock }),
    control,
    queue,
    redis,
    keys,
    logger: p.logger,
    clock,
  };
  return { deps, queue, supporterQueue };
}
