import type { Express } from 'express';
import request from 'supertest';
// Form bodies as a browser posts them.

/** A valid form body for the shipped campaign, with overrides. */
export function validForm(overrides: Record<string, string | string[]> = {}): Record<string, string | string[]> {
  return {
    firstName: 'Ana',
    lastName: 'Lima',
    email: 'ana.lima@example.net',
    country: 'FR',
    recipients: ['gz-psb', 'gz-procuratorate', 'embassy-fr'],
    subject: 'Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵)',
    body: 'I am writing about Sophia Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵). Please release them.',
    ...overrides,
  };
}

/** Encodes a form body as a browser does (repeated keys for lists). */
export function formEncode(body: Record<string, string | string[]>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) for (const one of Array.isArray(v) ? v : [v]) p.append(k, one);
  return p.toString();
}

/** The hidden fields of the campaign page's form (CSRF token, signed time shown) and the cookies that go with them. */
export async function formFields(app: Express, slug: string, cookie?: string): Promise<{ fields: Record<string, string>; cookie: string }> {
  const get = request(app).get(`/c/${slug}`);
  if (cookie) get.set('Cookie', cookie);
  const page = await get.expect(200);
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page.text)?.[1] ?? '';
  const set = ((page.headers['set-cookie'] as unknown as string[] | undefined) ?? []).map((c) => c.split(';')[0]!);
  const jar = new Map((cookie ? cookie.split('; ') : []).concat(set).map((c) => [c.split('=')[0]!, c] as const));
  return { fields: { _csrf: field('_csrf'), startedAt: field('startedAt'), submission: field('submission') }, cookie: [...jar.values()].join('; ') };
}

/**
 * Posts a letter as a browser does: opens the campaign page first for its hidden fields and cookies,
 * then sends the form. `form` fields override the page's (e.g. a given submission id).
 */
export async function postLetter(
  app: Express,
  slug: string,
  form: Record<string, string | string[]>,
  opts: { cookie?: string } = {},
): Promise<request.Response> {
  const { fields, cookie } = await formFields(app, slug, opts.cookie);
  return request(app)
    .post(`/c/${slug}/letters`)
    .set('Cookie', cookie)
    .type('form')
    .send(formEncode({ ...fields, ...form }));
}

/**
 * Opens the campaign page once and returns a sender that posts its form (with `form` fields over the
 * page's) each time it is called, as a browser does on a second click or after Back.
 */
export async function openPage(app: Express, slug: string): Promise<(form: Record<string, string | string[]>) => request.Test> {
  const { fields, cookie } = await formFields(app, slug);
  return (form) =>
    request(app)
      .post(`/c/${slug}/letters`)
      .set('Cookie', cookie)
      .type('form')
      .send(formEncode({ ...fields, ...form }));
}

/** Awaits a response and fails with its status and the start of its body when the status is not `status`. */
export async function expectStatus(response: Promise<request.Response> | request.Response, status: number): Promise<request.Response> {
  const res = await response;
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${res.text.slice(0, 400)}`);
  return res;
}
