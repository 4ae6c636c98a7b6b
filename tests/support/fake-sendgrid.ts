import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A local stand-in for the SendGrid v3 Mail Send API, driven by the real @sendgrid/mail client
// through its base-URL override. It records every request and answers as the test scripts it.

/** One request the fake received. */
export interface FakeSendGridRequest {
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body as received (UTF-8). */
  raw: string;
  body: SendGridMailBody;
  /** The X-Message-Id it answered with, when it accepted. */
  messageId?: string;
}

/** The parts of a v3 mail/send body the tests look at. */
export interface SendGridMailBody {
  from: { email: string; name?: string };
  reply_to?: { email: string; name?: string };
  personalizations: { to: { email: string; name?: string }[] }[];
  subject: string;
  content: { type: string; value: string }[];
  custom_args?: Record<string, string>;
  tracking_settings?: Record<string, { enable: boolean }>;
}

/** How the fake answers one request. */
export type FakeAnswer =
  | { status: 202; delayMs?: number }
  | { status: number; errors?: { message: string; field?: string }[]; headers?: Record<string, string>; delayMs?: number }
  /** Accept nothing and close the connection (a network error for the client). */
  | { drop: true }
  /** Accept the letter (it counts as sent, with a message id) but close the connection before answering. */
  | { acceptThenDrop: true }
  /** Accept nothing and never answer (the client's timeout ends the request). */
  | { hang: true };

export interface FakeSendGrid {
  url: string;
  apiKey: string;
  requests: FakeSendGridRequest[];
  /** Answers for the next requests, in order; after them every request gets 202. */
  script(...answers: FakeAnswer[]): void;
  /** The requests it accepted (answered 202, or accepted before dropping the connection). */
  accepted(): FakeSendGridRequest[];
  /** Resolves once `count` requests have arrived (rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<FakeSendGridRequest[]>;
  close(): Promise<void>;
}

/** Starts the fake on a free loopback port; every answer waits `defaultDelayMs` unless scripted otherwise. */
export async function startFakeSendGrid(apiKey = 'SG.test-key', defaultDelayMs = 0): Promise<FakeSendGrid> {
  const requests: FakeSendGridRequest[] = [];
  const queue: FakeAnswer[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked' }] }));
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const record: FakeSendGridRequest = {
        at: Date.now(),
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        raw,
        body: JSON.parse(raw) as SendGridMailBody,
      };
      const answer = queue.shift() ?? { status: 202 };
      requests.push(record);
      for (const w of [...waiters]) if (requests.length >= w.count) w.resolve();
      if ('drop' in answer) {
        req.socket.destroy();
        return;
      }
      if ('acceptThenDrop' in answer) {
        record.messageId = `fake-${randomUUID()}`;
        req.socket.destroy();
        return;
      }
      if ('hang' in answer) return;
      const delay = answer.delayMs ?? defaultDelayMs;
      if (delay > 0) {
        setTimeout(() => respond(answer, record, res), delay);
        return;
      }
      respond(answer, record, res);
    });
  });
  const respond = (answer: Extract<FakeAnswer, { status: number }>, record: FakeSendGridRequest, res: http.ServerResponse) => {
    if (answer.status === 202) {
      record.messageId = `fake-${randomUUID()}`;
      res.writeHead(202, { 'x-message-id': record.messageId });
      res.end();
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'application/json', ...('headers' in answer ? answer.headers : {}) });
    res.end(JSON.stringify({ errors: 'errors' in answer ? (answer.errors ?? []) : [] }));
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    script: (...answers) => {
      queue.push(...answers);
    },
    accepted: () => requests.filter((r) => r.messageId !== undefined),
    waitForRequests: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        if (requests.length >= count) return resolve(requests.slice());
        const timer = setTimeout(() => reject(new Error(`expected ${count} requests, got ${requests.length}`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests.slice());
          },
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
