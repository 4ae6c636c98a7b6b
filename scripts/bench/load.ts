import type { EventEmitter } from 'node:events';
import autocannon from 'autocannon';

// One autocannon run and the figures the table needs.

/** requests/s, latency percentiles (ms), and the requests that did not get the expected status. */
export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  /** Responses with another status than expected, plus connection errors and timeouts. */
  errors: number;
  seconds: number;
}

/** Runs autocannon against `url` with 50 connections (by default) for `duration` s or `amount` requests, counting `expect` as success. */
export async function load(opts: autocannon.Options & { expect: number }): Promise<LoadResult> {
  const { expect, ...options } = opts;
  // Without a callback autocannon returns its run, which is both a promise and an event emitter.
  const instance = autocannon({ connections: 50, ...options }) as unknown as Promise<autocannon.Result> & EventEmitter;
  // autocannon ends a run at its next one-second tick after the last response, and counts that idle
  // tail in its duration: a run of a fixed number of requests would look up to a second slower. The
  // rate is taken from the first request's start to the last response instead.
  let started = 0;
  let lastResponse = 0;
  instance.on('start', () => (started = performance.now()));
  instance.on('response', () => (lastResponse = performance.now()));
  const r = await instance;
  const codes = r.statusCodeStats as unknown as Record<string, { count: number }>;
  const ok = codes[String(expect)]?.count ?? 0;
  const all = Object.values(codes).reduce((s, c) => s + c.count, 0);
  const seconds = started && lastResponse > started ? (lastResponse - started) / 1000 : r.duration;
  return { requests: all, rps: ok / seconds, p50: r.latency.p50, p99: r.latency.p99, errors: all - ok + r.errors + r.timeouts, seconds };
}

/** Rounds of product and baseline runs taken in turn, combined: the median of each figure and of the per-round ratios, the worst p99, all errors. */
export interface Paired {
  product: LoadResult;
  baseline: LoadResult;
  /** Median of product.rps / baseline.rps over the rounds. */
  ratio: number;
  rounds: number;
}

/** Combines rounds of [product, baseline] results (see Paired). */
export function pair(rounds: [LoadResult, LoadResult][]): Paired {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const combine = (rs: LoadResult[]): LoadResult => ({
    requests: rs.reduce((s, r) => s + r.requests, 0),
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: Math.max(...rs.map((r) => r.p99)),
    errors: rs.reduce((s, r) => s + r.errors, 0),
    seconds: rs.reduce((s, r) => s + r.seconds, 0),
  });
  return {
    product: combine(rounds.map((r) => r[0])),
    baseline: combine(rounds.map((r) => r[1])),
    ratio: median(rounds.map(([p, b]) => p.rps / b.rps)),
    rounds: rounds.length,
  };
}
