import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../../domain/redis-keys.js';

// Dashboard sessions in Redis: a random id in an httpOnly cookie, stored only as its hash, with a
// sliding expiry. A new id is made at every login, so a session id planted before login is useless.

export const ADMIN_COOKIE = 'al_admin';

/** Creates, checks and ends dashboard sessions. Every method fails only when Redis does. */
export class AdminSessions {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** A new session; returns the id for the cookie. */
  async create(): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.redis.set(this.key(id), JSON.stringify({ at: Date.now() }), 'EX', this.ttlSeconds);
    return id;
  }

  /** True when `id` is a live session; its expiry is extended unless `extend` is false (a page refreshing itself is not use). */
  async touch(id: string | undefined, extend = true): Promise<boolean> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return false;
    if (!extend) return (await this.redis.exists(this.key(id))) === 1;
    return (await this.redis.expire(this.key(id), this.ttlSeconds)) === 1;
  }

  /** Ends a session. */
  async destroy(id: string | undefined): Promise<void> {
    if (id) await this.redis.del(this.key(id));
  }

  private key(id: string): string {
    return this.keys.adminSession(createHash('sha256').update(id).digest('hex'));
  }
}
