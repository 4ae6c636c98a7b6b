import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { Row } from './context.js';

// The results table (Markdown, readable in a terminal too) and the section of docs/BENCHMARKS.md it
// replaces, between the "bench:results" markers.

/** The results as a Markdown table. */
export function table(rows: Row[]): string {
  const header = ['scenario', 'product', 'baseline', 'ratio', 'target', 'result'];
  const cells = rows.map((r) => [r.scenario, r.product, r.baseline, r.ratio, r.target, r.pass === null ? '' : r.pass ? 'pass' : 'MISS']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** The machine: cores, CPU model, memory, Node and Redis versions. */
export function machine(redisVersion: string): string {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const nproc = execSync('nproc').toString().trim();
  return `${nproc} cores (nproc), ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node.js ${process.version}, Redis ${redisVersion}`;
}

/** Replaces the text between the markers in `file` with `body`. Throws if the markers are missing. */
export function writeResults(file: string, body: string): void {
  const text = readFileSync(file, 'utf8');
  const start = '<!-- bench:results:start -->';
  const end = '<!-- bench:results:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file} has no ${start} ... ${end} section`);
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${body.trim()}\n${text.slice(b)}`);
}
