import type { OutgoingEmail } from '../../domain/letter-email.js';

// The body of a v3 Mail Send request for one email, built directly in the API's shape: the same JSON
// @sendgrid/mail's helper builds (tests/unit/sendgrid-body.test.ts compares them), without its
// per-send deep copies and key conversions.

/** An address as the API takes it: the name only when there is one, as the official helper does. */
interface ApiAddress {
  email: string;
  name?: string;
}

/** Open, click and subscription tracking off: the same for every letter, so built once. */
const TRACKING_OFF = Object.freeze({
  click_tracking: Object.freeze({ enable: false, enable_text: false }),
  open_tracking: Object.freeze({ enable: false }),
  subscription_tracking: Object.freeze({ enable: false }),
});

const SANDBOX_ON = Object.freeze({ sandbox_mode: Object.freeze({ enable: true }) });

/** The request body for `email`, with sandbox mode when `sandbox` (validate without sending). Never throws. */
export function mailSendBody(email: OutgoingEmail, sandbox: boolean): Record<string, unknown> {
  return {
    from: address(email.from),
    subject: email.subject,
    personalizations: [{ to: [address(email.to)] }],
    content: [
      { value: email.text, type: 'text/plain' },
      { value: email.html, type: 'text/html' },
    ],
    ...(sandbox ? { mail_settings: SANDBOX_ON } : {}),
    tracking_settings: TRACKING_OFF,
    custom_args: email.customArgs,
    reply_to: address(email.replyTo),
  };
}

function address(a: { email: string; name: string }): ApiAddress {
  return a.name === '' ? { email: a.email } : { email: a.email, name: a.name };
}
