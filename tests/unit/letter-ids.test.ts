import { describe, expect, it } from 'vitest';
import { isLetterId, isStatusTokenShape, letterOfToken, newLetterId, newLetterToken } from '../../domain/ids.js';
import { deliveryJobId, deliveryJobIds, retryDelayMs } from '../../jobs/delivery-queue.js';
import { seededRandom } from '../support/seeded-random.js';

// Letter ids, the status tokens that name their letter, delivery job ids and the retry backoff.

describe('letter ids and status tokens', () => {
  it('when letters are made, then their ids are short, distinct, never start with a dash, and ids of the older form are still accepted', () => {
    const ids = Array.from({ length: 2000 }, newLetterId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{15}$/);
    expect(ids.every(isLetterId)).toBe(true);
    expect(isLetterId('0123456789abcdef0123456789abcdef')).toBe(true);
    expect(isLetterId('not-a-letter-id')).toBe(false);
  });

  it('when a status token is made for a letter, then it names that letter and has a valid shape; an older token names none', () => {
    const id = newLetterId();
    const token = newLetterToken(id);
    expect(token).toHaveLength(48);
    expect(isStatusTokenShape(token)).toBe(true);
    expect(letterOfToken(token)).toBe(id);
    expect(newLetterToken(id)).not.toBe(token);
    expect(letterOfToken('A'.repeat(32))).toBeUndefined();
    expect(() => newLetterToken('0123456789abcdef0123456789abcdef')).toThrow();
  });
});

describe('delivery job ids', () => {
  it('when a delivery has its place among the letter’s recipients, then its job id is short; lookups also try the id of the older form', () => {
    expect(deliveryJobId('AbCdEfGhIjKlMnOp', 'gz-procuratorate', 1)).toBe('AbCdEfGhIjKlMnOp.1');
    expect(deliveryJobId('AbCdEfGhIjKlMnOp', 'gz-procuratorate')).toBe('AbCdEfGhIjKlMnOp.gz-procuratorate');
    expect(deliveryJobIds('AbCdEfGhIjKlMnOp', ['gz-psb', 'gz-procuratorate'], 'gz-procuratorate')).toEqual([
      'AbCdEfGhIjKlMnOp.1',
      'AbCdEfGhIjKlMnOp.gz-procuratorate',
    ]);
  });
});

describe('the retry backoff', () => {
  it('when attempts fail one after another, then each wait is between half and all of a doubling backoff', () => {
    const random = seededRandom(7);
    const policy = { attempts: 8, backoffMs: 1000 };
    for (let attempt = 1; attempt <= 7; attempt++) {
      const max = 1000 * 2 ** (attempt - 1);
      for (let i = 0; i < 50; i++) {
        const wait = retryDelayMs(policy, attempt, random);
        expect(wait).toBeGreaterThanOrEqual(max / 2);
        expect(wait).toBeLessThanOrEqual(max);
      }
    }
    expect(retryDelayMs(policy, 1, () => 0)).toBe(500);
    expect(retryDelayMs(policy, 3, () => 0.999999)).toBe(3999);
  });
});
