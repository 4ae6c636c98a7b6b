import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { systemClock, type Clock } from '../domain/clock.js';

// SendGrid's signed Event Webhook: an ECDSA P-256 / SHA-256 signature over the timestamp header
// followed by the raw body bytes, checked before anything in the body is believed.

export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/** How far ahead of our clock a timestamp may be (seconds), for clock skew. */
const MAX_FUTURE_SECONDS = 60;

/** Why a request was refused; for our logs only, never for the caller. */
export type SignatureRejection = 'missing' | 'malformed' | 'stale' | 'bad-signature';
export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureRejection };

/**
 * Reads the public key as SendGrid's settings page shows it (base64 of a DER SPKI key; a PEM block
 * is accepted too). Throws when it is not an EC P-256 public key.
 */
export function parseSendgridPublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith('-----BEGIN')
    ? createPublicKey({ key: trimmed, format: 'pem' })
    : createPublicKey({ key: Buffer.from(trimmed.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('not an ECDSA P-256 public key');
  }
  return key;
}

/** True when `text` is a key parseSendgridPublicKey accepts (for the configuration check). */
export function isSendgridPublicKey(text: string): boolean {
  try {
    parseSendgridPublicKey(text);
    return true;
  } catch {
    return false;
  }
}

export interface SignatureVerifierOptions {
  /** Oldest accepted timestamp, in seconds before now (default 600). */
  maxAgeSeconds?: number;
  clock?: Clock;
}

/** Checks one request's headers and raw body; never throws (a refusal is a result). */
export type SignatureVerifier = (headers: { signature?: string; timestamp?: string }, rawBody: Buffer) => SignatureCheck;

/** A verifier for one public key. Throws at once when the key cannot be read (see parseSendgridPublicKey). */
export function sendgridSignatureVerifier(publicKey: string, options: SignatureVerifierOptions = {}): SignatureVerifier {
  const key = parseSendgridPublicKey(publicKey);
  const maxAgeSeconds = options.maxAgeSeconds ?? 600;
  const clock = options.clock ?? systemClock;
  return ({ signature, timestamp }, rawBody) => {
    if (!signature || !timestamp) return { ok: false, reason: 'missing' };
    if (!/^\d{1,12}$/.test(timestamp) || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return { ok: false, reason: 'malformed' };
    const ageSeconds = clock.now() / 1000 - Number(timestamp);
    if (ageSeconds > maxAgeSeconds || ageSeconds < -MAX_FUTURE_SECONDS) return { ok: false, reason: 'stale' };
    let valid = false;
    try {
      valid = verify('sha256', Buffer.concat([Buffer.from(timestamp, 'utf8'), rawBody]), key, Buffer.from(signature, 'base64'));
    } catch {
      valid = false;
    }
    return valid ? { ok: true } : { ok: false, reason: 'bad-signature' };
  };
}
