import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { loadCampaigns } from '../../domain/campaign.js';
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
    expect(resumed.out).toContain('sending resumed; 1 held letters are being given new places in their lines by the worker');
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

  it('when a campaigner imports a good targets CSV, then the rows are added or updated and the campaign loads them; a bad file names its lines and changes nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'campaigns-'));
    cpSync(path.join(APP_ROOT, 'templates', 'campaigns', SHIPPED_CAMPAIGN), path.join(dir, SHIPPED_CAMPAIGN), { recursive: true });
    const targetsFile = path.join(dir, SHIPPED_CAMPAIGN, 'targets.json');
    const original = readFileSync(targetsFile, 'utf8');
    const csv = path.join(dir, 'targets.csv');
    const header = 'id,name,title,institution,email,country,language,salutation,timezone,pacing';
    writeFileSync(
      csv,
      `${header}\nbad id,A,B,C,nope,ZZ,fr,Madame,,\nembassy-nl,H.E. the Ambassador,Ambassador,Embassy in the Netherlands,nl@example.org,NL,en,Your Excellency,Europe/Amsterdam,10/40\nembassy-gb,H.E.,Ambassador,Embassy,gb-new@example.org,GB,en,Your Excellency,,x\n`,
    );
    const ienv = { ...env, CAMPAIGNS_DIR: dir };
    const refused = await runCli(['import-targets', SHIPPED_CAMPAIGN, csv], ienv);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(new RegExp(`targets\\.csv:2: id: .*email: .*country: `));
    expect(refused.out).toMatch(/targets\.csv:4: pacing: /);
    expect(refused.out).toContain('nothing imported: 2 line(s) to fix');
    expect(readFileSync(targetsFile, 'utf8')).toBe(original);

    writeFileSync(
      csv,
      `${header}\nembassy-nl,H.E. the Ambassador,Ambassador,Embassy in the Netherlands,nl@example.org,NL,en,Your Excellency,Europe/Amsterdam,10/40\nembassy-gb,H.E. the Ambassador,Ambassador,Embassy in the UK,gb-new@example.org,GB,en,Your Excellency,,\n`,
    );
    const dry = await runCli(['import-targets', SHIPPED_CAMPAIGN, csv, '--dry-run'], ienv);
    expect(dry.out).toContain('dry run, nothing written: 2 row(s) read: 1 added, 1 updated; the campaign now has 10 target(s)');
    expect(readFileSync(targetsFile, 'utf8')).toBe(original);
    const done = await runCli(['import-targets', SHIPPED_CAMPAIGN, csv], ienv);
    expect(done.code).toBe(0);
    const campaign = loadCampaigns(dir).get(SHIPPED_CAMPAIGN)!;
    expect(campaign.targetById.get('embassy-nl')).toMatchObject({ country: 'NL', pacing: { perHour: 10, perDay: 40 }, timezone: 'Europe/Amsterdam' });
    // An updated row keeps what the CSV cannot carry: the salutations in the other languages.
    expect(campaign.targetById.get('embassy-gb')).toMatchObject({ email: 'gb-new@example.org', salutations: { fr: 'Excellence' } });
    expect(campaign.targets).toHaveLength(10);
    rmSync(dir, { recursive: true, force: true });
  });
});
