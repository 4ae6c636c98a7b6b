import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { runCli } from '../support/processes.js';
import { recordingTransport } from '../support/recording-transport.js';

// The campaigner's command line, run as a process against the same Redis as the tool.

let h: Harness;
let env: Record<string, string>;
beforeAll(() => {
  h = createHarness('cli');
  env = { REDIS_URL: h.t.url, REDIS_PREFIX: h.t.prefix, PACING: 'off' };
});
afterAll(() => h.close());

describe('the CLI', () => {
  it('when a campaigner pauses, letters are held; status says why; resume sends them', async () => {
    expect((await runCli(['pause', 'Checking', 'a', 'complaint'], env)).out).toContain('sending paused');
    const status = await runCli(['status'], env);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^sending: PAUSED since \S+: Checking a complaint$/m);

    const mail = recordingTransport();
    h.startWorker(mail);
    const res = await expectStatus(postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ recipients: ['gz-psb'] })), 303);
    const letterId = (await h.letters.findByToken(/\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!))!;
    await eventually(async () => ((await h.log.get(letterId, 'gz-psb'))!.state === 'held' ? true : undefined));
    expect(mail.sends).toHaveLength(0);

    const resumed = await runCli(['resume'], env);
    expect(resumed.out).toContain('sending resumed; 1 held letters given new places in their lines');
    await eventually(async () => (mail.sends.length === 1 ? true : undefined));
  });

  it('when a recipient is held and released, status and forecast show it', async () => {
    await runCli(['hold', SHIPPED_CAMPAIGN, 'embassy-au', 'Address', 'bounced'], env);
    expect((await runCli(['status'], env)).out).toContain(`held: ${SHIPPED_CAMPAIGN}/embassy-au (campaigner)`);
    const forecast = await runCli(['forecast'], env);
    expect(forecast.out).toMatch(/embassy-au\s+individual\s+0\s+held: Address bounced/);
    expect(forecast.out).toMatch(/gd-womens-prison\s+digest/);
    await runCli(['release', SHIPPED_CAMPAIGN, 'embassy-au'], env);
    expect((await runCli(['status'], env)).out.trim()).toBe('sending: running');
  });

  it('when the command or recipient is wrong, then it exits 2 with the usage', async () => {
    const bad = await runCli(['hold', SHIPPED_CAMPAIGN, 'nobody'], env);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('unknown campaign or recipient');
    const none = await runCli([], env);
    expect(none.code).toBe(2);
    expect(none.out).toContain('usage: npm run cli');
  });
});
