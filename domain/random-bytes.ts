import { randomFillSync } from 'node:crypto';

// Random bytes from the operating system's CSPRNG, drawn 4 KB at a time: a letter needs several small
// random values (its id, its status token, the form's one-time id, an encryption IV, a send's own id),
// and one call to the CSPRNG per value cost more than all the rest of making them (Node keeps such a
// cache for randomUUID too). Bytes handed out are zeroed in the pool, so no later caller can see them.

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `size` cryptographically secure random bytes (a new Buffer, at most 4096 bytes). Throws a RangeError for other sizes. */
export function secureRandomBytes(size: number): Buffer {
  if (!Number.isInteger(size) || size < 0 || size > POOL_BYTES) throw new RangeError(`secureRandomBytes: size ${size} is not between 0 and ${POOL_BYTES}`);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + size));
  pool.fill(0, offset, offset + size);
  offset += size;
  return out;
}
