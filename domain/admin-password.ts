import { randomBytes, scrypt, timingSafeEqual, createHash, type ScryptOptions } from 'node:crypto';

// The campaigner dashboard's password: either given as is (ADMIN_PASSWORD) or as a scrypt hash
// (ADMIN_PASSWORD_HASH, made by `npm run cli -- hash-password`). Compared in constant time.

const N = 32768;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r, p, maxmem: 128 * n * r * 2 };
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A new hash of `password`: "scrypt$N$r$p$salt$hash" (base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True when `attempt` is the configured password; never throws on a malformed attempt. */
export async function verifyPassword(attempt: string, configured: { password?: string; passwordHash?: string }): Promise<boolean> {
  if (configured.passwordHash) {
    const [, n, r, p, salt, hash] = configured.passwordHash.split('$');
    const expected = Buffer.from(hash ?? '', 'base64');
    const actual = await scryptAsync(attempt, Buffer.from(salt ?? '', 'base64'), Number(n), Number(r), Number(p));
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  if (configured.password) {
    // Hash both sides first so the comparison takes the same time whatever the lengths.
    const a = createHash('sha256').update(attempt).digest();
    const b = createHash('sha256').update(configured.password).digest();
    return timingSafeEqual(a, b);
  }
  return false;
}
