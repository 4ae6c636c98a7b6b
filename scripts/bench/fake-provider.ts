import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A lean stand-in for SendGrid's v3 Mail Send endpoint for throughput runs: it answers 202 with an
// X-Message-Id at once and keeps only the receive times (the tests' richer fake keeps every body).

/** The running fake. */
export interface FakeProvider {
  url: string;
  apiKey: string;
  /** Receive time (ms) of every accepted request since the last reset. */
  times: number[];
  /** Resolves once `count` requests arrived since the last reset (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the fake on a free loopback port. A request with another key gets 401. */
export async function startFakeProvider(apiKey = 'SG.bench-key'): Promise<FakeProvider> {
  let times: number[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"message":"bad key"}]}');
        return;
      }
      times.push(Date.now());
      res.writeHead(202, { 'x-message-id': randomBytes(11).toString('base64url') }).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    get times() {
      return times;
    },
    async waitFor(count, timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (times.length < count) {
        if (Date.now() > end) throw new Error(`the fake provider got ${times.length} of ${count} requests within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    reset() {
      times = [];
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
