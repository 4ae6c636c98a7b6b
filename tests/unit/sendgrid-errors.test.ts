import { describe, expect, it } from 'vitest';
import { classifySendGridError } from '../../jobs/transports/sendgrid-transport.js';

const responseError = (code: number, headers: Record<string, string> = {}, errors = [{ message: 'bad thing', field: 'from' }]) => ({
  code,
  message: 'Error',
  response: { headers, body: { errors } },
});

describe('classifying what SendGrid answers', () => {
  it('when it answers 400, 403 or 413, then the failure is permanent and says why', () => {
    for (const code of [400, 403, 413]) {
      const e = classifySendGridError(responseError(code));
      expect(e.kind).toBe('permanent');
      expect(e.reason).toBe(`The mail provider refused the letter (${code}): from bad thing.`);
    }
  });

  it('when it answers 5xx or the network fails, then the failure is transient', () => {
    expect(classifySendGridError(responseError(503)).kind).toBe('transient');
    const net = classifySendGridError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    expect(net.kind).toBe('transient');
    expect(net.reason).toContain('ECONNRESET');
  });

  it('when it answers 429 with a reset time, then the wait until that time is kept', () => {
    const reset = Math.ceil(Date.now() / 1000) + 30;
    const e = classifySendGridError(responseError(429, { 'x-ratelimit-reset': String(reset) }));
    expect(e.kind).toBe('rate-limited');
    expect(e.retryAfterMs).toBeGreaterThan(25_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(31_000);
  });

  it('when it answers 401, then it is an account problem, not a bad letter', () => {
    expect(classifySendGridError(responseError(401)).kind).toBe('account');
  });
});
