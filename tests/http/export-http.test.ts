import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../domain/clock.js';
import { createApp } from '../../server/app.js';
import { ADMIN_ENV, loginAsAdmin } from '../support/admin.js';
import { createHarness, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// The campaigner's CSV export of the delivery log: one row per letter and recipient, personal data
// only when asked for, filters, safe for spreadsheets, and the dashboard login in front.

const EXPORT = `/admin/c/${SHIPPED_CAMPAIGN}/export.csv`;
const COLUMNS = [
  'letter_id',
  'written_at',
  'recipient_id',
  'recipient_institution',
  'state',
  'attempts',
  'provider_message_id',
  'last_changed_at',
  'last_error',
  'supporter_country',
];
const PERSONAL = ['first_name', 'last_name', 'email', 'subject'];
const SUBJECT = 'Release them, now: "Huang Xueqin" and Wang Jianbing';
const ERROR = 'Refused by the provider, "mailbox full"\nsecond line of the reason';

/** A strict RFC 4180 reader (CRLF records, quoted cells, doubled quotes); throws on anything else. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"' && cell === '') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted cell');
        if (text[i] === '"' && text[i + 1] === '"') {
          cell += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else cell += text[i++];
      }
      if (text[i] !== ',' && !(text[i] === '\r' && text[i + 1] === '\n')) throw new Error(`text after a closing quote at ${i}`);
      continue;
    }
    if (text[i] === ',') {
      row.push(cell);
      cell = '';
      i++;
    } else if (text[i] === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 2;
    } else if (text[i] === '\r' || text[i] === '\n' || text[i] === '"') {
      throw new Error(`bare ${JSON.stringify(text[i])} outside quotes at ${i}`);
    } else cell += text[i++];
  }
  if (cell !== '' || row.length) throw new Error('the last record does not end in CRLF');
  return rows;
}

/** The CSV's records as objects keyed by the header (after the byte-order mark every export starts with). */
function records(text: string): Record<string, string>[] {
  expect(text.startsWith('\uFEFF')).toBe(true);
  const [header, ...rows] = parseCsv(text.slice(1));
  return rows.map((r) => Object.fromEntries(header!.map((name, i) => [name, r[i]!])));
}

let h: Harness;
let agent: Awaited<ReturnType<typeof loginAsAdmin>>;
const clock = manualClock(Date.UTC(2026, 0, 5, 10, 0, 0));
const ids: Record<'a' | 'b' | 'c', string> = { a: '', b: '', c: '' };

async function write(form: Record<string, string | string[]>): Promise<string> {
  const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, form), 303);
  const token = /^\/letters\/([^/]+)\/sent$/.exec(res.headers.location!)![1]!;
  return (await h.letters.findByToken(token))!;
}

beforeAll(async () => {
  h = createHarness('export', { env: ADMIN_ENV, clock });
  agent = await loginAsAdmin(h.app);
  // Three letters on three days, through the supporter's form.
  ids.a = await write(
    validForm({
      firstName: '=SUM(1+1)',
      lastName: 'Lima',
      email: 'ana@example.net',
      subject: SUBJECT,
      recipients: ['gz-psb', 'gz-procuratorate', 'embassy-fr'],
    }),
  );
  clock.set(Date.UTC(2026, 0, 6, 23, 59, 0));
  ids.b = await write(validForm({ firstName: 'Bo', lastName: 'Chen', email: 'bo@example.net', country: 'GB', recipients: ['gz-psb'] }));
  clock.set(Date.UTC(2026, 0, 8, 9, 0, 0));
  ids.c = await write(validForm({ firstName: 'Cai', lastName: 'Wu', email: 'cai@example.net', country: 'GB', recipients: ['gz-psb', 'embassy-gb'] }));
  // What the worker would record: one sent, one failed with a reason that needs quoting.
  clock.set(Date.UTC(2026, 0, 8, 9, 5, 0));
  await h.log.apply(SHIPPED_CAMPAIGN, ids.a, 'gz-psb', 'send-started', { attempt: 1 });
  await h.log.apply(SHIPPED_CAMPAIGN, ids.a, 'gz-psb', 'provider-accepted', { messageId: 'msg-a-psb' });
  await h.log.apply(SHIPPED_CAMPAIGN, ids.a, 'gz-procuratorate', 'send-started', { attempt: 1 });
  await h.log.apply(SHIPPED_CAMPAIGN, ids.a, 'gz-procuratorate', 'permanent-error', { error: ERROR });
  await h.queue.obliterate({ force: true });
});
afterAll(() => h.close());

/** Every delivery of the given letters as the export should show it, read back from the letter store. */
async function expectedRows(letterIds: string[], personal = false): Promise<Record<string, string>[]> {
  const campaign = h.campaigns.get(SHIPPED_CAMPAIGN)!;
  const rows: Record<string, string>[] = [];
  for (const id of letterIds) {
    const letter = (await h.letters.get(id))!;
    for (const { targetId, record } of letter.deliveries) {
      rows.push({
        letter_id: id,
        written_at: new Date(letter.createdAt).toISOString(),
        recipient_id: targetId,
        recipient_institution: campaign.targetById.get(targetId)!.institution,
        state: record.state,
        attempts: String(record.attempts),
        provider_message_id: record.messageId ?? '',
        last_changed_at: new Date(record.changedAt).toISOString(),
        last_error: record.error ?? '',
        supporter_country: letter.country,
        ...(personal
          ? {
              first_name: letter.firstName.startsWith('=') ? `'${letter.firstName}` : letter.firstName,
              last_name: letter.lastName,
              email: letter.email,
              subject: letter.subject,
            }
          : {}),
      });
    }
  }
  return rows;
}

describe('the delivery log export', () => {
  it('when nobody is logged in, then the export is not given: the browser goes to the login page, other clients get 401', async () => {
    const res = await request(h.app).get(EXPORT).set('Accept', 'text/html').expect(303);
    expect(res.headers.location).toBe(`/admin/login?next=${encodeURIComponent(EXPORT)}`);
    const json = await request(h.app).get(`${EXPORT}?personal=1`).set('Accept', 'application/json').expect(401);
    expect(json.text).not.toContain('ana@example.net');
  });

  it('when a campaigner downloads it, then it is a CSV attachment with one row per delivery, equal to the log, and no personal data', async () => {
    const res = await agent.get(EXPORT).expect(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${SHIPPED_CAMPAIGN}-deliveries-2026-01-08.csv"`);
    expect(res.headers['cache-control']).toBe('no-store');
    // The byte-order mark tells Excel the file is UTF-8 (Chinese names are not garbled).
    expect(res.text.startsWith('\uFEFFletter_id,')).toBe(true);
    expect(parseCsv(res.text.slice(1))[0]).toEqual(COLUMNS);
    const rows = records(res.text);
    expect(rows).toHaveLength(6);
    expect(rows).toEqual(await expectedRows([ids.a, ids.b, ids.c]));
    for (const secret of ['ana@example.net', 'Lima', 'Chen', 'Release them']) expect(res.text).not.toContain(secret);
    expect(rows.find((r) => r.state === 'sent')).toMatchObject({ letter_id: ids.a, recipient_id: 'gz-psb', provider_message_id: 'msg-a-psb', attempts: '1' });
  });

  it('when personal data is asked for, then names, emails and subjects are added, and text with commas, quotes and line breaks comes back whole', async () => {
    const res = await agent.get(`${EXPORT}?personal=1`).expect(200);
    expect(parseCsv(res.text.slice(1))[0]).toEqual([...COLUMNS, ...PERSONAL]);
    const rows = records(res.text);
    expect(rows).toEqual(await expectedRows([ids.a, ids.b, ids.c], true));
    const a = rows.filter((r) => r.letter_id === ids.a);
    expect(a.map((r) => r.subject)).toEqual([SUBJECT, SUBJECT, SUBJECT]);
    expect(a.find((r) => r.state === 'failed')!.last_error).toBe(ERROR);
    expect(rows.find((r) => r.letter_id === ids.b)).toMatchObject({ first_name: 'Bo', last_name: 'Chen', email: 'bo@example.net', supporter_country: 'GB' });
  });

  it('when a supporter typed a formula as their name, then the spreadsheet gets it as text, starting with an apostrophe', async () => {
    const res = await agent.get(`${EXPORT}?personal=1`).expect(200);
    expect(res.text).toContain(`,'=SUM(1+1),Lima,ana@example.net,`);
    expect(res.text).not.toMatch(/(^|,)=SUM/m);
    expect(records(res.text).filter((r) => r.first_name === `'=SUM(1+1)`)).toHaveLength(3);
  });

  it('when filtered by recipient or state, then only those deliveries are exported', async () => {
    const psb = records((await agent.get(`${EXPORT}?target=gz-psb`).expect(200)).text);
    expect(psb.map((r) => r.letter_id)).toEqual([ids.a, ids.b, ids.c]);
    expect(new Set(psb.map((r) => r.recipient_id))).toEqual(new Set(['gz-psb']));

    const failed = records((await agent.get(`${EXPORT}?state=failed`).expect(200)).text);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ letter_id: ids.a, recipient_id: 'gz-procuratorate', state: 'failed', last_error: ERROR });

    const queuedPsb = records((await agent.get(`${EXPORT}?target=gz-psb&state=queued`).expect(200)).text);
    expect(queuedPsb.map((r) => r.letter_id)).toEqual([ids.b, ids.c]);
  });

  it('when filtered by dates, then letters written from the first day up to and including the last day (UTC) are exported', async () => {
    const day6 = records((await agent.get(`${EXPORT}?from=2026-01-06&to=2026-01-06`).expect(200)).text);
    expect(day6.map((r) => r.letter_id)).toEqual([ids.b]);
    const from6 = records((await agent.get(`${EXPORT}?from=2026-01-06`).expect(200)).text);
    expect(from6.map((r) => r.letter_id)).toEqual([ids.b, ids.c, ids.c]);
    const to5 = records((await agent.get(`${EXPORT}?to=2026-01-05`).expect(200)).text);
    expect(to5.map((r) => r.letter_id)).toEqual([ids.a, ids.a, ids.a]);
    const none = await agent.get(`${EXPORT}?from=2026-02-01&to=2026-02-28`).expect(200);
    expect(parseCsv(none.text.slice(1))).toEqual([COLUMNS]);
  });

  it('when the dashboard form is sent with its "All" choices empty, then nothing is filtered', async () => {
    const res = await agent.get(`${EXPORT}?from=&to=&target=&state=`).expect(200);
    expect(records(res.text)).toHaveLength(6);
  });

  it('when the query is wrong, then the answer is 400 naming what is wrong, and nothing is exported', async () => {
    const cases: [string, RegExp][] = [
      ['from=2026-13-01', /from: is not a date in the calendar/],
      ['from=2026-02-30', /from: is not a date in the calendar/],
      ['to=last-week', /to: must be a date as YYYY-MM-DD/],
      ['from=2026-01-08&to=2026-01-05', /to: must not be before &#34;from&#34;/],
      ['state=lost', /state: must be one of unconfirmed, queued, waiting/],
      ['target=nobody', /target: &#34;nobody&#34; is not one of this campaign&#39;s recipients/],
      ['personal=yes', /personal: must be 1 or 0/],
      ['status=sent', /Unrecognized key.*status/],
      ['state=sent&state=failed', /state:/],
    ];
    for (const [query, message] of cases) {
      const res = await agent.get(`${EXPORT}?${query}`).expect(400);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text, query).toMatch(message);
      expect(res.text).not.toContain('letter_id');
    }
  });

  it('when Redis fails before the first row, then the answer is an error page, not a CSV that looks complete', async () => {
    const failing = new Proxy(h.deps.redis, {
      get(target, prop) {
        if (prop === 'zrangebyscore') return () => Promise.reject(new Error('Connection is closed.'));
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const app = createApp({ ...h.deps, redis: failing });
    const res = await (await loginAsAdmin(app)).get(EXPORT).expect(500);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-disposition']).toBeUndefined();
  });

  it('when the campaign does not exist, then the answer is 404', async () => {
    await agent.get('/admin/c/no-such-campaign/export.csv').expect(404);
  });
});

describe('a large export', () => {
  it('when many letters share the same millisecond across batches, then each delivery is exported exactly once, in order', async () => {
    const big = createHarness('export-big', { env: ADMIN_ENV, clock: manualClock(Date.UTC(2026, 2, 1, 12)) });
    try {
      const campaign = big.campaigns.get(SHIPPED_CAMPAIGN)!;
      const draft = { firstName: 'Ana', lastName: 'Lima', email: 'a@example.net', country: 'FR', subject: 's', body: 'b'.repeat(40) };
      const clockOf = big.deps.clock as ReturnType<typeof manualClock>;
      const written: string[] = [];
      // 620 letters at one instant, then 590 at the next: the 500-letter batches end inside both groups.
      for (const [n, recipients] of [
        [620, ['gz-psb', 'embassy-fr']],
        [590, ['gz-procuratorate']],
      ] as const) {
        const created = await Promise.all(Array.from({ length: n }, () => big.letters.create(campaign, { ...draft, recipients: [...recipients] })));
        written.push(...created.map((c) => c.letterId));
        clockOf.advance(1);
      }
      const bigAgent = await loginAsAdmin(big.app);
      const rows = records((await bigAgent.get(EXPORT).expect(200)).text);
      expect(rows).toHaveLength(620 * 2 + 590);
      const keys = rows.map((r) => `${r.letter_id}/${r.recipient_id}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(new Set(rows.map((r) => r.letter_id))).toEqual(new Set(written));
      const times = rows.map((r) => r.written_at);
      expect(times).toEqual([...times].sort());
    } finally {
      await big.close();
    }
  });
});
