import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Campaign } from '../../domain/campaign.js';
import { initialDeliveryJson } from '../../domain/delivery-log.js';
import { newLetterId } from '../../domain/ids.js';
import type { RedisKeys } from '../../domain/redis-keys.js';

// Many delivery records fast, for the dashboard and export at scale: pipelined writes, not through
// HTTP, of the letter hash in its older layout (separate fields and the plain text in "bo", which
// the product still reads; LetterStore.create now packs the fields into "w" and compresses the text),
// with one "d:<target>" record per recipient as the delivery log leaves it, the campaign's letter
// index, and the counters the dashboard reads. The export reads neither form of the text.

const COUNTRIES = ['FR', 'GB', 'US', 'DE', 'NL', 'CA', 'AU', 'TW'];
const DAY = 86_400_000;

/** A stored delivery record in a realistic mix of states; returns the JSON and its state. */
export function deliveryRecord(at: number, i: number): { json: string; state: string } {
  const d = JSON.parse(initialDeliveryJson(at, { state: 'queued' })) as Record<string, unknown> & { h: [string, number][] };
  const roll = i % 20;
  if (roll < 15) {
    const state = roll < 3 ? 'delivered' : 'sent';
    Object.assign(d, { s: state, a: 1, m: `sg-${randomBytes(11).toString('base64url')}`, t: at + 60_000 });
    d.h.push(['sending', at + 59_000], ['sent', at + 60_000]);
    if (state === 'delivered') d.h.push(['delivered', at + 61_000]);
  } else if (roll < 16) {
    Object.assign(d, { s: 'failed', a: 3, e: 'The recipient\'s server refused the address, "550 mailbox unavailable"', t: at + 3_600_000 });
    d.h.push(['sending', at + 1000], ['retrying', at + 2000], ['sending', at + 60_000], ['failed', at + 3_600_000]);
  } else if (roll < 18) {
    Object.assign(d, { s: 'waiting', d: at + 7 * DAY });
  }
  return { json: JSON.stringify(d), state: d.s as string };
}

/** Adds `rows` delivery records (letters of `recipients.length`, spread over the last 30 days) and their counters. */
export async function seedRecords(redis: Redis, keys: RedisKeys, campaign: Campaign, recipients: string[], rows: number, firstIndex = 0): Promise<void> {
  const letters = Math.ceil(rows / recipients.length);
  const now = Date.now();
  const start = now - 30 * DAY;
  const counts = new Map<string, number>();
  const stats = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);
  let written = 0;
  for (let first = 0; first < letters; first += 1000) {
    const pipeline = redis.pipeline();
    for (let n = first; n < Math.min(first + 1000, letters); n++) {
      const at = start + Math.floor(((n + firstIndex) * 7919) % (30 * DAY));
      const these = recipients.slice(0, Math.min(recipients.length, rows - written));
      const id = newLetterId();
      const country = COUNTRIES[n % COUNTRIES.length]!;
      const fields: Record<string, string> = {
        c: campaign.slug,
        fn: `Ana${n}`,
        ln: 'Lima, de Souza',
        em: `supporter${firstIndex + n}@example.net`,
        co: country,
        su: campaign.letter.subject,
        bo: campaign.letterBody,
        at: String(at),
        r: these.join(','),
        th: randomBytes(16).toString('hex'),
      };
      these.forEach((t, k) => {
        const { json, state } = deliveryRecord(at, n * 3 + k);
        fields[`d:${t}`] = json;
        add(counts, `s:${state}`);
        add(counts, `t:${t}:${state}`);
        add(stats, `d${Math.floor(at / DAY)}:${state}`);
      });
      add(counts, 'letters');
      add(counts, 'deliveries', these.length);
      add(counts, `c:${country}`);
      add(stats, `h${Math.floor(at / 3_600_000)}:written`);
      add(stats, `d${Math.floor(at / DAY)}:written`);
      pipeline.hset(keys.letter(id), fields).zadd(keys.letterIndex(campaign.slug), at, id);
      written += these.length;
    }
    await pipeline.exec();
  }
  const pipeline = redis.pipeline();
  for (const [k, v] of counts) pipeline.hincrby(keys.counts(campaign.slug), k, v);
  for (const [k, v] of stats) pipeline.hincrby(keys.stats(campaign.slug), k, v);
  pipeline.hsetnx(keys.stats(campaign.slug), 'firstDay', String(Math.floor(start / DAY)));
  await pipeline.exec();
}
