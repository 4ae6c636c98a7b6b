import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler, Router } from 'express';

// Static files under /static, each also served at a name carrying a hash of its content
// ("styles.3f9a1c2b7d.css") with a year-long immutable cache; pages link to the hashed names, so a
// new release is picked up at once and an unchanged file is never fetched twice.

export interface StaticAssets {
  router: Router;
  /** The hashed URL of a file in the folder, e.g. asset('styles.css'); the plain URL if unknown. */
  url(name: string): string;
}

/** Serves `dir` at /static. Reads and hashes the files once, at start-up. */
export function staticAssets(dir: string, isProduction: boolean): StaticAssets {
  const hashes = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    if (!/\.(css|js|svg|png|ico)$/.test(name)) continue;
    hashes.set(
      name,
      createHash('sha256')
        .update(readFileSync(path.join(dir, name)))
        .digest('hex')
        .slice(0, 10),
    );
  }
  const hashed: RequestHandler = (req, res, next) => {
    const m = /^\/([\w-]+)\.([0-9a-f]{10})\.(\w+)$/.exec(req.path);
    if (m && hashes.get(`${m[1]}.${m[3]}`) === m[2]) {
      req.url = `/${m[1]}.${m[3]}`;
      res.locals.immutable = true;
    }
    next();
  };
  const router = Router();
  router.use(
    '/static',
    hashed,
    express.static(dir, {
      index: false,
      setHeaders: (res) => {
        res.setHeader('Cache-Control', res.locals.immutable ? 'public, max-age=31536000, immutable' : isProduction ? 'public, max-age=3600' : 'no-cache');
      },
    }),
  );
  return {
    router,
    url: (name) => {
      const h = hashes.get(name);
      return h ? `/static/${name.replace(/\.(\w+)$/, `.${h}.$1`)}` : `/static/${name}`;
    },
  };
}
