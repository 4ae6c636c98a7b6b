import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Router, type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { AppDeps } from '../app.js';

// bull-board at /admin/queues (behind the dashboard login): the delivery queue's jobs, for looking only.

/** Where the board is mounted. */
export const QUEUE_BOARD_PATH = '/admin/queues';

// The inline styles bull-board 9.10.1 ships (pinned): the loading screen's five style attributes and
// its <style> block (dist/index.ejs), and the <style> inside the Redis logo (static/js/main.*.js).
// Only these exact texts are allowed, by hash, and only under /admin/queues; scripts stay 'self'
// only. Without them the board still works but shows an unstyled loading screen and a black logo.
// After upgrading bull-board, tests/http/queue-board-http.test.ts fails if the page's own styles
// changed; the logo's hash comes from the browser's CSP report (Chromium names the hash it wanted).

/** The loading screen's five style attributes (CSP style-src-attr, with 'unsafe-hashes'). */
export const QUEUE_BOARD_STYLE_ATTRIBUTE_HASHES = [
  "'sha256-of39ksKG33VNCYo5/quRg1dhdo2AWSv8WJi2LNKOSTU='",
  "'sha256-dg51HqBfD6n0yW6arUPC/pQLVghRZbOuP0gPg9FhCTw='",
  "'sha256-XtkH5bXSf2qTXVOXBZrUBgydsBjBOqKXas4aSqlrDYQ='",
  "'sha256-4qiUsLv1mhPpLyv14EyMNeEfESFsI8tYHvGHgST5oO4='",
  "'sha256-z865ZzzyqKnk/u5EJq1ujBhzC4S9g1xzvJyr7y3Ut8s='",
];
/** The loading screen's <style> block and the Redis logo's (CSP style-src-elem). */
export const QUEUE_BOARD_STYLE_ELEMENT_HASHES = [
  "'sha256-dv714QSXJBurriRZTklJT4phtgwCe+o7Frxoi2awcdg='",
  "'sha256-r2N1TB/gHbBtBZFKg7ejmq1acVSREzucTAEw6ga4hoU='",
];

/**
 * The board's pages and JSON API on the delivery queue, read-only: the delivery log is the record of
 * every letter, so removing, retrying, promoting or editing jobs here (which would bypass it) is
 * refused with 405 by bull-board itself; campaigners act through the dashboard and the CLI instead.
 * Its pages get the app's Content-Security-Policy plus the hashes above (web fonts from Google stay blocked).
 */
export function queueBoard(deps: Pick<AppDeps, 'queue' | 'config'>): Router {
  const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(deps.queue, { readOnlyMode: true, description: 'One job per letter and recipient, digest and status-link email' })],
    serverAdapter,
    options: {
      uiConfig: { boardTitle: 'Delivery queue', hideDocsLink: true, miscLinks: [{ text: 'Dashboard', url: '/admin' }] },
    },
  });
  const board = serverAdapter.getRouter() as Express;
  board.disable('x-powered-by');
  // bull-board is an Express app of its own: while it handles a request, req and res take its
  // prototypes (its views, its settings). Give ours back when it passes a request on (404, errors),
  // as app.use does for a mounted app, so our 404 and error pages still render.
  const mounted: RequestHandler = (req, res, next) => {
    const request = Object.getPrototypeOf(req) as object;
    const response = Object.getPrototypeOf(res) as object;
    board(req, res, (err?: unknown) => {
      Object.setPrototypeOf(req, request);
      Object.setPrototypeOf(res, response);
      next(err);
    });
  };

  const router = Router();
  router.use(
    QUEUE_BOARD_PATH,
    // Replaces the header the app's helmet set, for these paths only.
    helmet.contentSecurityPolicy({
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        styleSrcElem: ["'self'", ...QUEUE_BOARD_STYLE_ELEMENT_HASHES],
        styleSrcAttr: ["'unsafe-hashes'", ...QUEUE_BOARD_STYLE_ATTRIBUTE_HASHES],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: deps.config.isProduction ? [] : null,
      },
    }),
    mounted,
  );
  return router;
}
