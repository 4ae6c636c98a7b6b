import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/harness.js';

// The campaign page is small and fast for people on phones and slow connections.

let h: Harness;
beforeAll(() => {
  h = createHarness('page-weight');
});
afterAll(() => h.close());

describe('the campaign page', () => {
  it('when it loads, then HTML, CSS and JS together weigh under 60 KB and nothing comes from another site', async () => {
    const page = await request(h.app).get('/').expect(200);
    const assets = [...page.text.matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    let total = Buffer.byteLength(page.text);
    for (const a of assets)
      total += Buffer.byteLength(
        (
          await request(h.app)
            .get(a)
            .buffer(true)
            .parse((res, cb) => {
              let data = '';
              res.on('data', (c: Buffer) => (data += c.toString()));
              res.on('end', () => cb(null, data));
            })
            .expect(200)
        ).body as string,
      );
    expect(total).toBeLessThan(60_000);
    expect(page.text).not.toMatch(/(?:href|src)="https?:\/\//);
  });

  it('when its assets are fetched, then they carry content hashes and a year-long immutable cache, and text is compressed', async () => {
    const page = await request(h.app).get('/').set('Accept-Encoding', 'gzip').expect(200);
    expect(page.headers['content-encoding']).toBe('gzip');
    const css = /href="(\/static\/styles\.[0-9a-f]{10}\.css)"/.exec(page.text)![1]!;
    const res = await request(h.app).get(css).expect(200);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // A name with the wrong hash is not given the long cache.
    const stale = await request(h.app).get(css.replace(/\.[0-9a-f]{10}\./, '.0000000000.'));
    expect(stale.headers['cache-control'] ?? '').not.toContain('immutable');
  });
});
