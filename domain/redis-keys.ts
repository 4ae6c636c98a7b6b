// Every Redis key the application writes, in one place. All keys share one hash tag ({prefix}),
// so the Lua scripts and MULTI blocks that touch several of them also run on a Redis Cluster.

/** The key names for one deployment (or one test), derived from its prefix. */
export interface RedisKeys {
  /** The BullMQ prefix, carrying the same hash tag. */
  readonly bullPrefix: string;
  /** Hash: one letter and the delivery record of each of its recipients. */
  letter(letterId: string): string;
  /** String: the letter id a status-link token (by its hash) opens. */
  token(tokenHash: string): string;
  /** Hash: a campaign's counters (letters, deliveries, per state, per target and state). */
  counts(campaign: string): string;
  /** Stream: a campaign's capped, append-only log of every delivery transition. */
  events(campaign: string): string;
  /** List: messages kept by the outbox transport (development only). */
  outbox(): string;
}

/** Builds the key names under `prefix` (letters, digits, dashes). */
export function redisKeys(prefix: string): RedisKeys {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(prefix)) throw new Error(`invalid Redis key prefix: ${prefix}`);
  const p = `{${prefix}}`;
  return {
    bullPrefix: `${p}:bull`,
    letter: (id) => `${p}:letter:${id}`,
    token: (hash) => `${p}:token:${hash}`,
    counts: (campaign) => `${p}:campaign:${campaign}:counts`,
    events: (campaign) => `${p}:campaign:${campaign}:events`,
    outbox: () => `${p}:outbox`,
  };
}
