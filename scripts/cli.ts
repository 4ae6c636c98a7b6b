import { Queue } from 'bullmq';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashPassword } from '../domain/admin-password.js';
import { mergeTargets, parseTargetsCsv, TARGET_CSV_COLUMNS } from '../domain/target-import.js';
import { CampaignFileError, loadCampaigns } from '../domain/campaign.js';
import { systemClock } from '../domain/clock.js';
import { DeliveryLog } from '../domain/delivery-log.js';
import { DeliveryPlanner } from '../domain/delivery-planner.js';
import { forecastCampaign } from '../domain/forecast.js';
import { PaceBook } from '../domain/pace-book.js';
import { redisKeys } from '../domain/redis-keys.js';
import { SendingControl } from '../domain/sending-control.js';
import { createQueueScheduler, DELIVERY_QUEUE, type QueueJobData } from '../jobs/delivery-queue.js';
import { Parking } from '../jobs/parking.js';
import { createSendingSwitches } from '../jobs/sending-switches.js';
import { createSupporterMailQueue } from '../jobs/supporter-mail.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { webRedis, whenReady } from '../server/redis-connections.js';

// The campaigner's command line: the kill switches and the forecast, on the same Redis as the tool.
//   npm run cli -- status | pause [reason] | resume | hold <campaign> <target> [reason] | release <campaign> <target> | forecast [campaign]

const USAGE = `usage: npm run cli -- <command>
  status                              whether sending is paused, which recipients are held
  pause [reason]                      pause all sending (letters are kept and go out at their pace on resume)
  resume                              resume sending (a worker then releases the held letters, in batches)
  hold <campaign> <target> [reason]   hold one recipient
  release <campaign> <target>         release one recipient (a worker then releases its held letters)
  forecast [campaign]                 letters waiting per recipient and when the last will be sent
  hash-password                       read a password on standard input, print ADMIN_PASSWORD_HASH for it
  import-targets <campaign> <file.csv> [--replace] [--dry-run]
                                      import recipients from a CSV file (columns: ${TARGET_CSV_COLUMNS.join(', ')});
                                      rows replace targets with the same id, new ids are added (--replace: the file is the whole list);
                                      every row is checked first and nothing is written if any row is wrong`;

/** import-targets: checks every row, then writes the campaign's targets.json in one step (a temporary file renamed over it). */
function importTargets(campaignsDir: string, args: string[]): number {
  const flags = new Set(args.filter((a) => a.startsWith('--')));
  const [slug, file] = args.filter((a) => !a.startsWith('--'));
  const unknownFlag = [...flags].find((f) => f !== '--replace' && f !== '--dry-run');
  if (!slug || !file || unknownFlag)
    throw new UsageError(`usage: import-targets <campaign> <file.csv> [--replace] [--dry-run]${unknownFlag ? ` (unknown option ${unknownFlag})` : ''}`);
  const campaigns = loadCampaigns(campaignsDir);
  const campaign = campaigns.get(slug);
  if (!campaign)
    throw new UsageError(
      `unknown campaign "${slug}" (campaigns: ${campaigns
        .list()
        .map((c) => c.slug)
        .join(', ')})`,
    );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
  const result = parseTargetsCsv(text);
  if (!result.ok) {
    for (const p of result.problems) process.stderr.write(`${file}:${p.line}: ${p.message}\n`);
    process.stderr.write(`nothing imported: ${result.problems.length} line(s) to fix\n`);
    return 1;
  }
  const merged = mergeTargets(campaign.targets, result.targets, flags.has('--replace'));
  const summary = `${result.targets.length} row(s) read: ${merged.added} added, ${merged.updated} updated; the campaign now has ${merged.targets.length} target(s)`;
  if (flags.has('--dry-run')) {
    process.stdout.write(`dry run, nothing written: ${summary}\n`);
    return 0;
  }
  const target = path.join(campaignsDir, slug, 'targets.json');
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(merged.targets, null, 2)}\n`);
  renameSync(tmp, target);
  process.stdout.write(`${summary}\nwritten to ${target}; restart the web and worker processes to use it\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command === 'hash-password') {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (password.length < 12) throw new UsageError('the password must be at least 12 characters');
    process.stdout.write(`ADMIN_PASSWORD_HASH='${await hashPassword(password)}'\n`);
    return 0;
  }
  const config = loadConfig();
  if (command === 'import-targets') return importTargets(config.campaignsDir, args);
  const campaigns = loadCampaigns(config.campaignsDir);
  const keys = redisKeys(config.redisPrefix);
  const redis = webRedis(config.redisUrl);
  redis.on('error', () => undefined);
  await whenReady(redis, 5000);
  const clock = systemClock;
  const control = new SendingControl(redis, keys, clock);
  const log = new DeliveryLog(redis, keys, clock, config.eventLogMax);
  const paceBook = new PaceBook(redis, keys, clock);
  const planner = new DeliveryPlanner(paceBook, clock, config.delivery.pacing);
  const queue = new Queue<QueueJobData>(DELIVERY_QUEUE, { connection: redis, prefix: keys.bullPrefix });
  const parking = new Parking({ redis, keys, log, planner, scheduler: createQueueScheduler(queue, config.delivery, clock), campaigns, control, clock });
  const supporterQueue = createSupporterMailQueue(redis, keys);
  const switches = createSendingSwitches(control, { queue: supporterQueue, parking, campaigns });
  const slugs = campaigns.list().map((c) => c.slug);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z'));
  const needTarget = () => {
    const [campaign, target] = args;
    if (!campaign || !target || !campaigns.get(campaign)?.targetById.has(target)) {
      throw new UsageError(`unknown campaign or recipient: ${campaign ?? '?'} ${target ?? '?'} (campaigns: ${slugs.join(', ')})`);
    }
    return { campaign, target, reason: args.slice(2).join(' ') };
  };

  try {
    switch (command) {
      case 'status': {
        const s = await switches.status(slugs);
        out(s.paused ? `sending: PAUSED since ${when(s.paused.since)}: ${s.paused.reason}` : 'sending: running');
        for (const [c, holds] of Object.entries(s.held))
          for (const [t, h] of Object.entries(holds)) out(`held: ${c}/${t} (${h.kind}) since ${when(h.since)}: ${h.reason}`);
        return 0;
      }
      case 'pause':
        await switches.pauseAll(args.join(' ') || 'Paused by a campaigner.');
        out('sending paused');
        return 0;
      case 'resume':
        out(`sending resumed; ${await switches.resumeAll()} held letters are being given new places in their lines by the worker`);
        return 0;
      case 'hold': {
        const { campaign, target, reason } = needTarget();
        await switches.hold(campaign, target, reason || 'Held by a campaigner.');
        out(`holding ${campaign}/${target}`);
        return 0;
      }
      case 'release': {
        const { campaign, target } = needTarget();
        out(`released ${campaign}/${target}; ${await switches.release(campaign, target)} held letters are being given new places in its line by the worker`);
        return 0;
      }
      case 'forecast': {
        for (const slug of args.length ? args : slugs) {
          const f = await forecastCampaign({ campaigns, log, paceBook, control, clock }, slug);
          if (!f) throw new UsageError(`unknown campaign: ${slug}`);
          out(`${slug}: ${f.waiting} letters waiting; last send ${when(f.lastSendAt)}${f.paused ? ` (PAUSED: ${f.paused})` : ''}`);
          out(`  ${'recipient'.padEnd(22)} ${'mode'.padEnd(10)} ${'waiting'.padStart(8)}  last send`);
          for (const t of f.targets)
            out(
              `  ${t.targetId.padEnd(22)} ${t.mode.padEnd(10)} ${String(t.waiting).padStart(8)}  ${t.blockedBy ? `held: ${t.blockedBy}` : when(t.lastSendAt)}`,
            );
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"\n${USAGE}`);
    }
  } finally {
    await queue.close();
    await supporterQueue.close();
    await redis.quit().catch(() => redis.disconnect());
  }
}

class UsageError extends Error {}

function readStdin(): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => (data += c));
    process.stdin.on('end', () => resolve(data));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof CampaignFileError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
