import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APP_ROOT } from '../../domain/app-root.js';
import { loadCampaigns } from '../../domain/campaign.js';
import { killAllChildren } from './child-process.js';
import { progress, type BenchContext, type Row } from './context.js';
import { startFakeProvider } from './fake-provider.js';
import { startBenchRedis } from './private-redis.js';
import { machine, table, writeResults } from './report.js';
import { dashboardScenario } from './scenario-dashboard.js';
import { drainScenario, scaleScenario } from './scenario-drain.js';
import { memoryScenario } from './scenario-memory.js';
import { pageScenario } from './scenario-page.js';
import { submitScenario } from './scenario-submit.js';

// npm run bench [-- [--quick] [--keep-logs] [page] [submit] [drain] [scale] [memory] [dashboard]]
// Starts its own redis-server (free port, temp dir), a fake SendGrid API and the real program as
// child processes, runs each scenario next to its bare baseline, prints one table, and (a full run
// of every scenario only) writes it into docs/BENCHMARKS.md. BENCH_CPU_PROF=<dir> profiles every child.

const SCENARIOS = ['page', 'submit', 'drain', 'scale', 'memory', 'dashboard'] as const;
type Scenario = (typeof SCENARIOS)[number];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const keepLogs = args.includes('--keep-logs');
const unknown = args.filter((a) => !a.startsWith('--') && !SCENARIOS.includes(a as Scenario));
if (unknown.length) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}\n`);
  process.exit(2);
}
const chosen = SCENARIOS.filter((s) => args.includes(s));
const run: readonly Scenario[] = chosen.length ? chosen : SCENARIOS;

const logDir = mkdtempSync(path.join(os.tmpdir(), 'appeal-bench-logs-'));
const redis = await startBenchRedis();
const fake = await startFakeProvider();
let cleaned = false;
const cleanup = async () => {
  if (cleaned) return;
  cleaned = true;
  killAllChildren();
  await fake.close();
  await redis.stop();
  if (!keepLogs) rmSync(logDir, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    progress(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });

const ctx: BenchContext = { redis, fake, logDir, quick, campaign: loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns')).list()[0]! };
const rows: Row[] = [];
const details: string[] = [];
const started = Date.now();
try {
  progress(`redis ${redis.version} at ${redis.url}; logs in ${logDir}; scenarios: ${run.join(', ')}${quick ? ' (quick)' : ''}`);
  for (const s of run) {
    if (s === 'page') rows.push(...(await pageScenario(ctx)));
    if (s === 'submit') rows.push(...(await submitScenario(ctx)));
    if (s === 'drain') rows.push(...(await drainScenario(ctx)));
    if (s === 'scale') rows.push(...(await scaleScenario(ctx)));
    if (s === 'memory') {
      const m = await memoryScenario(ctx);
      rows.push(...m.rows);
      details.push(...m.details);
    }
    if (s === 'dashboard') rows.push(...(await dashboardScenario(ctx)));
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  const out = [
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with \`${command}\` (${minutes} min).`,
    '',
    `Machine: ${machine(redis.version)}.`,
    '',
    table(rows),
    '',
    ...(details.length ? ['Redis memory by key family (MEMORY USAGE summed over the prefix):', '', ...details.map((d) => `- ${d}`), ''] : []),
  ].join('\n');
  process.stdout.write(`\n${out}\n`);
  if (!quick && run.length === SCENARIOS.length) {
    writeResults(path.join(APP_ROOT, 'docs', 'BENCHMARKS.md'), out);
    progress('results written to docs/BENCHMARKS.md');
  }
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
