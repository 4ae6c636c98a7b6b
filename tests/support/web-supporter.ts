import { formEncode } from './forms.js';

// A supporter's browser against a web process running on its own (server/main.ts web): opens the
// campaign page for its hidden fields and cookies, then posts the form, over real HTTP with fetch.

/** What a browser holds after opening the campaign page: the form's hidden fields and the cookies. */
export interface OpenedForm {
  fields: Record<string, string>;
  cookie: string;
}

/** The outcome of one post: the status, the status link's token when accepted (303), and the page's text otherwise. */
export interface PostOutcome {
  status: number;
  token?: string;
  text: string;
  retryAfter?: string | null;
}

/** Reads the form's hidden fields and cookies from a campaign page's HTML and its Set-Cookie headers. */
export function formFromPage(html: string, setCookies: string[], previousCookie = ''): OpenedForm {
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
  const jar = new Map(
    (previousCookie ? previousCookie.split('; ') : []).concat(setCookies.map((c) => c.split(';')[0]!)).map((c) => [c.split('=')[0]!, c] as const),
  );
  return { fields: { _csrf: field('_csrf'), startedAt: field('startedAt'), submission: field('submission') }, cookie: [...jar.values()].join('; ') };
}

/** GET /c/<slug>; throws on any status but 200. */
export async function openForm(base: string, slug: string, cookie = ''): Promise<OpenedForm> {
  const res = await fetch(`${base}/c/${slug}`, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
  const html = await res.text();
  if (res.status !== 200) throw new Error(`GET /c/${slug} answered ${res.status}: ${html.slice(0, 200)}`);
  return formFromPage(html, res.headers.getSetCookie(), cookie);
}

/** POST /c/<slug>/letters with the opened form's hidden fields and cookies, and the letter `form`. */
export async function postForm(base: string, slug: string, opened: OpenedForm, form: Record<string, string | string[]>): Promise<PostOutcome> {
  const res = await fetch(`${base}/c/${slug}/letters`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: opened.cookie },
    body: formEncode({ ...opened.fields, ...form }),
    redirect: 'manual',
  });
  const text = await res.text();
  const location = res.headers.get('location') ?? '';
  const token = res.status === 303 ? /\/letters\/([^/]+)\/sent/.exec(location)?.[1] : undefined;
  return { status: res.status, token, text, retryAfter: res.headers.get('retry-after') };
}

/** Opens the form and posts the letter, as a supporter does. */
export async function writeLetter(base: string, slug: string, form: Record<string, string | string[]>): Promise<PostOutcome> {
  return postForm(base, slug, await openForm(base, slug), form);
}
