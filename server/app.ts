import path from 'node:path';
import express, { type Express } from 'express';
import cookieParser from 'cookie-parser';
import helmet from 'helmet';
import compression from 'compression';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { APP_ROOT } from '../domain/app-root.js';
import type { CampaignRegistry } from '../domain/campaign.js';
import { systemClock, type Clock } from '../domain/clock.js';
import type { DeliveryLog } from '../domain/delivery-log.js';
import type { LetterStore } from '../domain/letter-store.js';
import type { DeliveryScheduler } from '../domain/letter-submission.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import type { SendingControl } from '../domain/sending-control.js';
import type { LetterConfirmation } from '../domain/letter-confirmation.js';
import type { DeliveryPlanner } from '../domain/delivery-planner.js';
import type { SubmissionGuard } from '../domain/submission-guard.js';
import type { QueueJobData } from '../jobs/delivery-queue.js';
import type { StatusLinkJob } from '../jobs/supporter-mail.js';
import type { Queue } from 'bullmq';
import type { SendingSwitches } from '../jobs/sending-switches.js';
import type { CampaignerActions } from '../jobs/campaigner-actions.js';
import type { PaceBook } from '../domain/pace-book.js';
import type { Config } from './config.js';
import { errorHandler, notFound } from './middleware/error-handler.js';
import { viewHelpers } from './middleware/view-helpers.js';
import { requestLog } from './middleware/request-log.js';
import { pageLanguage } from './middleware/page-language.js';
import { setStrictMessages } from '../domain/i18n.js';
import { staticAssets } from './middleware/static-assets.js';
import { campaignRoutes } from './routes/campaign-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { letterRoutes } from './routes/letter-routes.js';
import { outboxRoutes } from './routes/outbox-routes.js';
import { formGuards } from './form-guards.js';
import { CAPTCHA_WIDGETS } from './captcha.js';
import { adminOffRoutes, adminRoutes } from './admin/admin-routes.js';
import { webhookRoutes } from './routes/webhook-routes.js';
import { metricsRoutes } from './routes/metrics-routes.js';

// The web process's composition root: everything HTTP, wired from the dependencies it is given.

export interface AppDeps {
  config: Config;
  campaigns: CampaignRegistry;
  letters: LetterStore;
  log: DeliveryLog;
  scheduler: DeliveryScheduler;
  /** Plans each new delivery: its paced slot, or its digest. */
  planner: DeliveryPlanner;
  /** One letter per form and per supporter and recipient. */
  guard: SubmissionGuard;
  /** Asks for a fresh status link to be emailed to a letter's writer (after a refused repeat). */
  requestStatusLink: (data: StatusLinkJob) => Promise<void>;
  /** Double opt-in: asks a new letter's writer to confirm, and schedules its deletion if they do not. */
  requestConfirmation: (campaign: string, letterId: string, expireDays: number) => Promise<void>;
  /** Double opt-in: redeems confirmation links. */
  confirmation: LetterConfirmation;
  /** The kill switches (pause all, hold a recipient). */
  control: SendingControl;
  /** Pause, resume, hold and release; lifting one queues the release of the parked letters (the dashboard's switches). */
  switches: SendingSwitches;
  /** Retry, retry all, test letter (the dashboard's actions). */
  actions: CampaignerActions;
  /** Reserved send slots (for the forecast). */
  paceBook: PaceBook;
  /** The delivery queue (for its counts, the dashboard's actions and bull-board). */
  queue: Queue<QueueJobData>;
  /** The web side's Redis connection (fails fast when Redis is down). */
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  /** The time source (the system clock when not given). */
  clock?: Clock;
  /** The Prometheus registry /metrics serves (a fresh one per app when not given); the worker's metrics may share it. */
  metrics?: import('prom-client').Registry;
}

/** Builds the Express app. Starts nothing: the caller listens. */
export function createApp(deps: AppDeps): Express {
  setStrictMessages(!deps.config.isProduction);
  const app = express();
  const captchaOrigins = deps.config.captcha ? [CAPTCHA_WIDGETS[deps.config.captcha.provider].origin] : [];
  app.disable('x-powered-by');
  // No ETag on dynamic answers: a page carries one-time form fields, so its hash never matches and hashing
  // 35 KB cost 5% of a page view; the small JSON answers have max-age. Static files keep their own ETags.
  app.set('etag', false);
  app.set('trust proxy', deps.config.trustProxy);
  app.set('views', path.join(APP_ROOT, 'views'));
  app.set('view engine', 'ejs');

  app.use(requestLog(deps.logger, redactPath));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          // The optional captcha's own script and frame are the only third-party resources allowed.
          scriptSrc: ["'self'", ...captchaOrigins],
          frameSrc: captchaOrigins.length ? captchaOrigins : ["'none'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          upgradeInsecureRequests: deps.config.isProduction ? [] : null,
        },
      },
      strictTransportSecurity: deps.config.isProduction,
    }),
  );
  app.use(compression());
  const assets = staticAssets(path.join(APP_ROOT, 'public'), deps.config.isProduction);
  app.use(assets.router);
  app.use((_req, res, next) => {
    res.locals.asset = assets.url;
    next();
  });
  app.use(cookieParser());
  app.use(viewHelpers(deps.config));
  app.use(pageLanguage({ secureCookies: deps.config.isProduction }));

  app.use(healthRoutes(deps));
  const guards = formGuards({ config: deps.config, keys: deps.keys, clock: deps.clock ?? systemClock });
  app.use(campaignRoutes(deps, guards));
  app.use(letterRoutes(deps, guards));
  app.use(deps.config.admin ? adminRoutes(deps) : adminOffRoutes());
  app.use(webhookRoutes(deps));
  if (!deps.config.isProduction) app.use(outboxRoutes(deps));
  app.use(metricsRoutes(deps));

  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}

/** The path with any status-link or confirmation token replaced, for logs. */
export function redactPath(url: string): string {
  return url
    .split('?')[0]!
    .replace(/^\/letters\/[^/]+/, '/letters/:token')
    .replace(/^\/confirm\/[^/]+/, '/confirm/:token');
}
