import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { translator, type Translator } from '../../domain/i18n.js';
import { ensureLanguageLocals } from './page-language.js';
import type { Logger } from 'pino';

// The last two handlers: a page for unknown addresses, and one for errors nobody caught.

/** 404 page for any address no route answered. */
export const notFound: RequestHandler = (_req, res) => {
  ensureLanguageLocals(res);
  const t = translatorOf(res);
  res.status(404).render('error', { title: t('error.notFound.title'), message: t('error.notFound.message') });
};

function translatorOf(res: Response): Translator {
  return (res.locals.t as Translator | undefined) ?? translator('en');
}

/** Logs the error (without request data) and answers 500, or the error's own 4xx status (e.g. a body too large). */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: { status?: number; statusCode?: number; type?: string; message?: string }, _req, res, _next) => {
    const status = err.status ?? err.statusCode ?? 500;
    if (status >= 500) logger.error({ err }, 'request failed');
    if (res.headersSent) return;
    const clientError = status >= 400 && status < 500;
    ensureLanguageLocals(res);
    const t = translatorOf(res);
    res.status(clientError ? status : 500).render('error', {
      title: clientError ? t('error.badRequest.title') : t('error.server.title'),
      message: clientError ? (status === 413 ? t('error.tooLarge.message') : t('error.badRequest.message')) : t('error.server.message'),
    });
  };
}
