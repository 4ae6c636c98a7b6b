import type { Redis } from 'ioredis';

// What a key prefix costs in Redis: MEMORY USAGE summed over its keys, by kind of key, telling apart
// what grows with the letters from the capped streams (a fixed cost per deployment) and from keys that
// expire on their own.

/** One family of keys (the name with ids replaced). */
export interface Family {
  keys: number;
  bytes: number;
  /** A Redis Stream (the product caps them: BullMQ's events, the campaign's transition log). */
  stream: boolean;
  /** The longest time to live among its keys in ms (-1: some key never expires). */
  maxTtlMs: number;
}

/** Bytes under `{prefix}` by family. */
export async function footprint(redis: Redis, prefix: string): Promise<Map<string, Family>> {
  const byFamily = new Map<string, Family>();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 2000);
    cursor = next;
    if (!found.length) continue;
    const pipeline = redis.pipeline();
    for (const k of found) pipeline.memory('USAGE', k, 'SAMPLES', '0').type(k).pttl(k);
    const answers = (await pipeline.exec())!.map(([, v]) => v);
    found.forEach((k, i) => {
      const [bytes, type, ttl] = [Number(answers[i * 3] ?? 0), String(answers[i * 3 + 1]), Number(answers[i * 3 + 2])];
      const name = k
        .slice(prefix.length + 3)
        .replace(/[0-9a-f]{24,}/g, '<id>')
        // Base64url ids (letters, job ids, provider event ids): 16 or more characters with a capital, digit or underscore.
        .replace(/(?<=[:.])(?=[A-Za-z0-9_-]*[A-Z0-9_])[A-Za-z0-9_-]{16,}(?=$|[.:])/g, '<id>')
        .replace(/:[A-Za-z0-9_-]{40,}$/, ':<hash>');
      const f = byFamily.get(name) ?? { keys: 0, bytes: 0, stream: type === 'stream', maxTtlMs: 0 };
      f.keys += 1;
      f.bytes += bytes;
      f.maxTtlMs = f.maxTtlMs === -1 || ttl === -1 ? -1 : Math.max(f.maxTtlMs, ttl);
      byFamily.set(name, f);
    });
  } while (cursor !== '0');
  return byFamily;
}

/** Bytes of the families that `keep` selects. */
export function sum(byFamily: Map<string, Family>, keep: (f: Family) => boolean = () => true): number {
  let total = 0;
  for (const f of byFamily.values()) if (keep(f)) total += f.bytes;
  return total;
}

/** The largest families, as "name xN: KB (stream | expires in ...)". */
export function describeFamilies(byFamily: Map<string, Family>, top = 12): string {
  return [...byFamily.entries()]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, top)
    .map(([name, f]) => {
      const kind = f.stream ? ', capped stream' : f.maxTtlMs > 0 ? `, expires within ${Math.ceil(f.maxTtlMs / 3_600_000)} h` : '';
      return `${name} x${f.keys}: ${(f.bytes / 1024).toFixed(0)} KB${kind}`;
    })
    .join('; ');
}
