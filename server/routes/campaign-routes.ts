import { randomBytes } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import type { Campaign } from '../../domain/campaign.js';
import { countryName, countryOptions, isCountryCode } from '../../domain/countries.js';
import { letterFooter, letterParts, letterText } from '../../domain/letter-email.js';
import type { CampaignCounts } from '../../domain/delivery-log.js';
import { SENT_STATES } from '../../domain/delivery-states.js';
import { initialFormValues, parseLetterForm, type LetterFormResult, type LetterFormValues } from '../../domain/letter-form.js';
import { SubmissionUnavailableError, submitLetter } from '../../domain/letter-submission.js';
import type { AppDeps } from '../app.js';
import { CAPTCHA_WIDGETS, verifyCaptcha } from '../captcha.js';
import type { FormGuards } from '../form-guards.js';
import { readLetterCookie, rememberLetter } from '../letter-cookie.js';

// The campaign page, its form, and the public counters.

type FormErrors = Extract<LetterFormResult, { ok: false }>['errors'];

interface PageExtras {
  /** A link to a letter the supporter already wrote, when the browser knows it. */
  existingLetterUrl?: string;
}

/** What the supporter is told when a guard refuses the form (their text is always kept). */
const GUARD_MESSAGES = {
  'stale-form': 'This form had expired, so your letter was not sent. Nothing you typed is lost: please check it and press “Send my letter” again.',
  'too-fast':
    'Your letter was sent very quickly after the page opened, so it was not sent. Please take a moment to read it, then press “Send my letter” again.',
  honeypot: 'Your letter could not be accepted. If your browser filled in a hidden field automatically, please clear it and try again.',
  'ip-limit':
    'Many letters have been sent from your network in the last hour, so this one could not be accepted just now. Your text is kept below: please try again later.',
  'email-limit':
    'This email address has sent many letters today, so this one could not be accepted just now. Your text is kept below: please try again tomorrow.',
} as const;
const GUARD_STATUS = { 'stale-form': 403, 'too-fast': 422, honeypot: 422, 'ip-limit': 429, 'email-limit': 429 } as const;

/** GET /, GET /c/:slug, POST /c/:slug/letters, GET /c/:slug/stats.json. */
export function campaignRoutes(deps: AppDeps, guards: FormGuards): Router {
  const router = Router();
  const parseForm = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 100 });

  const countsOrNull = async (slug: string): Promise<CampaignCounts | null> => {
    try {
      return await deps.log.counts(slug);
    } catch (err) {
      deps.logger.warn({ err }, 'campaign counters unavailable');
      return null;
    }
  };

  const renderCampaign = async (
    req: Request,
    res: Response,
    campaign: Campaign,
    values: LetterFormValues,
    errors: FormErrors,
    status = 200,
    extras: PageExtras = {},
  ) => {
    const posted = typeof req.body?.submission === 'string' && isSubmissionId(req.body.submission) ? (req.body.submission as string) : undefined;
    const hidden = guards.fields(req, res);
    // The preview shows the letter as the first chosen recipient will receive it (the page's script
    // follows the form as the supporter types and lets them pick another recipient).
    const previewTarget = campaign.targetById.get(values.recipients.find((r) => campaign.targetById.has(r)) ?? '') ?? campaign.targets[0]!;
    const writer = [values.firstName, values.lastName].filter(Boolean).join(' ') || '[your name]';
    const country = isCountryCode(values.country) ? countryName(values.country) : '[your country]';
    const preview = {
      target: previewTarget,
      from: `${writer} via ${campaign.sender.name}`,
      text: letterText({
        ...letterParts(campaign, previewTarget, { ...values, firstName: '', lastName: '' }),
        signatureName: writer,
        signatureCountry: country,
      }),
      footer: letterFooter(campaign, writer, country, new URL(deps.config.publicUrl).host),
      footerTemplate: letterFooter(campaign, '{writer}', '{country}', new URL(deps.config.publicUrl).host),
    };
    res.status(status).render('campaign', {
      title: campaign.headline,
      csrfToken: hidden.csrfToken,
      preview,
      ogUrl: `${deps.config.publicUrl}/c/${campaign.slug}`,
      captcha: deps.config.captcha ? { siteKey: deps.config.captcha.siteKey, ...CAPTCHA_WIDGETS[deps.config.captcha.provider] } : null,
      startedAt: hidden.startedAt,
      campaign,
      values,
      errors,
      extras,
      // A fresh one-time id for each new form; the same one back after an error, so a retry is still one letter.
      submissionId: posted ?? randomBytes(18).toString('base64url'),
      counts: await countsOrNull(campaign.slug),
      sentCount: sentTotal,
      countries: countryOptions(),
      officials: campaign.targets.filter((t) => t.country === 'all'),
      embassies: campaign.targets.filter((t) => t.country !== 'all'),
    });
  };

  router.get('/', async (req, res) => {
    const campaigns = deps.campaigns.list();
    if (campaigns.length === 1) return renderCampaign(req, res, campaigns[0]!, initialFormValues(campaigns[0]!), {});
    res.render('campaign-list', { title: 'Campaigns', campaigns });
  });

  router.get('/c/:slug', async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    await renderCampaign(req, res, campaign, initialFormValues(campaign), {});
  });

  router.post('/c/:slug/letters', parseForm, async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    const result = parseLetterForm(campaign, req.body);
    if (!result.ok) return renderCampaign(req, res, campaign, result.values, result.errors, 422);
    const submissionId = typeof req.body.submission === 'string' && isSubmissionId(req.body.submission) ? (req.body.submission as string) : undefined;
    const values: LetterFormValues = { ...result.draft, keepInformed: !!result.draft.keepInformed };
    if (deps.config.captcha) {
      const answer = (req.body as Record<string, unknown>)[CAPTCHA_WIDGETS[deps.config.captcha.provider].field];
      const captcha = await verifyCaptcha(deps.config.captcha, answer, req.ip);
      if (captcha !== 'passed') {
        deps.logger.info({ event: 'form-refused', reason: `captcha-${captcha}` }, 'letter refused by the captcha');
        const message =
          captcha === 'failed'
            ? 'Please complete the check above the “Send” button (it shows that a person is writing), then send again. Your text is kept.'
            : 'The check that shows a person is writing could not be verified just now. Your text is kept: please try again in a minute.';
        return renderCampaign(req, res, campaign, values, { form: message }, captcha === 'failed' ? 422 : 503);
      }
    }
    const verdict = await guards.check(req, result.draft.email);
    if (!verdict.ok) {
      deps.logger.info({ event: 'form-refused', reason: verdict.reason }, 'letter refused by a form guard');
      if ('retryAfterSeconds' in verdict) res.set('Retry-After', String(verdict.retryAfterSeconds));
      return renderCampaign(req, res, campaign, values, { form: GUARD_MESSAGES[verdict.reason] }, GUARD_STATUS[verdict.reason]);
    }
    try {
      const outcome = await submitLetter(deps, campaign, result.draft, submissionId, { ipHash: verdict.ipHash });
      switch (outcome.kind) {
        case 'accepted':
          rememberLetter(req, res, outcome.token, deps.config.isProduction);
          return res.redirect(303, `/letters/${outcome.token}/sent`);
        case 'repeat':
          return res.redirect(303, `/letters/${outcome.token}/sent`);
        case 'in-progress':
          return renderCampaign(
            req,
            res,
            campaign,
            values,
            { form: 'This letter is already being sent from another tab or click. Please wait a moment, then reload the page.' },
            409,
          );
        case 'already-wrote': {
          const names = outcome.taken.map((t) => campaign.targetById.get(t.targetId)?.institution ?? t.targetId).join(', ');
          const known = await knownLetters(req);
          const token = outcome.taken.map((t) => known.get(t.letterId)).find(Boolean);
          let message = `You have already written to ${names}: each person can write once to each recipient. Untick ${outcome.taken.length === 1 ? 'it' : 'them'} to send your letter to the others.`;
          if (!token) {
            message += ' We have emailed a link to follow your first letter to the address you entered.';
            await deps
              .requestStatusLink({ campaign: campaign.slug, letterId: outcome.taken[0]!.letterId, targetIds: outcome.taken.map((t) => t.targetId) })
              .catch((err: unknown) => deps.logger.warn({ err }, 'could not queue the status-link email'));
          }
          return renderCampaign(req, res, campaign, values, { recipients: message }, 409, { existingLetterUrl: token ? `/letters/${token}` : undefined });
        }
      }
    } catch (err) {
      if (!(err instanceof SubmissionUnavailableError)) throw err;
      deps.logger.error({ err: err.cause }, 'letter could not be accepted');
      res.set('Retry-After', '30');
      await renderCampaign(
        req,
        res,
        campaign,
        values,
        {
          form: 'Your letter could not be accepted just now because of a problem on our side. Nothing was sent and your text is still here: please try again in a minute.',
        },
        503,
      );
    }
  });

  router.get('/c/:slug/privacy', (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign?.privacyNotice) return next();
    const [heading, ...paragraphs] = campaign.privacyNotice;
    res.render('privacy', { title: heading, campaign, paragraphs });
  });

  router.get('/c/:slug/stats.json', async (req, res, next) => {
    const campaign = deps.campaigns.get(req.params.slug);
    if (!campaign) return next();
    const counts = await countsOrNull(campaign.slug);
    res.set('Cache-Control', 'public, max-age=5');
    if (!counts) return res.status(503).json({ error: 'counters unavailable' });
    res.json({ letters: counts.letters, deliveries: counts.deliveries, sent: sentTotal(counts), goal: campaign.goal });
  });

  /** Letter ids the supporter's browser holds status links for, to the token. */
  const knownLetters = async (req: Request): Promise<Map<string, string>> => {
    const map = new Map<string, string>();
    for (const token of readLetterCookie(req)) {
      const id = await deps.letters.findByToken(token).catch(() => undefined);
      if (id) map.set(id, token);
    }
    return map;
  };

  return router;
}

/** Emails that reached the provider, whatever happened after (sent, delivered, deferred, bounced, dropped). */
function sentTotal(counts: CampaignCounts): number {
  return [...SENT_STATES].reduce((n, s) => n + counts.byState[s], 0);
}

function isSubmissionId(v: string): boolean {
  return /^[A-Za-z0-9_-]{16,64}$/.test(v);
}
