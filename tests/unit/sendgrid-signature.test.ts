import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../domain/clock.js';
import { isSendgridPublicKey, sendgridSignatureVerifier } from '../../server/sendgrid-signature.js';

// A key pair like the one SendGrid holds; the public half as its settings page shows it.
const pair = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicB64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
};
const sendgrid = pair();
const clock = manualClock();
const nowSeconds = () => String(Math.floor(clock.now() / 1000));
const body = Buffer.from('[{"event":"delivered","sg_event_id":"ev-1","timestamp":1767607200,"campaign":"c","letter":"l","target":"t"}]\r\n');

const signed = (privateKey: KeyObject, timestamp: string, raw: Buffer) =>
  sign('sha256', Buffer.concat([Buffer.from(timestamp), raw]), privateKey).toString('base64');
const verifier = () => sendgridSignatureVerifier(sendgrid.publicB64, { maxAgeSeconds: 600, clock });

describe('the SendGrid webhook signature', () => {
  it('when SendGrid signs the timestamp and the raw body, then the request is accepted', () => {
    const timestamp = nowSeconds();
    expect(verifier()({ signature: signed(sendgrid.privateKey, timestamp, body), timestamp }, body)).toEqual({ ok: true });
  });

  it('when the request is signed with another key, then it is refused', () => {
    const timestamp = nowSeconds();
    const forged = signed(pair().privateKey, timestamp, body);
    expect(verifier()({ signature: forged, timestamp }, body)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('when one byte of the body is changed after signing, then it is refused', () => {
    const timestamp = nowSeconds();
    const signature = signed(sendgrid.privateKey, timestamp, body);
    const tampered = Buffer.from(body.toString().replace('delivered', 'delivereD'));
    expect(verifier()({ signature, timestamp }, tampered)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('when the timestamp header is changed after signing, then it is refused', () => {
    const timestamp = nowSeconds();
    const signature = signed(sendgrid.privateKey, timestamp, body);
    expect(verifier()({ signature, timestamp: String(Number(timestamp) - 1) }, body)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('when a correctly signed request is older than the maximum age or too far ahead, then it is refused as stale', () => {
    const old = String(Number(nowSeconds()) - 601);
    expect(verifier()({ signature: signed(sendgrid.privateKey, old, body), timestamp: old }, body)).toEqual({ ok: false, reason: 'stale' });
    const future = String(Number(nowSeconds()) + 61);
    expect(verifier()({ signature: signed(sendgrid.privateKey, future, body), timestamp: future }, body)).toEqual({ ok: false, reason: 'stale' });
    const justInTime = String(Number(nowSeconds()) - 599);
    expect(verifier()({ signature: signed(sendgrid.privateKey, justInTime, body), timestamp: justInTime }, body)).toEqual({ ok: true });
  });

  it('when the signature or timestamp header is missing or not what SendGrid sends, then it is refused', () => {
    const timestamp = nowSeconds();
    const signature = signed(sendgrid.privateKey, timestamp, body);
    expect(verifier()({ timestamp }, body)).toEqual({ ok: false, reason: 'missing' });
    expect(verifier()({ signature }, body)).toEqual({ ok: false, reason: 'missing' });
    expect(verifier()({ signature: 'not base64!', timestamp }, body)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifier()({ signature, timestamp: `${timestamp}.5` }, body)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifier()({ signature: Buffer.from('garbage').toString('base64'), timestamp }, body)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('when the configured key is not a P-256 public key, then it is refused before any request', () => {
    expect(isSendgridPublicKey(sendgrid.publicB64)).toBe(true);
    expect(isSendgridPublicKey('bm90IGEga2V5')).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    expect(isSendgridPublicKey(rsa)).toBe(false);
    expect(() => sendgridSignatureVerifier('bm90IGEga2V5')).toThrow();
  });
});
