import { describe, expect, it } from 'vitest';
import { secureRandomBytes } from '../../domain/random-bytes.js';

// Letter ids, status tokens and encryption IVs come from a pool of CSPRNG bytes: every value must be
// new, whole and unaffected by the values drawn after it.

describe('secure random bytes from the pool', () => {
  it('when 20,000 values are drawn across many refills of the pool, then every one is distinct, of its size, and none is zeroed', () => {
    const first = secureRandomBytes(12);
    const firstHex = first.toString('hex');
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const b = secureRandomBytes(i % 2 ? 12 : 24);
      expect(b.length).toBe(i % 2 ? 12 : 24);
      seen.add(b.toString('hex'));
    }
    expect(seen.size).toBe(20_000);
    expect([...seen].some((hex) => /^0+$/.test(hex))).toBe(false);
    // A value handed out is a copy: the pool zeroing and refilling its bytes leaves it alone.
    expect(first.toString('hex')).toBe(firstHex);
    expect(firstHex).not.toMatch(/^0+$/);
  });

  it('when values are drawn one after another, then no value shares bytes with the next (no overlapping slices of the pool)', () => {
    // Were slices to overlap by a byte, the last byte of each value would be the first of the next (1 in 256 by chance).
    let same = 0;
    let previous = secureRandomBytes(12);
    for (let i = 0; i < 2000; i++) {
      const next = secureRandomBytes(12);
      if (previous[previous.length - 1] === next[0]) same++;
      previous = next;
    }
    expect(same).toBeLessThan(40);
  });

  it('when a size outside 0 to 4096 bytes is asked for, then it throws instead of giving fewer bytes', () => {
    expect(() => secureRandomBytes(4097)).toThrow(RangeError);
    expect(() => secureRandomBytes(-1)).toThrow(RangeError);
    expect(() => secureRandomBytes(1.5)).toThrow(RangeError);
    expect(secureRandomBytes(4096)).toHaveLength(4096);
  });
});
