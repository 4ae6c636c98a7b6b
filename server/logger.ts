import { pino, type Logger } from 'pino';

// JSON logs (pino) without personal data or secrets. Code logs ids, never names, emails or letter text;
// these redactions are the safety net for anything that slips through.

/** Paths blanked in every log line. */
export const REDACT_PATHS = [
  'email',
  '*.email',
  'firstName',
  '*.firstName',
  'lastName',
  '*.lastName',
  'body',
  '*.body',
  'text',
  '*.text',
  'html',
  '*.html',
  'replyTo',
  '*.replyTo',
  'apiKey',
  '*.apiKey',
  'SENDGRID_API_KEY',
  '*.SENDGRID_API_KEY',
  'req.headers.cookie',
  'req.headers.authorization',
  'err.config',
  'err.response',
  'err.request',
];

/** The process's logger at `level`. */
export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
