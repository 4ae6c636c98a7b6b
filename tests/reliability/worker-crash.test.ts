import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LetterDraft } from '../../domain/letter-form.js';
import { submitLetter } from '../../domain/letter-submission.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';
import { createHarness, eventually, type Harness, SHIPPED_CAMPAIGN } from '../support/harness.js';
import { runMain, type RunningProcess } from '../support/processes.js';
import { explainLost, fromTally, recordMeasurement, tally, type DeliveryRef } from '../support/reliability-results.js';

// A worker process killed (SIGKILL) or stopped (SIGTERM) in the middle of a drain: every letter ends
// sent, none lost; duplicates only in the one window the design cannot close, bounded and flagged.

const RECIPIENTS = ['gz-psb', 'gz-procuratorate', 'embassy-fr'];
const CONCURRENCY = 8;
/** Short job locks, so a killed worker's jobs come back within seconds (the default is 30 s). */
const JOB_LOCK_MS = 4000;

const processes: RunningProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL', 5000)));
});

function startWorker(h: Harness, fake: FakeSendGrid, concurrency = CONCURRENCY): RunningProcess {
  const p = runMain('worker', {
    REDIS_URL: h.t.url,
    REDIS_PREFIX: h.t.prefix,
    SENDGRID_API_KEY: fake.apiKey,
    SENDGRID_API_URL: fake.url,
    WORKER_CONCURRENCY: String(concurrency),
    SEND_RATE_PER_SECOND: '10000',
    SEND_BACKOFF_MS: '100',
    PACING: 'off',
    JOB_LOCK_MS: String(JOB_LOCK_MS),
    SEND_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'warn',
  });
  processes.push(p);
  return p;
}

/** Accepts `letters` letters to RECIPIENTS through the domain (as the web process does), 50 at a time. */
async function seed(h: Harness, letters: number, tag: string): Promise<DeliveryRef[]> {
  const campaign = h.campaigns.get(SHIPPED_CAMPAIGN)!;
  const refs: DeliveryRef[] = [];
  for (let i = 0; i < letters; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, letters - i) }, (_, j) => submitLetter(h.deps, campaign, { ...DRAFT, email: `${tag}${i + j}@example.net` })),
    );
    for (const r of batch) {
      if (r.kind !== 'accepted') throw new Error(`seeding: ${r.kind}`);
      for (const targetId of RECIPIENTS) refs.push({ letterId: r.letterId, targetId });
    }
  }
  return refs;
}

/** A letter as the form's parser hands it on. */
const DRAFT: Omit<LetterDraft, 'email'> = {
  firstName: 'Ana',
  lastName: 'Lima',
  country: 'FR',
  recipients: RECIPIENTS,
  subject: 'Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵)',
  body: 'I am writing about Sophia Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵). Please release them.',
};

const sentCount = async (h: Harness) => (await h.log.counts(SHIPPED_CAMPAIGN)).byState.sent;

describe('a worker killed with SIGKILL in the middle of a drain, then restarted', () => {
  let h: Harness;
  let fake: FakeSendGrid;
  beforeAll(async () => {
    // Each answer takes 10 ms, as a provider's does, so sends are in flight at the kill.
    fake = await startFakeSendGrid('SG.test-key', 10);
    h = createHarness('rel-sigkill');
  });
  afterAll(async () => {
    await h.close();
    await fake.close();
  });

  it('then every letter is sent, none lost, and the few sent twice are at most the worker concurrency and flagged', { timeout: 120_000 }, async () => {
    const began = Date.now();
    const refs = await seed(h, 1000, 'kill');
    const seedMs = Date.now() - began;
    const total = refs.length;

    const first = startWorker(h, fake);
    await eventually(async () => (fake.accepted().length >= total / 3 ? true : undefined), 60_000, 20);
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await first.exited;
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    const sentAtKill = counts.byState.sent;
    const interrupted: DeliveryRef[] = [];
    for (const ref of refs) if ((await h.log.get(ref.letterId, ref.targetId))?.state === 'sending') interrupted.push(ref);

    const second = startWorker(h, fake);
    await eventually(async () => ((await sentCount(h)) === total ? true : undefined), 90_000, 100);
    const drainedAt = Date.now();
    // Time to recover: until the last letter the crash interrupted is recorded sent.
    let recoveredAt = killedAt;
    for (const ref of interrupted) {
      const record = (await h.log.get(ref.letterId, ref.targetId))!;
      recoveredAt = Math.max(recoveredAt, record.changedAt);
    }
    expect(await second.stop('SIGTERM')).toBe(0);

    const t = await tally(fake.accepted(), h.log, refs);
    recordMeasurement({
      id: '01-worker-sigkill',
      fault: 'Worker killed with SIGKILL mid-drain, restarted',
      method: `${total / RECIPIENTS.length} letters to ${RECIPIENTS.length} recipients (${total} emails) seeded through the domain; a worker process (concurrency ${CONCURRENCY}, pacing off, JOB_LOCK_MS=${JOB_LOCK_MS}) against the fake provider (10 ms answers) is killed with SIGKILL once a third are accepted, then a new worker is started.`,
      lettersAccepted: total / RECIPIENTS.length,
      ...fromTally(t),
      recoverMs: recoveredAt - killedAt,
      recoverWhat: 'SIGKILL to the last interrupted letter recorded sent',
      extra: {
        'sent at the kill': sentAtKill,
        'left "sending" by the kill': interrupted.length,
        'kill to drained (ms)': drainedAt - killedAt,
        'seeding (ms)': seedMs,
      },
      durationMs: Date.now() - began,
    });

    expect(t.lost, await explainLost(h.log, t.lost)).toEqual([]);
    expect(t.strays).toBe(0);
    expect(t.sent).toBe(total);
    // Only a letter the provider had taken when the worker died can go twice: at most one per send in flight.
    expect(interrupted.length).toBeLessThanOrEqual(CONCURRENCY);
    expect(t.duplicates).toBeLessThanOrEqual(CONCURRENCY);
    for (const k of t.duplicated) expect(t.flagged).toContain(k);
    expect(t.flagged.sort()).toEqual(interrupted.map((r) => `${r.letterId}/${r.targetId}`).sort());
    expect(await h.queue.getJobCounts('active', 'wait', 'delayed', 'failed')).toEqual({ active: 0, wait: 0, delayed: 0, failed: 0 });
  });
});

describe('a worker stopped with SIGTERM in the middle of a drain', () => {
  let h: Harness;
  let fake: FakeSendGrid;
  beforeAll(async () => {
    // Slow answers (200 ms): at the signal, sends are certainly in flight.
    fake = await startFakeSendGrid('SG.test-key', 200);
    h = createHarness('rel-sigterm');
  });
  afterAll(async () => {
    await h.close();
    await fake.close();
  });

  it(
    'then it finishes the sends in flight and exits 0, nothing is left sending or active, and a new worker sends the rest once',
    { timeout: 60_000 },
    async () => {
      const began = Date.now();
      const refs = await seed(h, 100, 'term');
      const total = refs.length;

      const worker = startWorker(h, fake);
      await eventually(async () => (fake.accepted().length >= total / 3 ? true : undefined), 30_000, 20);
      const requestsAtSignal = fake.requests.length;
      const inFlightAtSignal = requestsAtSignal - fake.accepted().length;
      const signalled = Date.now();
      const code = await worker.stop('SIGTERM');
      const stopMs = Date.now() - signalled;
      expect(code).toBe(0);

      const counts = await h.log.counts(SHIPPED_CAMPAIGN);
      const activeAfterStop = await h.queue.getActiveCount();
      const requestsAfterStop = fake.requests.length;

      const next = startWorker(h, fake, 50);
      await eventually(async () => ((await sentCount(h)) === total ? true : undefined), 30_000, 100);
      expect(await next.stop('SIGTERM')).toBe(0);
      const t = await tally(fake.accepted(), h.log, refs);
      recordMeasurement({
        id: '06-worker-sigterm',
        fault: 'SIGTERM during a drain',
        method: `${total / RECIPIENTS.length} letters to ${RECIPIENTS.length} recipients (${total} emails); a worker process (concurrency ${CONCURRENCY}) against a fake answering in 200 ms gets SIGTERM once a third are accepted; then a new worker drains the rest.`,
        lettersAccepted: total / RECIPIENTS.length,
        ...fromTally(t),
        recoverMs: stopMs,
        recoverWhat: 'SIGTERM to exit (in-flight sends finished)',
        extra: {
          'in flight at the signal': inFlightAtSignal,
          'sent when it exited': counts.byState.sending === 0 ? counts.byState.sent : `${counts.byState.sent} (+${counts.byState.sending} sending)`,
          'active jobs after exit': activeAfterStop,
          'exit code': code ?? 'none',
        },
        durationMs: Date.now() - began,
      });

      expect(inFlightAtSignal).toBeGreaterThan(0);
      // Every request that reached the provider before the worker exited was answered and recorded sent.
      expect(counts.byState.sending).toBe(0);
      expect(counts.byState.sent).toBe(requestsAfterStop);
      expect(counts.byState.sent).toBeGreaterThanOrEqual(requestsAtSignal);
      expect(activeAfterStop).toBe(0);
      expect(t.lost, await explainLost(h.log, t.lost)).toEqual([]);
      expect(t.duplicates).toBe(0);
      expect(t.flagged).toEqual([]);
    },
  );
});
