import type { RequestHandler } from 'express';
import type { Config } from '../config.js';
import { escapeHtml } from '../../domain/html-escape.js';

// Values every page template can read (res.locals).

const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
const dateOnly = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'UTC' });
const number = new Intl.NumberFormat('en');

/** Formatting helpers and site-wide settings for the views. */
export function viewHelpers(config: Config): RequestHandler {
  return (_req, res, next) => {
    res.locals.publicUrl = config.publicUrl;
    res.locals.isProduction = config.isProduction;
    res.locals.formatDateTime = (ms: number) => `${dateTime.format(ms)} UTC`;
    res.locals.isoTime = (ms: number) => new Date(ms).toISOString();
    res.locals.formatDate = (iso: string) => dateOnly.format(new Date(`${iso}T00:00:00Z`));
    res.locals.formatNumber = (n: number) => number.format(n);
    res.locals.escapeHtml = escapeHtml;
    next();
  };
}
