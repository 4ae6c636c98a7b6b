import { MailService } from '@sendgrid/mail';
import type { Client } from '@sendgrid/client';
import { describe, expect, it } from 'vitest';
import type { OutgoingEmail } from '../../domain/letter-email.js';
import { mailSendBody } from '../../jobs/transports/sendgrid-body.js';

// The transport builds the Mail Send body itself; SendGrid must receive exactly what the official
// helper (@sendgrid/mail, as the transport used to call it) would have sent.

const email: OutgoingEmail = {
  from: { email: 'letters@example.org', name: 'Ana Lima via Free the Two' },
  replyTo: { email: 'ana.lima@example.net', name: 'Ana Lima' },
  to: { email: 'gz-psb@example.org', name: 'The Director (Public Security Bureau)' },
  subject: 'Release 黄雪琴 and 王建兵',
  text: 'Dear Director,\n\nI write about 黄雪琴 and 王建兵.\n\n--\nfooter',
  html: '<p>Dear Director,</p><p>I write about 黄雪琴 and 王建兵 &amp; more.</p>',
  customArgs: { campaign: 'free-the-two', letter: 'a'.repeat(32), target: 'gz-psb' },
};

/** What @sendgrid/mail sends for the same email, configured as the transport was before. */
async function officialBody(e: OutgoingEmail, sandbox: boolean): Promise<unknown> {
  let body: unknown;
  const mail = new MailService();
  mail.setClient({
    request: (req: { body: unknown }) => {
      body = req.body;
      return Promise.resolve([{ statusCode: 202, headers: {} }, '']);
    },
  } as unknown as Client);
  await mail.send({
    from: e.from,
    replyTo: e.replyTo,
    to: e.to,
    subject: e.subject,
    text: e.text,
    html: e.html,
    customArgs: e.customArgs,
    trackingSettings: { clickTracking: { enable: false, enableText: false }, openTracking: { enable: false }, subscriptionTracking: { enable: false } },
    mailSettings: sandbox ? { sandboxMode: { enable: true } } : undefined,
  });
  return JSON.parse(JSON.stringify(body));
}

const sent = (e: OutgoingEmail, sandbox: boolean) => JSON.parse(JSON.stringify(mailSendBody(e, sandbox))) as unknown;

describe('the request body SendGrid receives for a letter', () => {
  it('when a letter is sent, then the body is the one the official helper builds (addresses, parts, ids, tracking off)', async () => {
    expect(sent(email, false)).toEqual(await officialBody(email, false));
  });

  it('when sandbox mode is on, then the body asks SendGrid to validate without sending, as the helper does', async () => {
    expect(sent(email, true)).toEqual(await officialBody(email, true));
    expect(sent(email, true)).toMatchObject({ mail_settings: { sandbox_mode: { enable: true } } });
  });

  it('when a display name is empty, then the address goes without a name, as the helper sends it', async () => {
    const nameless = { ...email, replyTo: { email: 'x@example.net', name: '' }, from: { email: 'letters@example.org', name: '' } };
    expect(sent(nameless, false)).toEqual(await officialBody(nameless, false));
  });
});
