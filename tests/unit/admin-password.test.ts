import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../domain/admin-password.js';

describe('the dashboard password', () => {
  it('when a hash is made, then only the same password matches it', async () => {
    const hash = await hashPassword('correct horse battery staple');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse battery staple', { passwordHash: hash })).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', { passwordHash: hash })).toBe(false);
    expect(await verifyPassword('', { passwordHash: hash })).toBe(false);
  });

  it('when the same password is hashed twice, then the hashes differ (salted)', async () => {
    expect(await hashPassword('same password twice')).not.toBe(await hashPassword('same password twice'));
  });

  it('when a plain password is configured, then it is compared whole, whatever the lengths', async () => {
    expect(await verifyPassword('open sesame please', { password: 'open sesame please' })).toBe(true);
    expect(await verifyPassword('open sesame', { password: 'open sesame please' })).toBe(false);
    expect(await verifyPassword('open sesame please!', { password: 'open sesame please' })).toBe(false);
    expect(await verifyPassword('anything', {})).toBe(false);
  });
});
