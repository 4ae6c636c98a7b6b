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
  const r = await autocannon({ connections: 50, ...options });
  const codes = r.statusCodeStats as unknown as Record<string, { count: number }>;
  const ok = codes[String(expect)]?.count ?? 0;
  const all = Object.values(codes).reduce((s, c) => s + c.count, 0);
  const seconds = r.duration;
  return { requests: all, rps: ok / seconds, p50: r.latency.p50, p99: r.latency.p99, errors: all - ok + r.errors + r.timeouts, seconds };
}
