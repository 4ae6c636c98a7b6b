import type { Redis } from 'ioredis';

// What a key prefix costs in Redis: the sum of MEMORY USAGE over its keys, by kind of key.

/** Bytes under `{prefix}` in all, and by key family (the name with ids replaced). */
export async function footprint(redis: Redis, prefix: string): Promise<{ total: number; byFamily: Map<string, { keys: number; bytes: number }> }> {
  const byFamily = new Map<string, { keys: number; bytes: number }>();
  let total = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 2000);
    cursor = next;
    if (!found.length) continue;
    const pipeline = redis.pipeline();
    for (const k of found) pipeline.memory('USAGE', k, 'SAMPLES', '0');
    const sizes = (await pipeline.exec())!.map(([, v]) => Number(v ?? 0));
    found.forEach((k, i) => {
      const family = k
        .slice(prefix.length + 3)
        .replace(/[0-9a-f]{24,}/g, '<id>')
        .replace(/:[A-Za-z0-9_-]{40,}$/, ':<hash>')
        .replace(/:\d+$/, ':<n>');
      const f = byFamily.get(family) ?? { keys: 0, bytes: 0 };
      f.keys += 1;
      f.bytes += sizes[i]!;
      byFamily.set(family, f);
      total += sizes[i]!;
    });
  } while (cursor !== '0');
  return { total, byFamily };
}

/** The families that make up most of `total`, largest first, as "name xN: bytes". */
export function describeFamilies(byFamily: Map<string, { keys: number; bytes: number }>, top = 6): string {
  return [...byFamily.entries()]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, top)
    .map(([name, f]) => `${name} x${f.keys}: ${(f.bytes / 1024).toFixed(0)} KB`)
    .join('; ');
}
