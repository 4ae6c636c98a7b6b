import { APP_ROOT } from '../domain/app-root.js';
import { emailTemplatesDir, type WorkerDeps } from '../jobs/worker.js';
import type { Config } from './config.js';

/** A worker's settings from the configuration (the program, the tests and the scripts share it). */
export function workerSettingsFrom(config: Config): WorkerDeps['settings'] {
  return {
    concurrency: config.delivery.concurrency,
    ratePerSecond: config.delivery.ratePerSecond,
    supporterMailRatePerSecond: config.delivery.supporterMailRatePerSecond,
    retry: config.delivery,
    mailFrom: config.mail.from,
    publicUrl: config.publicUrl,
    emailTemplatesDir: emailTemplatesDir(APP_ROOT),
    maxDigestBytes: config.digestMaxBytes,
    eventLogMax: config.eventLogMax,
    pacing: config.delivery.pacing,
    jobLockMs: config.delivery.jobLockMs,
    retentionDays: config.retentionDays,
  };
}
