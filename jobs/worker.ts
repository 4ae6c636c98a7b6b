import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisKeys } from '../domain/redis-keys.js';
import { createDeliverLetterProcessor, type DeliverLetterDeps, type DeliverOutcome } from './deliver-letter.js';
import { DELIVERY_QUEUE, type DeliveryJob } from './delivery-queue.js';

// The worker process's composition root: a BullMQ worker running the delivery processor.

export interface WorkerDeps extends DeliverLetterDeps {
  /** A connection for the worker's blocking commands (maxRetriesPerRequest: null). */
  connection: Redis;
  keys: RedisKeys;
  logger: Logger;
  concurrency: number;
  /** The global cap on sends, across all worker processes: at most `max` per `durationMs`. */
  rateLimit: { max: number; durationMs: number };
}

/** A running delivery worker and the way to stop it. */
export interface DeliveryWorker {
  worker: Worker<DeliveryJob, DeliverOutcome>;
  /** Stops taking jobs and waits for the ones in flight to finish. */
  close(): Promise<void>;
}

/** Starts a worker on the delivery queue. Errors of single jobs are logged, never thrown from here. */
export function createWorker(deps: WorkerDeps): DeliveryWorker {
  const processor = createDeliverLetterProcessor(deps);
  const worker = new Worker<DeliveryJob, DeliverOutcome>(DELIVERY_QUEUE, processor, {
    connection: deps.connection,
    prefix: deps.keys.bullPrefix,
    concurrency: deps.concurrency,
    limiter: { max: deps.rateLimit.max, duration: deps.rateLimit.durationMs },
    // Completed and failed jobs are cleaned by the job options; the delivery log is the record.
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'worker error'));
  worker.on('failed', (job, err) => {
    if (job) deps.logger.debug({ job: job.id, reason: err.message }, 'job attempt failed');
  });
  return {
    worker,
    close: () => worker.close(),
  };
}
