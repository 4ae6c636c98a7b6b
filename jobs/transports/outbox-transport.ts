import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../../domain/clock.js';
import type { OutgoingEmail } from '../../domain/letter-email.js';
import type { RedisKeys } from '../../domain/redis-keys.js';
import { SendError, type MailTransport } from './mail-transport.js';

// The development transport: keeps every message in a capped Redis list instead of sending it,
// so the whole flow can be tried without a mail account. Shown at /outbox outside production.

/** A message as the outbox keeps it. */
export interface OutboxMessage extends OutgoingEmail {
  messageId: string;
  at: number;
}

/** A transport that stores messages (newest first, at most `cap`). Rejects with a transient SendError if Redis fails. */
export function createOutboxTransport(redis: Redis, keys: RedisKeys, clock: Clock, cap = 1000): MailTransport {
  return {
    name: 'outbox',
    async send(email) {
      const message: OutboxMessage = { ...email, messageId: `outbox-${randomUUID()}`, at: clock.now() };
      try {
        await redis
          .multi()
          .lpush(keys.outbox(), JSON.stringify(message))
          .ltrim(keys.outbox(), 0, cap - 1)
          .exec();
      } catch (err) {
        throw new SendError('transient', `The outbox could not store the message (${(err as Error).message}).`);
      }
      return { messageId: message.messageId };
    },
  };
}

/** The newest `count` messages in the outbox. */
export async function readOutbox(redis: Redis, keys: RedisKeys, count = 50): Promise<OutboxMessage[]> {
  const rows = await redis.lrange(keys.outbox(), 0, count - 1);
  return rows.map((r) => JSON.parse(r) as OutboxMessage);
}
