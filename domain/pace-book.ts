import type { Redis } from 'ioredis';
import type { Clock } from './clock.js';
import { EMPTY_PACE_STATE, nextSlot, type PaceRule, type PaceState } from './pacing.js';
import type { RedisKeys } from './redis-keys.js';

// The book of send slots: each recipient's line of letters, kept in Redis so every web and worker
// process shares it. A slot is computed from the recipient's rule (pacing.ts) and written with a
// compare-and-set, so two processes never hand out the same slot; within one process reservations
// for a recipient are served in order, in batches, so the compare-and-set rarely has to retry.

// KEYS: 1 pace hash. ARGV: 1 expected last ('' for none), 2 new last, 3 new day, 4 new day count.
const CAS_LUA = `
local cur = redis.call('HGET', KEYS[1], 'last') or ''
if cur ~= ARGV[1] then
  return redis.call('HMGET', KEYS[1], 'last', 'day', 'count')
end
redis.call('HSET', KEYS[1], 'last', ARGV[2], 'day', ARGV[3], 'count', ARGV[4])
return 'OK'
`;

type CasCommand = (key: string, expected: string, last: number, day: string, count: number) => Promise<'OK' | (string | null)[]>;

/** One reservation waiting for its recipient's next batch. */
interface Waiting {
  rule: PaceRule;
  resolve(slot: number): void;
  reject(err: unknown): void;
}

/**
 * Reserves send slots. Rejects only when Redis does (or, in theory, after 50 lost races in a row).
 * Reservations for one recipient that arrive while its line is busy are taken together: their slots
 * are computed one after the other and written with one compare-and-set, so a burst of letters to
 * the same officials costs one Redis round trip per batch, not one per letter.
 */
export class PaceBook {
  private readonly cas: CasCommand;
  private readonly known = new Map<string, PaceState>();
  private readonly waiting = new Map<string, Waiting[]>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {
    const name = 'appealLettersPaceCas';
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua: CAS_LUA });
    this.cas = (redis as unknown as Record<string, CasCommand>)[name]!.bind(redis);
  }

  /** The next slot in the recipient's line (ms since the epoch), reserved for one letter. */
  reserve(campaign: string, targetId: string, rule: PaceRule): Promise<number> {
    const key = this.keys.pace(campaign, targetId);
    return new Promise<number>((resolve, reject) => {
      const line = this.waiting.get(key);
      if (line) {
        line.push({ rule, resolve, reject });
        return;
      }
      this.waiting.set(key, [{ rule, resolve, reject }]);
      void this.drain(key);
    });
  }

  /** The last slot handed out for the recipient: when its last waiting letter goes, or null if none was ever reserved. */
  async lastSlot(campaign: string, targetId: string): Promise<number | null> {
    const last = await this.redis.hget(this.keys.pace(campaign, targetId), 'last');
    return last ? Number(last) : null;
  }

  /** Serves the recipient's line in batches until it is empty; each batch settles only its own callers. */
  private async drain(key: string): Promise<void> {
    for (;;) {
      const batch = this.waiting.get(key)!.splice(0);
      if (batch.length === 0) {
        this.waiting.delete(key);
        return;
      }
      try {
        const slots = await this.reserveNow(key, batch);
        batch.forEach((w, i) => w.resolve(slots[i]!));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
  }

  private async reserveNow(key: string, batch: Waiting[]): Promise<number[]> {
    let state = this.known.get(key) ?? (await this.read(key));
    for (let attempt = 0; attempt < 50; attempt++) {
      const now = this.clock.now();
      const slots: number[] = [];
      let after = state;
      for (const w of batch) {
        const next = nextSlot(w.rule, after, now, this.random);
        slots.push(next.slot);
        after = next.state;
      }
      const result = await this.cas(key, state.last === null ? '' : String(state.last), after.last!, after.day!, after.dayCount);
      if (result === 'OK') {
        this.known.set(key, after);
        return slots;
      }
      state = parseState(result);
      this.known.set(key, state);
    }
    throw new Error('could not reserve a send slot: too much contention');
  }

  private async read(key: string): Promise<PaceState> {
    return parseState(await this.redis.hmget(key, 'last', 'day', 'count'));
  }
}

function parseState([last, day, count]: (string | null)[]): PaceState {
  if (!last) return EMPTY_PACE_STATE;
  return { last: Number(last), day: day ?? null, dayCount: Number(count ?? 0) };
}
