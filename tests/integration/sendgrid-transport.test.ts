import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutgoingEmail } from '../../domain/letter-email.js';
import { SendError } from '../../jobs/transports/mail-transport.js';
import { createSendGridTransport } from '../../jobs/transports/sendgrid-transport.js';
import { startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid.js';

// The SendGrid transport alone, through the real client, against the local fake of the API.

let fake: FakeSendGrid;

beforeAll(async () => {
  fake = await startFakeSendGrid();
});
afterAll(async () => {
  await fake.close();
});

const email: OutgoingEmail = {
  from: { email: 'letters@example.org', name: 'Ana Lima via Free the Two' },
  replyTo: { email: 'ana.lima@example.net', name: 'Ana Lima' },
  to: { email: 'gz-psb@example.org', name: 'The Director' },
  subject: 'Release them',
  text: 'Dear Director,\n\nPlease release them.',
  html: '<p>Dear Director,</p><p>Please release them.</p>',
  customArgs: { campaign: 'free-the-two', letter: 'a'.repeat(32), target: 'gz-psb' },
};

describe('the SendGrid transport', () => {
  it('when the API accepts a letter, then its message id comes back and the request carries the letter as the API expects', async () => {
    fake.requests.length = 0;
    const transport = createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 5000, sandbox: false });
    const { messageId } = await transport.send(email);
    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(messageId).toBe(req!.messageId);
    expect(req!.path).toBe('/v3/mail/send');
    expect(req!.body).toMatchObject({
      from: email.from,
      reply_to: email.replyTo,
      personalizations: [{ to: [email.to] }],
      subject: email.subject,
      content: [
        { type: 'text/plain', value: email.text },
        { type: 'text/html', value: email.html },
      ],
      custom_args: email.customArgs,
      tracking_settings: { click_tracking: { enable: false }, open_tracking: { enable: false } },
    });
  });

  it('when the API answers with a redirect (a wrong SENDGRID_API_URL), then it is not followed and the attempt fails as a plain transient error', async () => {
    fake.requests.length = 0;
    fake.script({ status: 307, headers: { location: `${fake.url}/v3/mail/send` } });
    const transport = createSendGridTransport({ apiKey: fake.apiKey, apiUrl: fake.url, timeoutMs: 5000, sandbox: false });
    const failure = await transport.send(email).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(SendError);
    expect(failure).toMatchObject({ kind: 'transient', status: 307, ambiguous: false });
    expect(fake.requests).toHaveLength(1);
  });
});
