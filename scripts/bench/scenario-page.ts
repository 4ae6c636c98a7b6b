import { answers200, startChild } from './child-process.js';
import { startWeb } from './app-process.js';
import { fmt, progress, type BenchContext, type Row } from './context.js';
import { freePort } from '../../tests/support/private-redis.js';
import { load, pair, type LoadResult } from './load.js';

// Scenario 1: GET the campaign page at 50 connections, next to a bare express + ejs page of the same
// size, in alternating rounds (medians of the rounds, the worst p99).

export async function pageScenario(ctx: BenchContext): Promise<Row[]> {
  const seconds = ctx.quick ? 3 : 5;
  const roundCount = ctx.quick ? 1 : 3;
  const web = await startWeb('page-web', { redisUrl: ctx.redis.url, prefix: 'bench-page', fake: ctx.fake, logDir: ctx.logDir });
  const url = `${web.base}/c/${ctx.campaign.slug}`;
  const bytes = Buffer.byteLength(await (await fetch(url)).text());
  const port = await freePort();
  const bare = startChild('page-bare', 'scripts/bench/bare-page.ts', [String(port), String(bytes)], {}, ctx.logDir);
  const bareUrl = `http://127.0.0.1:${port}/`;
  try {
    await bare.waitFor(() => answers200(`${bareUrl}healthz`));
    const bareBytes = Buffer.byteLength(await (await fetch(bareUrl)).text());
    progress(`page: ${fmt(bytes)} bytes (bare page ${fmt(bareBytes)}); warming up`);
    await load({ url, duration: 2, expect: 200 });
    await load({ url: bareUrl, duration: 2, expect: 200 });
    // Product and baseline in turn, so a burst of other work on the machine hits both alike.
    progress(`page: ${roundCount} rounds of ${seconds} s each`);
    const rounds: [LoadResult, LoadResult][] = [];
    for (let i = 0; i < roundCount; i++)
      rounds.push([await load({ url, duration: seconds, expect: 200 }), await load({ url: bareUrl, duration: seconds, expect: 200 })]);
    const { product, baseline, ratio } = pair(rounds);
    return [
      {
        scenario: `1. GET campaign page (${fmt(bytes / 1024, 1)} KB HTML), 50 connections, ${roundCount} x ${seconds} s`,
        product: `${fmt(product.rps)} req/s (${product.errors} errors)`,
        baseline: `${fmt(baseline.rps)} req/s (${baseline.errors} errors)`,
        ratio: fmt(ratio, 2),
        target: '>= 0.70',
        pass: ratio >= 0.7 && product.errors === 0,
      },
      {
        scenario: '1. page latency p50 / p99',
        product: `${product.p50} / ${product.p99} ms`,
        baseline: `${baseline.p50} / ${baseline.p99} ms`,
        ratio: '',
        target: 'p99 < 50 ms',
        pass: product.p99 < 50,
      },
    ];
  } finally {
    await bare.stop();
    await web.child.stop();
  }
}
