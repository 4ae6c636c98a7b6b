import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APP_ROOT } from '../../domain/app-root.js';
import type { DeliveryLog } from '../../domain/delivery-log.js';
import type { FakeSendGridRequest } from './fake-sendgrid.js';

// What the reliability tests measured, counted the same way in every test (sends per letter and
// recipient at the fake provider, states in the delivery log) and written to
// test-results/reliability/<id>.json for scripts/reliability-report.ts.

/** Where the measurements go (git-ignored). */
export const RESULTS_DIR = path.join(APP_ROOT, 'test-results', 'reliability');

/** One letter to one recipient. */
export interface DeliveryRef {
  letterId: string;
  targetId: string;
}

/** Sends and outcomes of a set of deliveries. */
export interface Tally {
  /** Deliveries the test expects to be sent. */
  deliveries: number;
  /** Of them, recorded "sent" in the delivery log. */
  sent: number;
  /** Sends the provider accepted for them (a letter accepted twice counts twice). */
  providerAccepted: number;
  /** Extra copies: accepted sends beyond the first, summed over deliveries. */
  duplicates: number;
  /** Deliveries the provider accepted more than once. */
  duplicated: string[];
  /** Deliveries marked possibleDuplicate in the log (visible on the status page and dashboard). */
  flagged: string[];
  /** Deliveries not recorded sent, or never accepted by the provider. */
  lost: string[];
  /** Accepted sends for deliveries outside the set (must be none). */
  strays: number;
}

const keyOf = (letterId: string, targetId: string) => `${letterId}/${targetId}`;

/** Counts the fake's accepted sends per delivery and reads each delivery's record. Fails only when Redis does. */
export async function tally(accepted: readonly FakeSendGridRequest[], log: DeliveryLog, refs: readonly DeliveryRef[]): Promise<Tally> {
  const perDelivery = new Map<string, number>();
  for (const r of accepted) {
    const k = keyOf(r.body.custom_args?.letter ?? '?', r.body.custom_args?.target ?? '?');
    perDelivery.set(k, (perDelivery.get(k) ?? 0) + 1);
  }
  const result: Tally = { deliveries: refs.length, sent: 0, providerAccepted: 0, duplicates: 0, duplicated: [], flagged: [], lost: [], strays: 0 };
  const wanted = new Set<string>();
  for (const { letterId, targetId } of refs) {
    const k = keyOf(letterId, targetId);
    wanted.add(k);
    const n = perDelivery.get(k) ?? 0;
    const record = await log.get(letterId, targetId);
    result.providerAccepted += n;
    if (n > 1) {
      result.duplicates += n - 1;
      result.duplicated.push(k);
    }
    if (record?.possibleDuplicate) result.flagged.push(k);
    if (record?.state === 'sent') result.sent += 1;
    if (record?.state !== 'sent' || n === 0) result.lost.push(k);
  }
  for (const [k, n] of perDelivery) if (!wanted.has(k)) result.strays += n;
  return result;
}

/** The records of lost deliveries (state and history), for an assertion's message. */
export async function explainLost(log: DeliveryLog, lost: readonly string[]): Promise<string> {
  const lines = await Promise.all(
    lost.slice(0, 10).map(async (k) => {
      const [letterId, targetId] = k.split('/') as [string, string];
      const r = await log.get(letterId, targetId);
      return `${k}: ${r ? `${r.state}, history ${r.history.map((h) => h.state).join(' > ')}` : 'no record'}`;
    }),
  );
  return `lost deliveries:\n${lines.join('\n')}`;
}

/** One row of docs/reliability.md. */
export interface ReliabilityMeasurement {
  /** File name (kebab-case) and sort key. */
  id: string;
  fault: string;
  /** What the test does, in a sentence or two. */
  method: string;
  /** Letters supporters had accepted (303), and the letters to officials they make. */
  lettersAccepted: number;
  deliveries: number;
  sent: number;
  providerAccepted: number;
  duplicates: number;
  /** Deliveries flagged possibleDuplicate. */
  flagged: number;
  lost: number;
  /** Time to recover, in ms, and what it measures. */
  recoverMs?: number;
  recoverWhat?: string;
  /** Other figures the test measured (errors, requests, waits). */
  extra?: Record<string, string | number>;
  durationMs: number;
}

/** Writes one measurement as JSON (with the time and machine) under test-results/reliability/. */
export function recordMeasurement(m: ReliabilityMeasurement): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${m.id}.json`);
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}`;
  writeFileSync(file, `${JSON.stringify({ ...m, at: new Date().toISOString(), machine }, null, 2)}\n`);
}

/** A measurement's shared part from a tally. */
export function fromTally(t: Tally): Pick<ReliabilityMeasurement, 'deliveries' | 'sent' | 'providerAccepted' | 'duplicates' | 'flagged' | 'lost'> {
  return {
    deliveries: t.deliveries,
    sent: t.sent,
    providerAccepted: t.providerAccepted,
    duplicates: t.duplicates,
    flagged: t.flagged.length,
    lost: t.lost.length,
  };
}
