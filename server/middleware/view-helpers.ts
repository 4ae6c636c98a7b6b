import type { RequestHandler } from 'express';
import type { Config } from '../config.js';
import { escapeHtml } from '../../domain/html-escape.js';

// Values every page template can read (res.locals).

/** Site-wide settings and language-free helpers for the views (dates and numbers in the page's language come from pageLanguage). */
export function viewHelpers(config: Config): RequestHandler {
  return (_req, res, next) => {
    res.locals.publicUrl = config.publicUrl;
    res.locals.isProduction = config.isProduction;
    res.locals.isoTime = (ms: number) => new Date(ms).toISOString();
    res.locals.escapeHtml = escapeHtml;
    next();
  };
}
