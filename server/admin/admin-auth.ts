import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { doubleCsrf } from 'csrf-csrf';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { verifyPassword } from '../../domain/admin-password.js';
import type { AppDeps } from '../app.js';
import { addressHash } from '../client-address.js';
import { ADMIN_COOKIE, AdminSessions } from './admin-session.js';

// Access to /admin: a password login with a lockout after repeated failures, a session in Redis,
// logout, and CSRF protection on every form and action.

export interface AdminAuth {
  /** GET/POST /admin/login, POST /admin/logout. */
  router: Router;
  /** Lets a request through with a live session; sends others to the login page (or 401 for JSON). */
  requireAdmin: RequestHandler;
  /** Checks the CSRF token of a state-changing request (403 when missing or wrong). */
  csrfProtection: RequestHandler;
  /** A CSRF token for the forms of the page being rendered. */
  csrfToken(req: Request, res: Response): string;
}

/** Builds the login, session and CSRF pieces. Requires config.admin to be set. */
export function adminAuth(deps: AppDeps): AdminAuth {
  const admin = deps.config.admin!;
  const secure = deps.config.isProduction;
  const sessions = new AdminSessions(deps.redis, deps.keys, admin.sessionHours * 3600);
  const perIp = new RateLimiterRedis({
    storeClient: deps.redis,
    keyPrefix: deps.keys.loginFailures,
    points: admin.maxFailures,
    duration: admin.lockoutMinutes * 60,
    blockDuration: admin.lockoutMinutes * 60,
  });
  const { generateCsrfToken, doubleCsrfProtection } = doubleCsrf({
    getSecret: () => deps.config.sessionSecret,
    // Tokens are bound to the dashboard session (or to "no session" on the login page).
    getSessionIdentifier: (req) => String((req.cookies as Record<string, unknown> | undefined)?.[ADMIN_COOKIE] ?? ''),
    cookieName: secure ? '__Host-al.csrf' : 'al.csrf',
    cookieOptions: { sameSite: 'strict', path: '/', secure, httpOnly: true },
    getCsrfTokenFromRequest: (req) => {
      const fromBody = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof fromBody === 'string' ? fromBody : (req.headers['x-csrf-token'] as string | undefined);
    },
  });
  const parseForm = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  // The same token while its cookie is valid, so forms on a page that refreshes itself stay valid.
  const csrfToken = (req: Request, res: Response) => generateCsrfToken(req, res, { overwrite: false });

  const sessionCookieOptions = { httpOnly: true, sameSite: 'strict', secure, path: '/', maxAge: admin.sessionHours * 3_600_000 } as const;
  const requireAdmin: RequestHandler = async (req, res, next) => {
    const id = (req.cookies as Record<string, string | undefined>)[ADMIN_COOKIE];
    // The dashboard's own refresh (its live part, every few seconds) is not use: an open, unattended tab
    // does not keep the login alive.
    const use = !req.path.endsWith('/live');
    if (await sessions.touch(id, use)) {
      res.set('Cache-Control', 'no-store');
      // The cookie slides with the session, so a login lasts ADMIN_SESSION_HOURS without use, not from login.
      if (use) res.cookie(ADMIN_COOKIE, id, sessionCookieOptions);
      return next();
    }
    if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') return res.redirect(303, `/admin/login?next=${encodeURIComponent(req.originalUrl)}`);
    res.status(401).json({ error: 'login required' });
  };

  const renderLogin = (req: Request, res: Response, status: number, error?: string) => {
    res.set({ 'Cache-Control': 'no-store', 'X-Robots-Tag': 'noindex, nofollow' });
    res.status(status).render('admin/login', { title: 'Campaigner login', error, next: safeNext(req), csrfToken: csrfToken(req, res) });
  };

  const router = Router();
  router.get('/admin/login', (req, res) => renderLogin(req, res, 200));
  router.post('/admin/login', parseForm, doubleCsrfProtection, async (req: Request, res: Response, next: NextFunction) => {
    try {
      // The limit is keyed by a hash of the address (never the address), and an attempt takes its
      // point before the password is checked, so parallel guesses cannot slip past the lockout.
      const key = addressHash(req.ip, deps.config.ipHashSecret);
      try {
        await perIp.consume(key);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        const minutes = Math.max(1, Math.ceil(err.msBeforeNext / 60_000));
        return renderLogin(req, res, 429, `Too many failed attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`);
      }
      const password = typeof req.body?.password === 'string' ? (req.body.password as string) : '';
      if (!(await verifyPassword(password, admin))) {
        deps.logger.warn({ event: 'admin-login-failed' }, 'dashboard login failed');
        return renderLogin(req, res, 401, 'That password is not right.');
      }
      await perIp.delete(key);
      // A fresh session id at every login (no fixation), and the old one, if any, ended.
      await sessions.destroy((req.cookies as Record<string, string | undefined>)[ADMIN_COOKIE]);
      const id = await sessions.create();
      res.cookie(ADMIN_COOKIE, id, sessionCookieOptions);
      deps.logger.info({ event: 'admin-login' }, 'campaigner logged in');
      res.redirect(303, safeNext(req));
    } catch (err) {
      next(err);
    }
  });
  router.post('/admin/logout', parseForm, doubleCsrfProtection, async (req, res) => {
    await sessions.destroy((req.cookies as Record<string, string | undefined>)[ADMIN_COOKIE]);
    res.clearCookie(ADMIN_COOKIE, { path: '/' });
    res.redirect(303, '/admin/login');
  });

  return {
    router,
    requireAdmin,
    csrfProtection: (req, res, next) => parseForm(req, res, () => doubleCsrfProtection(req, res, next)),
    csrfToken,
  };
}

/** Where to go after login: a path under /admin only, never another site. */
function safeNext(req: Request): string {
  const next = (req.body as Record<string, unknown> | undefined)?.next ?? req.query.next;
  return typeof next === 'string' && /^\/admin(\/[A-Za-z0-9/_.-]*)?(\?[A-Za-z0-9=&_.-]*)?$/.test(next) ? next : '/admin';
}
