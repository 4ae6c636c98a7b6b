import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A lean stand-in for SendGrid's v3 Mail Send endpoint for throughput runs: it answers 202 with an
// X-Message-Id at once and keeps only the receive times and the first body since the last reset
// (the tests' richer fake keeps every body).

/** The running fake. */
export interface FakeProvider {
  url: string;
  apiKey: string;
  /** Receive time (ms) of every accepted request since the last reset. */
  times: number[];
  /** The JSON body of the first accepted request since the last reset (the bare send loop sends its content). */
  sample: string | undefined;
  /** Resolves once `count` requests arrived since the last reset (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the fake on a free loopback port. A request with another key gets 401. */
export async function startFakeProvider(apiKey = 'SG.bench-key'): Promise<FakeProvider> {
  let times: number[] = [];
  let sample: string | undefined;
  let sampling = false;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] | undefined = sample === undefined && !sampling ? [] : undefined;
    if (chunks) {
      sampling = true;
      req.on('data', (c: Buffer) => chunks.push(c));
    } else req.resume();
    req.on('end', () => {
      if (chunks) {
        sampling = false;
        if (req.headers.authorization === `Bearer ${apiKey}`) sample = Buffer.concat(chunks).toString('utf8');
      }
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
    get sample() {
      return sample;
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
      sample = undefined;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
