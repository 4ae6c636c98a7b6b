// An optional captcha for campaigns under attack (Cloudflare Turnstile or hCaptcha), off by default.
// The widget runs in the supporter's browser; its answer is verified here, server-side, before a
// letter is accepted.

export interface CaptchaSettings {
  provider: 'turnstile' | 'hcaptcha';
  siteKey: string;
  secret: string;
  verifyUrl: string;
}

/** What the page needs to show the widget: its script, its markup class and the field it posts. */
export const CAPTCHA_WIDGETS = {
  turnstile: {
    script: 'https://challenges.cloudflare.com/turnstile/v0/api.js',
    className: 'cf-turnstile',
    field: 'cf-turnstile-response',
    origin: 'https://challenges.cloudflare.com',
  },
  hcaptcha: { script: 'https://js.hcaptcha.com/1/api.js', className: 'h-captcha', field: 'h-captcha-response', origin: 'https://*.hcaptcha.com' },
} as const;

/** The default verification endpoints. */
export const CAPTCHA_VERIFY_URLS = {
  turnstile: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
  hcaptcha: 'https://api.hcaptcha.com/siteverify',
} as const;

export type CaptchaVerdict = 'passed' | 'failed' | 'unavailable';

/** Verifies a widget's answer with the provider; 'unavailable' when the provider cannot be reached (the form then refuses, fails closed). */
export async function verifyCaptcha(settings: CaptchaSettings, response: unknown, remoteIp: string | undefined, timeoutMs = 5000): Promise<CaptchaVerdict> {
  if (typeof response !== 'string' || response.length === 0 || response.length > 4096) return 'failed';
  const body = new URLSearchParams({ secret: settings.secret, response });
  if (remoteIp) body.set('remoteip', remoteIp);
  try {
    const res = await fetch(settings.verifyUrl, { method: 'POST', body, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return 'unavailable';
    const json = (await res.json()) as { success?: unknown };
    return json.success === true ? 'passed' : 'failed';
  } catch {
    return 'unavailable';
  }
}
