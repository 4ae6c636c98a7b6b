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

/**
 * Errors as pino serialises them, without what a client library attaches that may hold personal data:
 * ioredis puts the failed command's arguments (a letter's fields) on reply errors, axios its request.
 */
export function safeErrorSerializer(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (out && typeof out === 'object') {
    for (const key of ['command', 'previousErrors', 'args', 'config', 'request', 'response']) delete out[key];
  }
  return out;
}

/** The process's logger at `level`. */
export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { err: safeErrorSerializer } });
}
