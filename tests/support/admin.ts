import request from 'supertest';
import type { Express } from 'express';

// Logging in to the dashboard as a campaigner would, for HTTP tests.

export const TEST_ADMIN_PASSWORD = 'correct horse battery staple';
/** Harness env that turns the dashboard on with TEST_ADMIN_PASSWORD. */
export const ADMIN_ENV = { ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' };

/** The CSRF token and cookies of a page's form. */
export function csrfFrom(res: request.Response): { token: string; cookies: string[] } {
  const token = /name="_csrf" value="([^"]+)"/.exec(res.text)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  const cookies = ((res.headers['set-cookie'] as unknown as string[] | undefined) ?? []).map((c) => c.split(';')[0]!);
  return { token, cookies };
}

/** A supertest agent logged in to the dashboard (it keeps its cookies). */
export async function loginAsAdmin(app: Express, password = TEST_ADMIN_PASSWORD) {
  const agent = request.agent(app);
  const page = await agent.get('/admin/login').expect(200);
  const { token } = csrfFrom(page);
  await agent.post('/admin/login').type('form').send({ _csrf: token, password, next: '/admin' }).expect(303);
  return agent;
}

/** A fresh CSRF token for the logged-in agent, read from a dashboard page. */
export async function adminCsrf(agent: ReturnType<typeof request.agent>, page = '/admin'): Promise<string> {
  const res = await agent.get(page).redirects(1).expect(200);
  return csrfFrom(res).token;
}
