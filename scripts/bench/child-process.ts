import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, closeSync } from 'node:fs';
import path from 'node:path';
import { APP_ROOT } from '../../domain/app-root.js';

// Child processes of a benchmark (the real program, or a bare baseline), each with its output in a
// log file (so the parent spends no CPU on it) and, with BENCH_CPU_PROF=<dir>, a V8 CPU profile there.

/** A started child and the way to stop it. */
export interface BenchChild {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resident memory now, from /proc (bytes); 0 once it has exited. */
  rss(): number;
  /** CPU time used so far (user + system, all threads), from /proc (ms); 0 once it has exited. */
  cpuMs(): number;
  /** Resolves when `check` returns true (polled); rejects if the child exits or `timeoutMs` passes. */
  waitFor(check: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** SIGTERM (a profile is written on a clean exit), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<BenchChild>();

/** Starts `node --import tsx <script> ...args` with `env` added; output goes to <logDir>/<name>.log. */
export function startChild(name: string, script: string, args: string[], env: Record<string, string>, logDir: string): BenchChild {
  const logFile = path.join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  // One folder per child: V8 writes a profile per thread (tsx's loader runs in a thread of its own).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.join(process.env.BENCH_CPU_PROF, name)] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(APP_ROOT, script), ...args], {
    cwd: APP_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: BenchChild = {
    name,
    child,
    logFile,
    rss() {
      try {
        const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        return kb ? Number(kb) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    cpuMs() {
      try {
        // Fields 14 and 15 of /proc/<pid>/stat, after the command name in parentheses; in clock ticks (100 a second).
        const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return (Number(fields[11]) + Number(fields[12])) * 10;
      } catch {
        return 0;
      }
    },
    async waitFor(check, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}); see ${logFile}:\n${tail(logFile)}`);
        if (await check().catch(() => false)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${name} not ready within ${timeoutMs} ms; see ${logFile}:\n${tail(logFile)}`);
    },
    async stop(graceMs = 20_000) {
      running.delete(handle);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(handle);
  return handle;
}

/** Kills every child still running (on failure or Ctrl-C). */
export function killAllChildren(): void {
  for (const c of running) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  running.clear();
}

/** Resolves true once GET `url` answers 200. */
export async function answers200(url: string): Promise<boolean> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status === 200;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}
