import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { OutgoingEmail } from '../../domain/letter-email.js';
import { SendError, type MailTransport } from './mail-transport.js';

// Sends through the SendGrid v3 Mail Send API with the official client. The base URL can be
// pointed elsewhere (EU data residency, or a local fake in tests).

export interface SendGridSettings {
  apiKey: string;
  /** e.g. https://api.eu.sendgrid.com; undefined keeps the client's default. */
  apiUrl?: string;
  timeoutMs: number;
  /** Validate without sending (mail_settings.sandbox_mode). */
  sandbox: boolean;
}

/** A transport over @sendgrid/mail. Rejects with SendError: 429 rate-limited, 401 account, 400/403/413 permanent, others transient. */
export function createSendGridTransport(settings: SendGridSettings): MailTransport {
  const client = new Client();
  client.setApiKey(settings.apiKey);
  // setApiKey resets the base URL, so the override comes after it.
  if (settings.apiUrl) client.setDefaultRequest('baseUrl', settings.apiUrl);
  // axios reads `timeout` and `maxRedirects` from the default request; the client's types do not list them.
  // The Mail Send API answers directly: a redirect (a wrong SENDGRID_API_URL) is reported, not followed,
  // and without redirects axios uses Node's http module without the follow-redirects wrapper on every send.
  client.setDefaultRequest({ timeout: settings.timeoutMs, maxRedirects: 0 } as unknown as Parameters<Client['setDefaultRequest']>[0]);
  const mail = new MailService();
  mail.setClient(client);

  return {
    name: 'sendgrid',
    async send(email: OutgoingEmail) {
      try {
        const [response] = await mail.send({
          from: email.from,
          replyTo: email.replyTo,
          to: email.to,
          subject: email.subject,
          text: email.text,
          html: email.html,
          customArgs: email.customArgs,
          trackingSettings: {
            clickTracking: { enable: false, enableText: false },
            openTracking: { enable: false },
            subscriptionTracking: { enable: false },
          },
          mailSettings: settings.sandbox ? { sandboxMode: { enable: true } } : undefined,
        });
        const header = response.headers['x-message-id'];
        const messageId = Array.isArray(header) ? header[0] : header;
        return { messageId: typeof messageId === 'string' && messageId ? messageId : `sendgrid-${response.statusCode}` };
      } catch (err) {
        throw classifySendGridError(err);
      }
    },
  };
}

/** Turns what the SendGrid client throws into a SendError with a reason fit to show. */
export function classifySendGridError(err: unknown): SendError {
  const e = err as { code?: unknown; message?: string; response?: { status?: unknown; headers?: Record<string, unknown>; body?: unknown } };
  // The client gives 4xx and 5xx answers their status as `code`; anything else it answers (a redirect) keeps axios's response.
  const status = typeof e.code === 'number' ? e.code : typeof e.response?.status === 'number' ? e.response.status : undefined;
  if (status === undefined) {
    const what = typeof e.code === 'string' ? e.code : (e.message ?? 'unknown error');
    // A refused or unresolved connection sent nothing; a timeout or a reset connection may have.
    const ambiguous = !['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ERR_INVALID_URL'].includes(String(e.code));
    return new SendError('transient', `Could not reach the mail provider (${what}).`, undefined, undefined, ambiguous);
  }
  const detail = providerMessage(e.response?.body);
  const said = detail ? `: ${detail}` : '';
  if (status === 429) {
    const reset = Number(e.response?.headers?.['x-ratelimit-reset']);
    const retryAfterMs = Number.isFinite(reset) && reset > 0 ? Math.max(1000, reset * 1000 - Date.now()) : undefined;
    return new SendError('rate-limited', `The mail provider is limiting the sending rate (429)${said}.`, status, retryAfterMs);
  }
  if (status === 401) return new SendError('account', `The mail provider refused the account's credentials or the account cannot send (401)${said}.`, status);
  if (status === 400 || status === 403 || status === 413) return new SendError('permanent', `The mail provider refused the letter (${status})${said}.`, status);
  return new SendError('transient', `The mail provider had a problem (${status})${said}.`, status, undefined, status === 502 || status === 504);
}

function providerMessage(body: unknown): string {
  const errors = (body as { errors?: { message?: unknown; field?: unknown }[] } | undefined)?.errors;
  if (!Array.isArray(errors)) return '';
  return errors
    .map((x) => [x.field, x.message].filter((v) => typeof v === 'string' && v).join(' '))
    .filter(Boolean)
    .join('; ')
    .slice(0, 300);
}
