import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

// The last two handlers: a page for unknown addresses, and one for errors nobody caught.

/** 404 page for any address no route answered. */
export const notFound: RequestHandler = (_req, res) => {
  res
    .status(404)
    .render('error', { title: 'Page not found', message: 'There is no page at this address. If you followed a status link, check that it was copied whole.' });
};

/** Logs the error (without request data) and answers 500, or the error's own 4xx status (e.g. a body too large). */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: { status?: number; statusCode?: number; type?: string; message?: string }, _req, res, _next) => {
    const status = err.status ?? err.statusCode ?? 500;
    if (status >= 500) logger.error({ err }, 'request failed');
    if (res.headersSent) return;
    const clientError = status >= 400 && status < 500;
    res.status(clientError ? status : 500).render('error', {
      title: clientError ? 'The request could not be handled' : 'Something went wrong',
      message: clientError
        ? status === 413
          ? 'What you sent is larger than this site accepts. Please shorten your letter.'
          : 'The request was not in a form this site accepts.'
        : 'Something went wrong on our side. Please try again in a moment.',
    });
  };
}
