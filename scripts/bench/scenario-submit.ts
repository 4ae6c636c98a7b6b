import { Redis } from 'ioredis';
import { redisKeys } from '../../domain/redis-keys.js';
import { formEncode, validForm } from '../../tests/support/forms.js';
import { answers200, startChild } from './child-process.js';
import { startWeb } from './app-process.js';
import { fmt, progress, type BenchContext, type Row } from './context.js';
import { freePort } from '../../tests/support/private-redis.js';
import { fetchForms, letterText, type ReadyForm } from './letter-forms.js';
import { load, pair, type LoadResult } from './load.js';
import { callsBetween, commandCalls, redisCpuMs } from './redis-commands.js';

// Scenario 2: POST genuine letters to 3 recipients (each its own page's CSRF cookie, token and
// one-time id; a distinct supporter) at 50 connections, next to a bare express + zod + one BullMQ
// add, in alternating rounds (medians of the rounds, the worst p99).

export const SUBMIT_RECIPIENTS = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];
const BODY_BYTES = 2048;

export async function submitScenario(ctx: BenchContext): Promise<Row[]> {
  const letters = ctx.quick ? 1500 : 6000;
  const prefix = 'bench-submit';
  const web = await startWeb('submit-web', { redisUrl: ctx.redis.url, prefix, fake: ctx.fake, logDir: ctx.logDir });
  const port = await freePort();
  const bare = startChild('submit-bare', 'scripts/bench/bare-submit.ts', [String(port)], { REDIS_URL: ctx.redis.url }, ctx.logDir);
  const url = `${web.base}/c/${ctx.campaign.slug}/letters`;
  const bareUrl = `http://127.0.0.1:${port}/letters`;
  try {
    await bare.waitFor(() => answers200(`http://127.0.0.1:${port}/healthz`));
    progress(`submit: fetching ${fmt(letters + 500)} forms`);
    const forms = await fetchForms(web.base, ctx.campaign, letters + 500, SUBMIT_RECIPIENTS, BODY_BYTES);
    await post(url, forms.slice(0, 500));
    const bareBody = formEncode(validForm({ recipients: SUBMIT_RECIPIENTS, body: letterText(ctx.campaign, BODY_BYTES, 0) }));
    const bareOpts = { url: bareUrl, method: 'POST' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: bareBody, expect: 303 };
    await load({ ...bareOpts, duration: 2 });
    // The letters in rounds, each followed by a baseline run, so a burst of other work hits both alike.
    const roundCount = ctx.quick ? 1 : 3;
    const per = Math.ceil(letters / roundCount);
    progress(`submit: posting ${fmt(letters)} letters in ${roundCount} rounds`);
    const rounds: [LoadResult, LoadResult][] = [];
    // CPU time of the two servers per request: a figure that holds even when other work shares the cores.
    const cpu = { web: 0, letters: 0, bare: 0, bareRequests: 0, redis: 0, commands: 0 };
    const stats = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
    for (let i = 0; i < roundCount; i++) {
      const chunk = forms.slice(500 + i * per, 500 + Math.min(letters, (i + 1) * per));
      const web0 = web.child.cpuMs();
      const [calls0, redis0] = [await commandCalls(stats), await redisCpuMs(stats)];
      const product = await post(url, chunk);
      cpu.web += web.child.cpuMs() - web0;
      cpu.redis += (await redisCpuMs(stats)) - redis0;
      const calls = callsBetween(calls0, await commandCalls(stats));
      cpu.commands += calls.reduce((sum, [, n]) => sum + n, 0);
      if (i === 0) progress(`submit: Redis commands per letter: ${calls.map(([name, n]) => `${name} ${fmt(n / chunk.length, 2)}`).join(', ')}`);
      cpu.letters += chunk.length;
      const bare0 = bare.cpuMs();
      const baseline = await load({ ...bareOpts, duration: ctx.quick ? 3 : 4 });
      cpu.bare += bare.cpuMs() - bare0;
      cpu.bareRequests += baseline.requests;
      rounds.push([product, baseline]);
    }
    const count = Number(await stats.hget(redisKeys(prefix).counts(ctx.campaign.slug), 'letters'));
    stats.disconnect();
    if (count !== letters + 500) throw new Error(`submit: ${count} letters stored, expected ${letters + 500}`);
    const { product, baseline, ratio } = pair(rounds);
    return [
      {
        scenario: `2. POST a letter to 3 recipients (2 KB text), 50 connections, ${fmt(letters)} letters`,
        product: `${fmt(product.rps)} letters/s (${product.errors} errors)`,
        baseline: `${fmt(baseline.rps)} req/s (${baseline.errors} errors)`,
        ratio: fmt(ratio, 2),
        target: '>= 0.30',
        pass: ratio >= 0.3 && product.errors === 0,
      },
      {
        scenario: '2. web process CPU per letter (user + system)',
        product: `${fmt(cpu.web / cpu.letters, 2)} ms`,
        baseline: `${fmt(cpu.bare / Math.max(1, cpu.bareRequests), 2)} ms per bare submit`,
        ratio: '',
        target: '',
        pass: null,
      },
      {
        scenario: '2. Redis per letter: commands (a script counts with the commands it calls), CPU',
        product: `${fmt(cpu.commands / cpu.letters, 1)}, ${fmt(cpu.redis / cpu.letters, 2)} ms`,
        baseline: '',
        ratio: '',
        target: '',
        pass: null,
      },
      {
        scenario: '2. submit latency p50 / p99',
        product: `${product.p50} / ${product.p99} ms`,
        baseline: `${baseline.p50} / ${baseline.p99} ms`,
        ratio: '',
        target: 'p99 < 100 ms',
        pass: product.p99 < 100,
      },
    ];
  } finally {
    await bare.stop();
    await web.child.stop();
  }
}

/** Posts each form once (its own cookie), 50 at a time; a 303 is an accepted letter. */
function post(url: string, forms: ReadyForm[]) {
  let i = 0;
  return load({
    url,
    amount: forms.length,
    expect: 303,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const form = forms[i++ % forms.length]!;
          return { ...req, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie }, body: form.body };
        },
      },
    ],
  });
}
