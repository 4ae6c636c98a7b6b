import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root folder (the one holding package.json), found by walking up from this file,
 * so views/, templates/ and public/ resolve the same from source (tsx) and from dist/.
 */
export const APP_ROOT: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'templates'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('appeal-letters: cannot find the project root (package.json + templates/)');
    dir = parent;
  }
})();
