import { Router, type Response } from 'express';
import { z } from 'zod';
import { systemClock } from '../../domain/clock.js';
import { deliveryCsv, type ExportFilter } from '../../domain/delivery-export.js';
import { DELIVERY_STATES } from '../../domain/delivery-states.js';
import type { AppDeps } from '../app.js';

// The delivery log as a CSV download for campaigners (behind the dashboard login), streamed.

const DAY_MS = 86_400_000;

/** A calendar date as YYYY-MM-DD, to its midnight UTC in ms. */
const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a date as YYYY-MM-DD' })
  .transform((day, ctx) => {
    const ms = Date.parse(`${day}T00:00:00Z`);
    if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== day) {
      ctx.addIssue({ code: 'custom', message: 'is not a date in the calendar' });
      return z.NEVER;
    }
    return ms;
  });

/** The query: every field optional; empty values (the dashboard form's "All") mean no filter. */
const querySchema = z
  .strictObject({
    from: isoDay.optional(),
    to: isoDay.optional(),
    target: z.string().max(64).optional(),
    state: z.enum(DELIVERY_STATES, { error: `must be one of ${DELIVERY_STATES.join(', ')}` }).optional(),
    personal: z.enum(['1', '0'], { error: 'must be 1 or 0' }).optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, { error: 'must not be before "from"', path: ['to'] });

/**
 * GET /admin/c/:slug/export.csv?from=YYYY-MM-DD&to=YYYY-MM-DD&target=&state=&personal=1: one row per
 * delivery of the letters written from `from` (00:00 UTC) up to and including the day `to` (UTC),
 * optionally of one recipient and one state; names, emails and subjects only with personal=1.
 * 400 naming the bad parameter; 404 for an unknown campaign; 500 when Redis fails before the first
 * row (after that the download is cut off, so a partial file never looks complete).
 */
export function exportRoutes(deps: Pick<AppDeps, 'campaigns' | 'redis' | 'keys' | 'logger' | 'clock'>): Router {
  const router = Router();
  const clock = deps.clock ?? systemClock;

  router.get('/admin/c/:slug/export.csv', async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    const query = Object.fromEntries(Object.entries(req.query).filter(([, v]) => v !== ''));
    const parsed = querySchema.safeParse(query);
    const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${String(i.path[0] ?? 'query')}: ${i.message}`);
    if (parsed.success && parsed.data.target !== undefined && !campaign.targetById.has(parsed.data.target)) {
      problems.push(`target: "${parsed.data.target}" is not one of this campaign's recipients`);
    }
    if (!parsed.success || problems.length) {
      return res.status(400).render('error', { title: 'The export could not be made', message: `Check the export's settings. ${problems.join('; ')}.` });
    }
    const q = parsed.data;
    const filter: ExportFilter = {
      from: q.from,
      to: q.to === undefined ? undefined : q.to + DAY_MS,
      targetId: q.target,
      state: q.state,
      personal: q.personal === '1',
    };
    deps.logger.info(
      { event: 'delivery-export', campaign: campaign.slug, from: q.from, to: q.to, target: q.target, state: q.state, personal: filter.personal },
      'delivery log export started',
    );

    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    const chunks = deliveryCsv(deps.redis, deps.keys, campaign, filter);
    let step: IteratorResult<string>;
    try {
      step = await chunks.next();
    } catch (err) {
      return next(err);
    }
    const date = new Date(clock.now()).toISOString().slice(0, 10);
    res.status(200).set({
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="${campaign.slug}-deliveries-${date}.csv"`,
    });
    if (req.method === 'HEAD') {
      await chunks.return(undefined);
      return res.end();
    }
    // A byte-order mark first: without it Excel reads the file in the local code page and garbles
    // names in Chinese or with accents (other CSV readers skip it).
    res.write('\uFEFF');
    try {
      while (!step.done && !closed) {
        if (step.value && !res.write(step.value)) await writableOrClosed(res);
        if (closed) break;
        step = await chunks.next();
      }
      if (closed) {
        await chunks.return(undefined);
        return;
      }
      res.end();
    } catch (err) {
      deps.logger.error({ err, campaign: campaign.slug }, 'delivery export cut off');
      res.destroy(err as Error);
    }
  });

  return router;
}

/** Resolves when the response can take more data, or when the client has gone. */
function writableOrClosed(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
