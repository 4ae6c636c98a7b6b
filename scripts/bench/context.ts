import type { Campaign } from '../../domain/campaign.js';
import type { FakeProvider } from './fake-provider.js';
import type { BenchRedis } from './private-redis.js';

// What every scenario gets, and the row each figure becomes in the table.

export interface BenchContext {
  redis: BenchRedis;
  fake: FakeProvider;
  /** Where the children's logs go. */
  logDir: string;
  /** Smaller counts and shorter runs, for a quick check (not for the documented figures). */
  quick: boolean;
  campaign: Campaign;
}

/** One line of the results table. */
export interface Row {
  scenario: string;
  product: string;
  baseline: string;
  /** product / baseline, when both are rates or times of the same thing. */
  ratio: string;
  target: string;
  /** null when the row has no target (informative). */
  pass: boolean | null;
}

/** A number with thousands separators and `digits` decimals. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Prints a progress line to stderr (the table goes to stdout). */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
