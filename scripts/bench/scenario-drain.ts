import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startChild } from './child-process.js';
import { fmt, progress, type BenchContext, type Row } from './context.js';
import { drain } from './drain-run.js';

// Scenario 3: drain 20,000 queued deliveries with pacing off through the product's transport (the
// real SendGrid client) to the fake API with one worker process, next to a bare loop of sgMail.send
// sending the same message content as the product (its first request, kept by the fake);
// then the same drain with 1, 2 and 3 worker processes (scale-out, informative).

const CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 16);

export async function drainScenario(ctx: BenchContext): Promise<Row[]> {
  const letters = ctx.quick ? 1000 : 6667;
  progress(`drain: ${fmt(letters * 3)} deliveries, 1 worker (concurrency ${CONCURRENCY})`);
  const product = await drain(ctx, { prefix: 'bench-drain', letters, workers: 1, concurrency: CONCURRENCY });
  progress('drain: bare sgMail.send loop');
  const sample = ctx.fake.sample;
  if (!sample) throw new Error('drain: the fake provider kept no request of the product');
  const baseline = await bareSends(ctx, letters * 3, sample);
  const ratio = product.sendsPerSecond / baseline.sendsPerSecond;
  return [
    {
      scenario: `3. drain ${fmt(product.deliveries)} deliveries, pacing off, 1 worker process (concurrency ${CONCURRENCY})`,
      product: `${fmt(product.sendsPerSecond)} sends/s`,
      baseline: `${fmt(baseline.sendsPerSecond)} sends/s`,
      ratio: fmt(ratio, 2),
      target: '>= 0.70',
      pass: ratio >= 0.7,
    },
    {
      scenario: '3. worker process CPU per send (user + system)',
      product: `${fmt(product.cpuMsPerSend, 2)} ms`,
      baseline: `${fmt(baseline.cpuMsPerSend, 2)} ms in the bare loop`,
      ratio: '',
      target: '',
      pass: null,
    },
    {
      scenario: '3. Redis per send: commands (a script counts with the commands it calls), CPU',
      product: `${fmt(product.redisCommandsPerSend, 1)}, ${fmt(product.redisCpuMsPerSend, 2)} ms`,
      baseline: '(none in the bare loop)',
      ratio: '',
      target: '',
      pass: null,
    },
  ];
}

export async function scaleScenario(ctx: BenchContext): Promise<Row[]> {
  const letters = ctx.quick ? 500 : 3000;
  const rows: Row[] = [];
  let one = 0;
  for (const workers of [1, 2, 3]) {
    progress(`scale: ${fmt(letters * 3)} deliveries, ${workers} worker process(es)`);
    const r = await drain(ctx, { prefix: `bench-scale-${workers}`, letters, workers, concurrency: CONCURRENCY });
    if (workers === 1) one = r.sendsPerSecond;
    rows.push({
      scenario: `3b. drain ${fmt(r.deliveries)} deliveries with ${workers} worker process${workers > 1 ? 'es' : ''}`,
      product: `${fmt(r.sendsPerSecond)} sends/s`,
      baseline: workers === 1 ? '(the 1-process figure)' : `${fmt(one)} sends/s`,
      ratio: fmt(r.sendsPerSecond / one, 2),
      target: '',
      pass: null,
    });
  }
  return rows;
}

/** The bare loop's sends/s and CPU per send, run as a child process like the worker. */
async function bareSends(ctx: BenchContext, count: number, sample: string): Promise<{ sendsPerSecond: number; cpuMsPerSend: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'appeal-bench-send-'));
  const file = path.join(dir, 'result.json');
  const sampleFile = path.join(dir, 'sample.json');
  writeFileSync(sampleFile, sample);
  try {
    const child = startChild(
      'drain-bare',
      'scripts/bench/bare-send.ts',
      [ctx.fake.url, ctx.fake.apiKey, String(count), String(CONCURRENCY), sampleFile, file],
      {},
      ctx.logDir,
    );
    await new Promise((r) => child.child.once('exit', r));
    const { sends, seconds, cpuMs } = JSON.parse(readFileSync(file, 'utf8')) as { sends: number; seconds: number; cpuMs: number };
    return { sendsPerSecond: sends / seconds, cpuMsPerSend: cpuMs / sends };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
