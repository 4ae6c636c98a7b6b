import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.js';

describe('configuration', () => {
  it('when nothing is set, then it runs locally with the outbox and safe defaults', () => {
    const c = loadConfig({});
    expect(c.mail.transport).toBe('outbox');
    expect(c.port).toBe(3000);
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.delivery.ratePerSecond).toBe(10);
    expect(c.publicUrl).toBe('http://localhost:3000');
  });

  it('when a SendGrid key is set, then SendGrid is the transport, pointed at SENDGRID_API_URL', () => {
    const c = loadConfig({ SENDGRID_API_KEY: 'SG.x', SENDGRID_API_URL: 'http://127.0.0.1:9/' });
    expect(c.mail.transport).toBe('sendgrid');
    expect(c.mail.sendgrid?.apiUrl).toBe('http://127.0.0.1:9/');
  });

  it('when a value is wrong, then the error names the variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT: must be a number/);
    expect(() => loadConfig({ REDIS_URL: 'localhost' })).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ MAIL_TRANSPORT: 'sendgrid' })).toThrow(/SENDGRID_API_KEY: is required/);
  });

  it('when TRUST_PROXY is a hop count, false, or a list of addresses and ranges, then Express gets it in its own form; anything else names the variable', () => {
    expect(loadConfig({}).trustProxy).toBe('loopback');
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8, fd00::/8, 203.0.113.7' }).trustProxy).toBe('loopback, 10.0.0.0/8, fd00::/8, 203.0.113.7');
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY: true would trust any client's X-Forwarded-For/);
    expect(() => loadConfig({ TRUST_PROXY: 'loopback, balancer.internal' })).toThrow(/TRUST_PROXY: "balancer.internal" is not an address/);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
  });

  it('when the job lock is not longer than a send may take, then start-up fails naming JOB_LOCK_MS (a send could be taken over while running)', () => {
    expect(() => loadConfig({ JOB_LOCK_MS: '15000' })).toThrow(/JOB_LOCK_MS: must be more than SEND_TIMEOUT_MS \(15000\)/);
    expect(() => loadConfig({ JOB_LOCK_MS: '4000', SEND_TIMEOUT_MS: '5000' })).toThrow(/JOB_LOCK_MS/);
    expect(loadConfig({ JOB_LOCK_MS: '4000', SEND_TIMEOUT_MS: '3000' }).delivery.jobLockMs).toBe(4000);
  });

  it('when production lacks its secrets and addresses, then start-up fails naming each, without echoing secrets', () => {
    let err: unknown;
    try {
      loadConfig({ NODE_ENV: 'production', SEND_RATE_PER_SECOND: 'x', SENDGRID_API_KEY: 'SG.secret-value' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/MAIL_FROM/);
    expect(msg).toMatch(/PUBLIC_URL/);
    expect(msg).toMatch(/SEND_RATE_PER_SECOND/);
    expect(msg).toMatch(/SESSION_SECRET: is required in production/);
    expect(msg).not.toContain('SG.secret-value');
  });

  it('when production has no API key, then the outbox is refused rather than silently sending nothing', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', MAIL_FROM: 'a@example.org', PUBLIC_URL: 'https://x.example.org' })).toThrow(/MAIL_TRANSPORT: outbox/);
  });
});
