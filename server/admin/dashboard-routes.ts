import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Campaign } from '../../domain/campaign.js';
import { readDashboard, type DashboardData } from '../../domain/campaign-dashboard.js';
import { GLOSSARY } from '../../domain/delivery-states.js';
import { letterIdSchema } from '../../domain/ids.js';
import { emailAddress } from '../../domain/text-rules.js';
import type { AppDeps } from '../app.js';
import { deliverySettingWarnings } from '../config.js';
import type { AdminAuth } from './admin-auth.js';
import { barChartSvg } from './chart-svg.js';

// The campaigner dashboard (behind the login): the campaign's numbers, its chart, and its controls.
// Every action is a POST with a CSRF token and ends with a redirect back to the dashboard.

/**
 * Messages an action can leave on the dashboard (by key, so no text from the request is reflected);
 * a notice that is a function is given the number of letters the action passed (`n=`), checked here.
 */
const NOTICES: Record<string, string | ((letters: number | undefined) => string)> = {
  paused: 'All sending is paused. Letters keep their place and are held until you resume.',
  resumed: (n) => `Sending resumed. ${releasing(n, 'their recipients’ lines')}`,
  held: 'The recipient is on hold.',
  released: (n) => `The recipient is released. ${releasing(n, 'its line')}`,
  retried: 'The letter is back in its recipient’s line.',
  'not-retried': 'That letter could not be retried (it may have been retried already).',
  'retried-all': 'The recipient’s failed letters are back in its line.',
  'test-queued': 'The test letter is on its way. Its result appears below.',
  'bad-email': 'Enter the test address in the form name@example.org.',
};

/** What a lifted switch's notice says of the held letters being released in the background. */
function releasing(n: number | undefined, line: string): string {
  if (n === 0) return 'No held letters are to be released now.';
  const what = n === undefined ? 'the held letters' : n === 1 ? '1 held letter' : `${n.toLocaleString('en-GB')} held letters`;
  return `Releasing ${what}: they are being given new places in ${line} in the background, and the “Held” count below goes down as they are.`;
}

const hourLabel = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });
const dayLabel = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** GET /admin, the dashboard, its live fragment and its actions. */
export function dashboardRoutes(deps: AppDeps, auth: AdminAuth): Router {
  const router = Router();
  const dashboardDeps = {
    redis: deps.redis,
    keys: deps.keys,
    log: deps.log,
    paceBook: deps.paceBook,
    control: deps.control,
    clock: deps.clock ?? { now: () => Date.now() },
    pacing: deps.config.delivery.pacing,
  };

  const model = async (req: Request, res: Response, campaign: Campaign) => {
    const data: DashboardData = await readDashboard(dashboardDeps, campaign);
    const queue = await deps.queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized');
    const testId = typeof req.query.test === 'string' ? req.query.test : undefined;
    return {
      title: `Dashboard: ${campaign.name}`,
      campaign,
      data,
      queue,
      glossary: GLOSSARY,
      notice: noticeOf(req),
      settingWarnings: deliverySettingWarnings(deps.config),
      testLetter: testId ? await deps.actions.testLetter(testId) : undefined,
      testId,
      hourlyChart: barChartSvg(data.hourly, {
        id: 'chart-hourly',
        title: 'Letters written and emails sent per hour, last 48 hours (UTC)',
        label: (t) => hourLabel.format(t),
        labelEvery: 6,
      }),
      dailyChart: barChartSvg(data.daily, {
        id: 'chart-daily',
        title: 'Letters written and emails sent per day since the campaign began (UTC)',
        label: (t) => dayLabel.format(t),
        labelEvery: Math.max(1, Math.ceil(data.daily.length / 8)),
      }),
      csrfToken: auth.csrfToken(req, res),
    };
  };

  const campaignOf = (req: Request) => deps.campaigns.get(String(req.params.slug));
  const back = (res: Response, campaign: Campaign, notice: string, extra = '') => res.redirect(303, `/admin/c/${campaign.slug}?notice=${notice}${extra}`);

  router.get('/admin', (_req, res) => {
    res.redirect(303, `/admin/c/${deps.campaigns.list()[0]!.slug}`);
  });

  router.get('/admin/c/:slug', async (req, res, next) => {
    const campaign = campaignOf(req);
    if (!campaign) return next();
    res.render('admin/dashboard', await model(req, res, campaign));
  });

  // The part of the page that refreshes itself (polled by public/dashboard.js).
  router.get('/admin/c/:slug/live', async (req, res, next) => {
    const campaign = campaignOf(req);
    if (!campaign) return next();
    res.render('admin/dashboard-live', await model(req, res, campaign));
  });

  router.post('/admin/c/:slug/pause', auth.csrfProtection, async (req, res, next) => {
    const campaign = campaignOf(req);
    if (!campaign) return next();
    await deps.switches.pauseAll(reasonOf(req) ?? 'Paused by a campaigner.');
    deps.logger.warn({ event: 'sending-paused', by: 'dashboard' }, 'all sending paused from the dashboard');
    back(res, campaign, 'paused');
  });

  router.post('/admin/c/:slug/resume', auth.csrfProtection, async (req, res, next) => {
    const campaign = campaignOf(req);
    if (!campaign) return next();
    // Lifts the pause and queues the release: the worker gives the held letters their places.
    const releasing = await deps.switches.resumeAll();
    deps.logger.info({ event: 'sending-resumed', by: 'dashboard', releasing }, 'sending resumed from the dashboard');
    back(res, campaign, 'resumed', `&n=${releasing}`);
  });

  router.post('/admin/c/:slug/targets/:target/:action', auth.csrfProtection, async (req, res, next) => {
    const campaign = campaignOf(req);
    const targetId = String(req.params.target);
    if (!campaign || !campaign.targetById.has(targetId)) return next();
    switch (req.params.action) {
      case 'hold':
        await deps.switches.hold(campaign.slug, targetId, reasonOf(req) ?? 'Held by a campaigner.');
        return back(res, campaign, 'held');
      case 'release':
        return back(res, campaign, 'released', `&n=${await deps.switches.release(campaign.slug, targetId)}`);
      case 'retry-all':
        await deps.actions.retryAll(campaign.slug, targetId);
        return back(res, campaign, 'retried-all');
      default:
        return next();
    }
  });

  router.post('/admin/c/:slug/retry', auth.csrfProtection, async (req, res, next) => {
    const campaign = campaignOf(req);
    const body = z.object({ letterId: letterIdSchema, targetId: z.string().max(64) }).safeParse(req.body);
    if (!campaign || !body.success) return next();
    const ok = await deps.actions.retry(campaign.slug, body.data.letterId, body.data.targetId);
    back(res, campaign, ok ? 'retried' : 'not-retried');
  });

  router.post('/admin/c/:slug/test-letter', auth.csrfProtection, async (req, res, next) => {
    const campaign = campaignOf(req);
    if (!campaign) return next();
    const to = emailAddress('the test address').safeParse(req.body?.email);
    const targetId =
      typeof req.body?.targetId === 'string' && campaign.targetById.has(req.body.targetId) ? (req.body.targetId as string) : campaign.targets[0]!.id;
    if (!to.success) return back(res, campaign, 'bad-email');
    const id = await deps.actions.requestTestLetter(campaign.slug, targetId, to.data);
    back(res, campaign, 'test-queued', `&test=${id}`);
  });

  return router;
}

/** A count a notice may carry. */
const noticeCountSchema = z.coerce.number().int().min(0).max(1e9);

/** The notice the query's `notice` names, given its `n` if a count; null for none or an unknown one. */
function noticeOf(req: Request): string | null {
  const notice = typeof req.query.notice === 'string' && Object.hasOwn(NOTICES, req.query.notice) ? NOTICES[req.query.notice] : undefined;
  if (notice === undefined) return null;
  const n = noticeCountSchema.safeParse(req.query.n);
  return typeof notice === 'string' ? notice : notice(n.success ? n.data : undefined);
}

function reasonOf(req: Request): string | undefined {
  const r = (req.body as Record<string, unknown> | undefined)?.reason;
  if (typeof r !== 'string') return undefined;
  const clean = r
    .replace(/[\u0000-\u001F\u007F]/g, ' ')
    .trim()
    .slice(0, 200);
  return clean || undefined;
}
