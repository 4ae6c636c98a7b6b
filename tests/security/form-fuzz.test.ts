import { seededRandom } from '../support/seeded-random.js';
import { randomInt } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formFields } from '../support/forms.js';
import { createHarness, expectStatus, formEncode, type Harness, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// Thousands of random and hostile bodies thrown at POST /c/<slug>/letters through the real app on real
// Redis. Every body carries at least one defect the server must refuse it for, decorated with hostile
// but legal text. Reproduce a failure with FUZZ_SEED=<seed> (and FUZZ_COUNT=<n>) npx vitest run tests/security/form-fuzz.test.ts.

const SEED = Number(process.env.FUZZ_SEED ?? randomInt(1, 2 ** 31 - 1));
const COUNT = Number(process.env.FUZZ_COUNT ?? 2000);
const CONCURRENCY = 8;
const POST_PATH = `/c/${SHIPPED_CAMPAIGN}/letters`;
/** What a refused body may be answered with: bad request, forged form, too large, wrong media type, invalid. */
const REFUSALS = new Set([400, 403, 413, 415, 422]);

const prng = seededRandom;

type Rng = () => number;
const int = (rng: Rng, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

/** One field of the body: encoded on the way out unless `raw` (then sent exactly as given, already percent-encoded or not). */
interface Part {
  k: string;
  v: string | Buffer;
  raw?: boolean;
}

/** A fuzz case: the fields, how it is sent, and what was done to it (for the failure report). */
interface FuzzCase {
  index: number;
  parts: Part[];
  contentType: string;
  withCookie: boolean;
  labels: string[];
}

// Text that is hostile but legal in a field: it must be stored or echoed as text, never interpreted.
const SCRIPT = '<script>alert(1)</script>';
const IMG = '"><img src=x onerror=alert(1)>';
const ATTR = '" autofocus onfocus="alert(1)';
const HOSTILE_TEXT = [
  SCRIPT,
  IMG,
  ATTR,
  "'><svg onload=alert(1)>",
  'javascript:alert(1)',
  '{{constructor.constructor("alert(1)")()}}',
  '<%= process.exit() %>',
  '${process.exit()}',
  'Bcc: victim@example.com',
  'Ana %0d%0aBcc: victim@example.com',
  '=HYPERLINK("http://evil.example")',
  '😀𝕬𠜎🏳️‍🌈',
  'Zoë Ångström 黄雪琴 Ṩ',
  '\u202egnp.exe',
  'a\u200db\u200bc',
  'e\u0301',
  'x'.repeat(55),
];
/** Markup that, if found unescaped in a response, means input was rendered as HTML. */
const MUST_NOT_ECHO = ['<script>alert(1)', '<img src=x onerror', '<svg onload', ' autofocus onfocus="alert(1)'];

const LINE_BREAKS = ['\r\n', '\r', '\n', '\u2028', '\u2029', '\u0085', '\u0000', '\u000b', '\u000c', '\u001b', '\u007f', '\u0009'];
const PROTO_KEYS = [
  '__proto__[polluted]',
  'constructor[prototype][polluted]',
  '__proto__.polluted',
  'constructor.prototype.polluted',
  'prototype',
  'constructor',
  'hasOwnProperty',
  'toString',
  'valueOf',
  '__defineGetter__',
  '__proto__[toString]',
];
const UNKNOWN_KEYS = [
  'to',
  'cc',
  'bcc',
  'Bcc',
  'from',
  'replyTo',
  'reply_to',
  'headers',
  'X-Mailer',
  'targets',
  'recipientEmail',
  'email2',
  'sender',
  'target',
];
const BAD_RECIPIENTS = [
  'attacker-target',
  'victim@example.com',
  'gz-psb@example.org',
  'embassy-fr@example.org',
  'GZ-PSB',
  ' gz-psb',
  'gz-psb\r\nBcc: victim@example.com',
  'gz-psb,embassy-fr',
  '../gz-psb',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '',
  '<script>alert(1)</script>',
  'embassy-xx',
  'x'.repeat(5000),
];
const BAD_EMAILS = [
  'ana@example.net\r\nBcc: victim@example.com',
  'ana@example.net\nCc: victim@example.com',
  'Ana <ana@example.net>',
  'ana@example.net, victim@example.com',
  'ana@example.net;victim@example.com',
  'ana@example.net%0d%0abcc:victim@example.com',
  'ana@example.net\u0000',
  'ana@example',
  '@example.net',
  'ana@@example.net',
  'ana@exa mple.net',
  '<script>@example.net',
  '"ana\r\n"@example.net',
  `${'a'.repeat(250)}@example.net`,
  'victim@example.com\u2028Bcc: x@example.com',
];
const BAD_COUNTRIES = ['XX', 'fr', 'FRA', 'ZZ', '<script>', '__proto__', 'constructor', 'EU', 'F R', 'FR\r\n'];
const SINGLE_FIELDS = ['firstName', 'lastName', 'email', 'country', 'subject', 'body', 'keepInformed'] as const;
const LIMITS = { firstName: 60, lastName: 60, subject: 200, body: 10_000 } as const;

/** A "word" of random letters from several scripts (BMP and astral). */
function longWord(rng: Rng, length: number): string {
  const alphabet = ['a', 'z', 'é', '黄', 'Ж', '😀', '𝕬', 'ß', '\u0301'];
  let s = '';
  while (s.length < length) s += pick(rng, alphabet);
  return s;
}

const setField = (parts: Part[], k: string, v: string | Buffer, raw = false) => {
  for (let i = parts.length - 1; i >= 0; i--) if (parts[i]!.k === k) parts.splice(i, 1);
  parts.push({ k, v, raw });
};
const delField = (parts: Part[], k: string) => {
  for (let i = parts.length - 1; i >= 0; i--) if (parts[i]!.k === k) parts.splice(i, 1);
};

/** Hostile text that leaves the body valid on its own (defects are what make it invalid). */
const DECORATIONS: ((c: FuzzCase, rng: Rng) => void)[] = [
  (c, rng) => {
    const f = pick(rng, ['firstName', 'lastName', 'subject'] as const);
    setField(c.parts, f, pick(rng, HOSTILE_TEXT).slice(0, LIMITS[f]));
    c.labels.push(`hostile text in ${f}`);
  },
  (c, rng) => {
    setField(c.parts, 'body', `${pick(rng, HOSTILE_TEXT)} ${validForm().body as string} ${pick(rng, HOSTILE_TEXT)}`);
    c.labels.push('hostile text in body');
  },
  (c, rng) => {
    setField(c.parts, 'body', `Please release them. ${longWord(rng, int(rng, 100, 9000))}`.slice(0, LIMITS.body));
    c.labels.push('very long word in body');
  },
  (c, rng) => {
    const f = pick(rng, ['firstName', 'lastName', 'subject', 'body']);
    setField(c.parts, f, pick(rng, ['%250d%250aBcc%3A%20victim%40example.com', 'Ana%250ABcc:x', '%25%00%', '%E0%A4%A', '%ED%A0%80x', '%C0%AE%C0%AE%2F']), true);
    c.labels.push(`raw percent-encoding in ${f}`);
  },
  (c, rng) => {
    const f = pick(rng, ['firstName', 'lastName', 'subject']);
    setField(c.parts, f, Buffer.from([0x41, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x42]));
    c.labels.push(`invalid UTF-8 bytes in ${f}`);
  },
  (c) => {
    c.parts.push({ k: '__proto__', v: 'polluted' });
    c.labels.push('__proto__ key');
  },
  (c, rng) => {
    setField(c.parts, pick(rng, ['firstName', 'lastName']), `  ${pick(rng, ['Ana', 'Zoë', '黄雪琴'])}\r\n`);
    c.labels.push('name with surrounding white space and a trailing CR/LF');
  },
  (c, rng) => {
    c.parts.push({ k: 'submission', v: pick(rng, ['x', 'A'.repeat(100), '../../etc', '<script>']) });
    c.labels.push('odd submission id');
  },
  (c, rng) => {
    c.parts.reverse();
    if (rng() < 0.5) c.parts.push({ k: '', v: '' }, { k: '=', v: '=' } as Part);
    c.labels.push('fields reordered, empty keys');
  },
];

/** A defect each: every one alone must make the server refuse the body. */
const DEFECTS: ((c: FuzzCase, rng: Rng) => void)[] = [
  (c, rng) => {
    const f = pick(rng, ['firstName', 'lastName', 'email', 'country', 'subject', 'body']);
    setField(c.parts, f, pick(rng, ['', ' ', '\t', '\u3000', '\r\n']));
    c.labels.push(`DEFECT empty ${f}`);
  },
  (c, rng) => {
    const f = pick(rng, ['firstName', 'lastName', 'email', 'country', 'subject', 'body', 'recipients']);
    delField(c.parts, f);
    c.labels.push(`DEFECT missing ${f}`);
  },
  (c, rng) => {
    const f = pick(rng, ['firstName', 'lastName', 'subject', 'body'] as const);
    const len = LIMITS[f] + 1 + int(rng, 0, f === 'body' ? 20_000 : 3000);
    setField(c.parts, f, 'x'.repeat(len));
    c.labels.push(`DEFECT ${f} of ${len} characters`);
  },
  (c, rng) => {
    // Two more values, so the field is a list even if an earlier defect removed it.
    const f = pick(rng, SINGLE_FIELDS);
    c.parts.push({ k: f, v: pick(rng, ['Ana', 'yes', 'ana@example.net', 'FR', '', 'second value']) }, { k: f, v: 'yes' });
    c.labels.push(`DEFECT ${f} repeated (an array)`);
  },
  (c, rng) => {
    const k = `${pick(rng, [...SINGLE_FIELDS, 'recipients'])}[${pick(rng, ['', '0', 'x', '__proto__', 'length'])}]`;
    c.parts.push({ k, v: 'gz-psb' });
    c.labels.push(`DEFECT bracket key ${k}`);
  },
  (c, rng) => {
    const k = pick(rng, PROTO_KEYS);
    c.parts.push({ k, v: pick(rng, ['yes', 'polluted', '1']) });
    c.labels.push(`DEFECT prototype key ${k}`);
  },
  (c, rng) => {
    const f = pick(rng, ['firstName', 'lastName', 'subject']);
    const br = pick(
      rng,
      LINE_BREAKS.filter((b) => b !== '\u0009'),
    );
    setField(c.parts, f, `Ana${br}${pick(rng, ['Bcc: victim@example.com', 'Content-Type: text/html', 'X-Injected: 1', 'x'])}`);
    c.labels.push(`DEFECT ${JSON.stringify(br)} inside ${f}`);
  },
  (c, rng) => {
    setField(c.parts, 'email', pick(rng, BAD_EMAILS));
    c.labels.push('DEFECT bad email');
  },
  (c, rng) => {
    const bad = pick(rng, BAD_RECIPIENTS);
    if (rng() < 0.5) c.parts.push({ k: 'recipients', v: bad });
    else setField(c.parts, 'recipients', bad);
    c.labels.push(`DEFECT recipient ${JSON.stringify(bad.slice(0, 40))}`);
  },
  (c, rng) => {
    setField(c.parts, 'country', pick(rng, BAD_COUNTRIES));
    c.labels.push('DEFECT bad country');
  },
  (c, rng) => {
    setField(c.parts, 'keepInformed', pick(rng, ['no', 'YES', 'on', 'true', '1', 'yes ', '']));
    c.labels.push('DEFECT bad keepInformed');
  },
  (c, rng) => {
    const k = pick(rng, UNKNOWN_KEYS);
    c.parts.push({ k, v: 'victim@example.com' });
    c.labels.push(`DEFECT unknown field ${k}`);
  },
  (c, rng) => {
    delField(c.parts, '_csrf');
    delField(c.parts, 'startedAt');
    if (rng() < 0.5) c.withCookie = false;
    c.labels.push(`DEFECT without hidden fields${c.withCookie ? '' : ' or cookie'}`);
  },
  (c, rng) => {
    const how = pick(rng, ['forged token', 'token array', 'no cookie', 'tampered time', 'unsigned time', 'time array']);
    if (how === 'forged token') setField(c.parts, '_csrf', `${'ab'.repeat(32)}.${'cd'.repeat(32)}`);
    if (how === 'token array') c.parts.push({ k: '_csrf', v: 'x' });
    if (how === 'no cookie') c.withCookie = false;
    if (how === 'tampered time') {
      const sa = c.parts.find((p) => p.k === 'startedAt');
      if (sa) sa.v = String(sa.v).replace(/^\d/, (d) => String((Number(d) + 1) % 10));
    }
    if (how === 'unsigned time') setField(c.parts, 'startedAt', '0');
    if (how === 'time array') c.parts.push({ k: 'startedAt', v: '0.x' });
    c.labels.push(`DEFECT ${how}`);
  },
  (c, rng) => {
    // As one string: a honeypot sent as a list is an open bug with its own test (form-attacks.test.ts).
    setField(c.parts, 'website', pick(rng, ['http://spam.example', 'x', 'buy now', SCRIPT]));
    c.labels.push('DEFECT honeypot filled');
  },
  (c, rng) => {
    const ctl = pick(rng, ['\u0000', '\u0007', '\u001b[31m', '\u007f', '\u0085', '\u2028', '\u000b', '\u000c', '\u0008']);
    setField(c.parts, 'body', `${validForm().body as string}${ctl}more text after it`);
    c.labels.push(`DEFECT control character ${JSON.stringify(ctl)} in body`);
  },
  (c) => {
    setField(c.parts, 'body', 'too short');
    c.labels.push('DEFECT body too short');
  },
  (c, rng) => {
    c.contentType = pick(rng, [
      'application/json',
      'text/plain',
      'multipart/form-data; boundary=xyz',
      '',
      'application/x-www-form-urlencoded; charset=utf-16',
      'application/x-www-form-urlencoded; charset=koi8-r',
    ]);
    c.labels.push(`DEFECT content type ${JSON.stringify(c.contentType)}`);
  },
  (c, rng) => {
    const n = int(rng, 101, 400);
    for (let i = 0; i < n; i++) c.parts.push({ k: `f${i}`, v: '1' });
    c.labels.push(`DEFECT ${n} extra parameters`);
  },
  (c, rng) => {
    setField(c.parts, 'body', longWord(rng, int(rng, 70_000, 90_000)));
    c.labels.push('DEFECT body over the size limit');
  },
];

function makeCase(index: number, rng: Rng, hidden: Record<string, string>): FuzzCase {
  const base = { ...validForm(), ...hidden };
  const parts: Part[] = [];
  for (const [k, v] of Object.entries(base)) for (const one of Array.isArray(v) ? v : [v]) parts.push({ k, v: one });
  const c: FuzzCase = { index, parts, contentType: 'application/x-www-form-urlencoded', withCookie: true, labels: [] };
  for (let i = int(rng, 0, 3); i > 0; i--) pick(rng, DECORATIONS)(c, rng);
  for (let i = int(rng, 1, 3); i > 0; i--) pick(rng, DEFECTS)(c, rng);
  return c;
}

function encodeCase(c: FuzzCase): Buffer {
  const chunks: Buffer[] = [];
  c.parts.forEach((p, i) => {
    if (i > 0) chunks.push(Buffer.from('&'));
    chunks.push(Buffer.from(p.raw ? p.k : encodeURIComponent(p.k)), Buffer.from('='));
    if (Buffer.isBuffer(p.v)) chunks.push(p.v);
    else chunks.push(Buffer.from(p.raw ? p.v : encodeURIComponent(p.v)));
  });
  const form = Buffer.concat(chunks);
  if (c.contentType === 'application/json') {
    return Buffer.from(JSON.stringify(Object.fromEntries(c.parts.map((p) => [p.k, String(p.v)]))));
  }
  return form;
}

/** What a failure report shows: the seed, the case and the start of its body. */
function describeCase(c: FuzzCase, body: Buffer, why: string): string {
  const text = body.toString('latin1');
  return [
    `fuzz case ${c.index} failed: ${why}`,
    `reproduce with FUZZ_SEED=${SEED} FUZZ_COUNT=${COUNT}`,
    `mutations: ${c.labels.join('; ')}`,
    `content-type: ${JSON.stringify(c.contentType)}, cookie: ${c.withCookie}`,
    `body (${body.length} bytes): ${text.length > 3000 ? `${text.slice(0, 3000)}…` : text}`,
  ].join('\n');
}

let h: Harness;
let server: http.Server;
let base: string;

beforeAll(async () => {
  h = createHarness('security-fuzz');
  server = http.createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await h.close();
});

async function keyCount(pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, found] = await h.t.redis.scan(cursor, 'MATCH', `{${h.t.prefix}}:${pattern}`, 'COUNT', 1000);
    cursor = next;
    n += found.length;
  } while (cursor !== '0');
  return n;
}

const totalJobs = async () => Object.values(await h.queue.getJobCounts()).reduce((a, b) => a + b, 0);

/** The names of every BullMQ key (jobs of every queue, their lists and event streams). */
async function bullKeys(): Promise<string[]> {
  const all: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await h.t.redis.scan(cursor, 'MATCH', `{${h.t.prefix}}:bull*`, 'COUNT', 1000);
    cursor = next;
    all.push(...found);
  } while (cursor !== '0');
  return all.sort();
}

describe('fuzzing the public letter form', () => {
  it(
    `when ${COUNT} random and hostile bodies are posted, then none is accepted, none causes a 5xx, and nothing is stored or queued`,
    { timeout: 120_000 },
    async () => {
      console.info(`form fuzz: seed ${SEED}, ${COUNT} bodies (reproduce with FUZZ_SEED=${SEED})`);
      const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
      const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
      expect(fields._csrf).not.toBe('');
      expect(fields.startedAt).toMatch(/^\d+\./);
      const jobsBefore = await totalJobs();
      const bullBefore = await bullKeys();
      const countsBefore = await h.log.counts(SHIPPED_CAMPAIGN);

      const rng = prng(SEED);
      const cases = Array.from({ length: COUNT }, (_, i) => makeCase(i, rng, fields));
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      let next = 0;
      const runOne = async (c: FuzzCase) => {
        const body = encodeCase(c);
        const headers: Record<string, string> = {};
        if (c.contentType) headers['content-type'] = c.contentType;
        if (c.withCookie) headers.cookie = cookie;
        let status: number;
        let text: string;
        try {
          const res = await fetch(`${base}${POST_PATH}`, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
          status = res.status;
          text = await res.text();
        } catch (err) {
          failures.push(describeCase(c, body, `the request failed: ${(err as Error).message} (${String((err as { cause?: unknown }).cause)})`));
          return;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (!REFUSALS.has(status)) failures.push(describeCase(c, body, `answered ${status}: ${text.slice(0, 300)}`));
        const echoed = MUST_NOT_ECHO.find((m) => text.includes(m));
        if (echoed) failures.push(describeCase(c, body, `the response contains unescaped ${JSON.stringify(echoed)}`));
      };
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < cases.length) await runOne(cases[next++]!);
        }),
      );

      console.info(`form fuzz: answers ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
      if (failures.length) throw new Error(`${failures.length} of ${COUNT} fuzz cases failed (seed ${SEED}); the first:\n${failures.slice(0, 3).join('\n\n')}`);
      // Most bodies got through the hidden-field checks to validation (the point of reusing them).
      expect(statuses.get(422) ?? 0).toBeGreaterThan(COUNT / 2);

      expect(await totalJobs()).toBe(jobsBefore);
      expect(await bullKeys()).toEqual(bullBefore);
      const countsAfter = await h.log.counts(SHIPPED_CAMPAIGN);
      expect(countsAfter.letters).toBe(countsBefore.letters);
      expect(countsAfter.deliveries).toBe(countsBefore.deliveries);
      for (const pattern of ['letter:*', 'token:*', 'submission:*', 'campaign:*:writer:*', 'form-limits:email*'])
        expect(await keyCount(pattern), pattern).toBe(0);

      // Nothing reached Object.prototype, and the process still answers.
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
      expect(typeof ({} as { toString: unknown }).toString).toBe('function');
      await request(h.app).get('/healthz').expect(200);
    },
  );

  it('when a valid letter is sent after the fuzzing, then it goes through with exactly its recipients’ jobs', async () => {
    const before = await totalJobs();
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    const res = await expectStatus(
      request(h.app)
        .post(POST_PATH)
        .set('Cookie', cookie)
        .type('form')
        .send(formEncode({ ...validForm({ email: 'after-fuzz@example.net' }), ...fields })),
      303,
    );
    const token = /^\/letters\/([A-Za-z0-9_-]{48})\/sent$/.exec(res.headers.location ?? '')![1]!;
    const letterId = (await h.letters.findByToken(token))!;
    expect(letterId).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{15}$/);
    expect(await totalJobs()).toBe(before + 3);
    const jobs = await h.queue.getJobs(['waiting', 'prioritized', 'delayed']);
    expect(jobs.map((j) => JSON.stringify(j.data)).sort()).toEqual(['embassy-fr', 'gz-procuratorate', 'gz-psb'].map((t) => JSON.stringify({ l: letterId, t })));
    expect((await h.log.counts(SHIPPED_CAMPAIGN)).letters).toBe(1);
  });
});
