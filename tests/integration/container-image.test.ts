import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';

// The container image is built from only what the Dockerfile copies (no Docker engine runs in CI):
// every file the build compiles, and every file those import, must be among the copies.

const dockerfile = readFileSync(path.join(APP_ROOT, 'Dockerfile'), 'utf8');
const buildConfig = JSON.parse(readFileSync(path.join(APP_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };

/** What the build stage copies into /app before `npm run build` (paths relative to the project). */
function buildStageCopies(): string[] {
  const stage = dockerfile.split(/^FROM /m)[1] ?? '';
  return [...stage.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => {
    const parts = m[1]!.trim().split(/\s+/);
    return parts.slice(0, -1).map((p) => path.normalize(p));
  });
}

function tsFilesUnder(rel: string): string[] {
  const abs = path.join(APP_ROOT, rel);
  if (statSync(abs).isFile()) return [rel];
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(rel, f));
}

/** The project files `rel` imports by a relative path, resolved to their .ts source. */
function relativeImports(rel: string): string[] {
  const source = readFileSync(path.join(APP_ROOT, rel), 'utf8');
  const specs = [...source.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((spec) => path.normalize(path.join(path.dirname(rel), spec.replace(/\.js$/, '.ts'))));
}

describe('the container image build', () => {
  it('when the build compiles its sources, then each of them and everything they import is copied into the build stage', () => {
    const copies = buildStageCopies();
    const copied = (file: string) => copies.some((c) => file === c || file.startsWith(`${c}/`));
    const seen = new Set<string>();
    const missing: string[] = [];
    const queue = buildConfig.include.flatMap(tsFilesUnder);
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      if (!copied(file) || !existsSync(path.join(APP_ROOT, file))) missing.push(file);
      else queue.push(...relativeImports(file));
    }
    expect(seen.size).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });

  it('when the image runs the web, the worker and the CLI, then the build emits the files its commands name', () => {
    const compose = readFileSync(path.join(APP_ROOT, 'docker-compose.yml'), 'utf8');
    const readme = readFileSync(path.join(APP_ROOT, 'README.md'), 'utf8');
    const named = new Set([...`${dockerfile}\n${compose}\n${readme}`.matchAll(/dist\/([\w/-]+)\.js/g)].map((m) => `${m[1]}.ts`));
    expect(named).toContain('server/main.ts');
    const built = new Set(buildConfig.include.flatMap(tsFilesUnder));
    expect([...named].filter((f) => !built.has(f))).toEqual([]);
  });
});
