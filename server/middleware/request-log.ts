import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

// One log line per request, written when the response has gone: method, path (tokens replaced),
// status and time taken. No bodies, no query strings, no tokens, no addresses. Written by hand
// rather than with pino-http, which builds a child logger per request (serialising and redacting
// its bindings up front): about a tenth of the web process's CPU per request under load.

/** Paths never logged (probes that a load balancer calls every few seconds). */
const QUIET = new Set(['/healthz', '/readyz']);

/**
 * Logs each finished request at info (error for 5xx) with `redact` applied to its
 * path; a request whose connection closed before the response was sent is logged as aborted. Never throws.
 */
export function requestLog(logger: Logger, redact: (url: string) => string): RequestHandler {
  let next = 0;
  return (req, res, nextHandler) => {
    if (QUIET.has(req.path)) return nextHandler();
    const started = performance.now();
    const id = ++next;
    const done = () => {
      res.off('finish', done);
      res.off('close', done);
      const status = res.statusCode;
      const line = {
        req: { id, method: req.method, path: redact(req.originalUrl) },
        res: { statusCode: status },
        responseTime: Math.round(performance.now() - started),
      };
      if (!res.writableFinished) logger.warn(line, 'request aborted');
      else if (status >= 500) logger.error(line, 'request errored');
      else logger.info(line, 'request completed');
    };
    res.on('finish', done);
    res.on('close', done);
    nextHandler();
  };
}
