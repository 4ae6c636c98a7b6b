import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../domain/clock.js';
import type { OutgoingEmail } from '../../domain/letter-email.js';
import { SendError, type MailTransport } from '../../jobs/transports/mail-transport.js';
import { createOutboxTransport } from '../../jobs/transports/outbox-transport.js';
import { ADMIN_ENV, adminCsrf, loginAsAdmin } from '../support/admin.js';
import { formFields } from '../support/forms.js';
import { createHarness, eventually, expectStatus, formEncode, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';

// A supporter's text is shown back in many places: the pages, the outbox, the dashboard, the emails
// and the CSV export. Wherever it appears it must be text, never markup or a spreadsheet formula.

const SCRIPT = '<script>alert(1)</script>';
const IMG = '"><img src=x onerror=alert(1)>';
const FORMULA = '=HYPERLINK("http://evil.example")';
const BODY = `Dear reader, ${SCRIPT} and ${IMG} and ${FORMULA}: please release Huang Xueqin and Wang Jianbing.`;
const DASH = `/admin/c/${SHIPPED_CAMPAIGN}`;

/** The escaped forms EJS writes (quotes as &#34;). */
const SCRIPT_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';
const IMG_ESCAPED = '&#34;&gt;&lt;img src=x onerror=alert(1)&gt;';

/** An inline script: a <script> element without a src attribute. */
const INLINE_SCRIPT = /<script\b(?![^>]*\bsrc\s*=)[^>]*>/i;

/** Every HTML page fetched in this file, for the CSP checks at the end. */
const pages: { where: string; res: request.Response }[] = [];

/** Checks a page shows the hostile text escaped and never as markup. `shows` lists what must be visible (escaped). */
function expectEscaped(where: string, res: request.Response, shows: ('script' | 'img' | 'formula')[]) {
  pages.push({ where, res });
  const html = res.text;
  expect(html, where).not.toContain('<script>alert(1)');
  expect(html, where).not.toContain('<img src=x onerror');
  expect(html, where).not.toMatch(/"><img/);
  expect(html, where).not.toMatch(INLINE_SCRIPT);
  if (shows.includes('script')) expect(html, where).toContain(SCRIPT_ESCAPED);
  if (shows.includes('img')) expect(html, where).toContain(IMG_ESCAPED);
  if (shows.includes('formula')) expect(html, where).toContain('=HYPERLINK(&#34;http://evil.example&#34;)');
}

/** A strict RFC 4180 reader (CRLF records, quoted cells, doubled quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  if (quoted || cell !== '' || row.length) throw new Error('the CSV does not end with a complete record');
  return rows;
}

let h: Harness;
let agent: Awaited<ReturnType<typeof loginAsAdmin>>;
const emails: OutgoingEmail[] = [];
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  h = createHarness('security-escaping', { env: ADMIN_ENV });
  agent = await loginAsAdmin(h.app);
  const outbox = createOutboxTransport(h.t.redis, h.t.keys, systemClock);
  // The outbox transport, except that one recipient's provider refuses the letter and quotes it back
  // in its error (as a provider may), so the supporter's text reaches the dashboard's failures list.
  const transport: MailTransport = {
    name: 'outbox',
    async send(email) {
      emails.push(email);
      if (email.to.email === 'embassy-de@example.org') {
        throw new SendError('permanent', `The mail provider refused the letter (400): ${email.subject} ${email.text.slice(0, 200)}`, 400);
      }
      return outbox.send(email);
    },
  };
  h.startWorker(transport);

  const a = await expectStatus(
    postLetter(
      h.app,
      SHIPPED_CAMPAIGN,
      validForm({
        firstName: SCRIPT,
        lastName: IMG,
        email: 'hostile@example.net',
        subject: FORMULA,
        body: BODY,
        recipients: ['gz-psb', 'embassy-de', 'gd-womens-prison'],
      }),
    ),
    303,
  );
  tokenA = /^\/letters\/([^/]+)\/sent$/.exec(a.headers.location!)![1]!;
  const b = await expectStatus(
    postLetter(
      h.app,
      SHIPPED_CAMPAIGN,
      validForm({ firstName: FORMULA, lastName: '+SUM(1,2)', email: '-hostile@example.net', subject: '@SUM(A1:A2)', body: BODY, recipients: ['embassy-fr'] }),
    ),
    303,
  );
  tokenB = /^\/letters\/([^/]+)\/sent$/.exec(b.headers.location!)![1]!;
  // Wait for the individual letters: two sent, one refused.
  await eventually(async () => {
    const c = await h.log.counts(SHIPPED_CAMPAIGN);
    return c.byState.sent === 2 && c.byState.failed === 1 ? true : undefined;
  });
});
afterAll(() => h.close());

describe('the supporter’s pages', () => {
  it('when the confirmation page is shown, then the hostile name is text, not markup', async () => {
    const res = await request(h.app).get(`/letters/${tokenA}/sent`).expect(200);
    expectEscaped('confirmation page', res, ['script']);
  });

  it('when the status page is shown, then names, subject and letter are text, not markup', async () => {
    const res = await request(h.app).get(`/letters/${tokenA}`).expect(200);
    expectEscaped('status page', res, ['script', 'img', 'formula']);
  });

  it('when the form comes back after an error, then everything typed (and hostile recipient ids and field names) is text, not markup', async () => {
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    const body = formEncode({
      ...fields,
      ...validForm({ firstName: SCRIPT, lastName: IMG, email: IMG, subject: FORMULA, body: BODY, recipients: ['gz-psb', IMG] }),
    });
    const res = await request(h.app).post(`/c/${SHIPPED_CAMPAIGN}/letters`).set('Cookie', cookie).type('form').send(body).expect(422);
    expectEscaped('form after an error', res, ['script', 'img', 'formula']);
    const unknownField = await request(h.app)
      .post(`/c/${SHIPPED_CAMPAIGN}/letters`)
      .set('Cookie', cookie)
      .type('form')
      .send(`${formEncode({ ...fields, ...validForm() })}&${encodeURIComponent(SCRIPT)}=1`)
      .expect(422);
    expectEscaped('form with an unknown field named like markup', unknownField, ['script']);
  });
});

describe('the development outbox', () => {
  it('when /outbox lists the letters, then names, subject and text are shown escaped', async () => {
    const res = await request(h.app).get('/outbox').expect(200);
    expect(res.text).toContain('hostile@example.net');
    expectEscaped('outbox', res, ['script', 'img', 'formula']);
  });
});

describe('the campaigner dashboard', () => {
  it('when a failure quoting the supporter’s text is listed, then it is shown escaped', async () => {
    const res = await agent.get(DASH).expect(200);
    expect(res.text).toContain('The mail provider refused the letter (400)');
    expectEscaped('dashboard failures list', res, ['script', 'img', 'formula']);
    const live = await agent.get(`${DASH}/live`).expect(200);
    expectEscaped('dashboard live part', live, ['script', 'img']);
  });

  it('when a pause or hold reason, or the page’s query, carries markup, then it is shown escaped', async () => {
    await agent
      .post(`${DASH}/targets/embassy-ca/hold`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH), reason: `hold ${IMG}` })
      .expect(303);
    await agent
      .post(`${DASH}/pause`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH), reason: `pause ${SCRIPT}` })
      .expect(303);
    const res = await agent.get(DASH).expect(200);
    expectEscaped('dashboard with reasons', res, ['script', 'img']);
    const query = await agent.get(`${DASH}?notice=${encodeURIComponent(SCRIPT)}&test=${encodeURIComponent(IMG)}`).expect(200);
    expectEscaped('dashboard with a hostile query', query, []);
    expect(query.text).not.toContain(IMG);
    await agent
      .post(`${DASH}/resume`)
      .type('form')
      .send({ _csrf: await adminCsrf(agent, DASH) })
      .expect(303);
  });
});

describe('the emails', () => {
  it('when the letter is emailed, then its HTML part shows the hostile text escaped and the text part as it was typed', () => {
    const letter = emails.find((e) => e.to.email === 'gz-psb@example.org' && e.replyTo.email === 'hostile@example.net');
    expect(letter).toBeDefined();
    const html = letter!.html;
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toContain(SCRIPT_ESCAPED);
    expect(html).toContain(IMG_ESCAPED);
    expect(html).toContain(`<title>=HYPERLINK(&#34;http://evil.example&#34;)</title>`);
    expect(letter!.text).toContain(BODY);
  });

  it('when the letter goes in a recipient’s digest, then the digest’s HTML part shows it escaped', async () => {
    const digest = (await h.queue.getDelayed()).find((j) => j.name === 'digest');
    expect(digest).toBeDefined();
    await digest!.promote();
    const email = await eventually(async () => emails.find((e) => e.to.email === 'gd-womens-prison@example.org'));
    expect(email.html).not.toContain('<script');
    expect(email.html).not.toContain('<img');
    expect(email.html).toContain(SCRIPT_ESCAPED);
    expect(email.html).toContain(IMG_ESCAPED);
  });
});

describe('the CSV export', () => {
  it('when supporters typed formulas, then every such cell starts with an apostrophe, and the file is a download, never a page', async () => {
    const res = await agent.get(`/admin/c/${SHIPPED_CAMPAIGN}/export.csv?personal=1`).expect(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment;/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const [header, ...rows] = parseCsv(res.text.replace(/^\uFEFF/, ''));
    const col = (name: string) => header!.indexOf(name);
    const records = rows.map((r) => ({
      first: r[col('first_name')]!,
      last: r[col('last_name')]!,
      email: r[col('email')]!,
      subject: r[col('subject')]!,
      error: r[col('last_error')]!,
    }));
    const a = records.filter((r) => r.email === 'hostile@example.net');
    expect(a).toHaveLength(3);
    for (const r of a) {
      expect(r.subject).toBe(`'${FORMULA}`);
      expect(r.first).toBe(SCRIPT);
      expect(r.last).toBe(IMG);
    }
    const b = records.filter((r) => r.email === "'-hostile@example.net");
    expect(b).toHaveLength(1);
    expect(b[0]).toMatchObject({ first: `'${FORMULA}`, last: "'+SUM(1,2)", subject: "'@SUM(A1:A2)" });
    // No cell of the file starts a formula.
    for (const row of rows) for (const cell of row) expect(cell, cell).not.toMatch(/^[=+\-@\t\r]/);
  });
});

describe('the content security policy', () => {
  it("when any of these pages is served, then it carries script-src 'self' without unsafe-inline, and no inline script", async () => {
    pages.push({ where: 'campaign page', res: await request(h.app).get('/').expect(200) });
    pages.push({ where: 'login page', res: await request(h.app).get('/admin/login').expect(200) });
    pages.push({
      where: 'not found',
      res: await request(h.app)
        .get(`/letters/${'A'.repeat(32)}`)
        .expect(404),
    });
    pages.push({ where: 'status page of letter B', res: await request(h.app).get(`/letters/${tokenB}`).expect(200) });
    expect(pages.length).toBeGreaterThan(8);
    for (const { where, res } of pages) {
      const csp = String(res.headers['content-security-policy'] ?? '');
      expect(csp, where).toMatch(/(^|;)\s*script-src 'self'[^;]*(;|$)/);
      expect(csp, where).not.toContain('unsafe-inline');
      expect(csp, where).not.toContain('unsafe-eval');
      expect(csp, where).toMatch(/default-src 'self'/);
      expect(res.text, where).not.toMatch(INLINE_SCRIPT);
      // Escaped text makes no tags, so every tag here is the page's own: none may carry an event
      // handler among its attributes (attribute values, escaped text included, are left out).
      for (const tag of res.text.match(/<[a-zA-Z][^>]*>/g) ?? []) {
        expect(tag.replace(/"[^"]*"|'[^']*'/g, '""'), where).not.toMatch(/\son[a-z]+\s*=/i);
      }
    }
  });
});
