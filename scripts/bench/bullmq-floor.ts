import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

// BullMQ's own cost per job, the floor under the drain's worker CPU: jobs shaped like the product's
// deliver jobs (ids-only payload, short id, removed on completion), run by a processor that does
// nothing, `concurrency` at a time. Prints a table of runs (rate and process CPU per job). Uses its own
// queue prefix on REDIS_URL (default the local Redis) and deletes it afterwards.
//   npx tsx scripts/bench/bullmq-floor.ts [jobs=20000] [concurrency=16] [runs=3]

const [jobs = 20_000, concurrency = 16, runs = 3] = process.argv.slice(2).map(Number);
const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const rows: string[] = [];

for (let run = 1; run <= runs; run++) {
  const prefix = `bullmq-floor-${process.pid}-${run}`;
  const queue = new Queue('deliveries', { connection, prefix });
  for (let i = 0; i < jobs; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => ({
      name: 'deliver',
      data: { l: `letter${i + j}`, t: 'gz-psb' },
      opts: { jobId: `letter${i + j}.0`, removeOnComplete: true },
    }));
    await queue.addBulk(batch);
  }
  let done = 0;
  const worker = new Worker('deliveries', async () => ({ sent: 'id' }), { connection, prefix, concurrency, autorun: false });
  const finished = new Promise<void>((resolve) => worker.on('completed', () => ++done === jobs && resolve()));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  void worker.run();
  await finished;
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  rows.push(`| ${run} | ${jobs} | ${concurrency} | ${Math.round(jobs / seconds)} | ${((cpu.user + cpu.system) / 1000 / jobs).toFixed(3)} |`);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
}
connection.disconnect();
console.log('| run | jobs | concurrency | jobs/s | process CPU per job (ms) |\n|---|---|---|---|---|');
console.log(rows.join('\n'));
