import { describe, expect, it } from 'vitest';
import { mergeTargets, parseTargetsCsv } from '../../domain/target-import.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';

// Importing recipients from a CSV file: all rows or none, every bad row named by its line.

const HEADER = 'id,name,title,institution,email,country,language,salutation,timezone,pacing';
const GOOD = [
  HEADER,
  'embassy-tw,The Representative,Representative,"Taipei Office, Taiwan",tw@example.org,TW,zh-Hant,Dear Representative,Asia/Taipei,10/50',
  'embassy-ca,H.E. the Ambassador,Ambassador,Embassy in Canada,ca@example.org,CA,en,Your Excellency,,',
  'gz-psb,The Director,Director,Guangzhou Public Security Bureau,psb-new@example.org,all,zh-Hans,Dear Director,Asia/Shanghai,none/20',
].join('\n');

describe('importing targets from CSV', () => {
  it('when every row is valid, then each becomes a target, with quoted commas, empty defaults and "none" limits read as written', () => {
    const r = parseTargetsCsv(`\uFEFF${GOOD}\r\n`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.targets.map((t) => t.id)).toEqual(['embassy-tw', 'embassy-ca', 'gz-psb']);
    expect(r.targets[0]).toMatchObject({ institution: 'Taipei Office, Taiwan', country: 'TW', timezone: 'Asia/Taipei', pacing: { perHour: 10, perDay: 50 } });
    expect(r.targets[1]!.timezone).toBeUndefined();
    expect(r.targets[1]!.pacing).toBeUndefined();
    expect(r.targets[2]!.pacing).toEqual({ perHour: null, perDay: 20 });
  });

  it('when rows are wrong, then every bad row is reported with its line number and nothing is returned', () => {
    const bad = [
      HEADER,
      'ok-one,A,B,C,a@example.org,FR,fr,Madame,,',
      'Bad Id,A,B,C,b@example.org,FR,fr,Madame,,',
      'two,A,B,C,not-an-email,FR,fr,Madame,,',
      'three,A,B,C,c@example.org,Narnia,fr,Madame,,',
      'four,A,B,C,d@example.org,FR,fr,Madame,Mars/Olympus,',
      'five,A,B,C,e@example.org,FR,fr,Madame,,ten per hour',
      'ok-one,A,B,C,f@example.org,FR,fr,Madame,,',
    ].join('\n');
    const r = parseTargetsCsv(bad);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.line)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(r.problems[0]!.message).toMatch(/^id:/);
    expect(r.problems[1]!.message).toMatch(/^email:/);
    expect(r.problems[2]!.message).toMatch(/^country:/);
    expect(r.problems[3]!.message).toMatch(/^timezone:/);
    expect(r.problems[4]!.message).toMatch(/^pacing:/);
    expect(r.problems[5]!.message).toBe('id: "ok-one" is already used on line 2');
  });

  it('when a row spans two lines (a quoted line break), then the next rows keep their true line numbers', () => {
    const r = parseTargetsCsv([HEADER, 'one,A,B,"Office\nSecond line",a@example.org,FR,fr,Madame,,', 'two,A,B,C,bad,FR,fr,Madame,,'].join('\n'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toEqual([{ line: 4, message: expect.stringMatching(/^email:/) }]);
  });

  it('when a column is missing or unknown, then the header line is reported', () => {
    const r = parseTargetsCsv('id,name,title,institution,email,country,salutation,fax\nx,A,B,C,a@example.org,FR,Madame,1');
    expect(r).toEqual({ ok: false, problems: [{ line: 1, message: expect.stringMatching(/missing column\(s\): language; unknown column\(s\): fax/) }] });
    expect(parseTargetsCsv(HEADER)).toEqual({ ok: false, problems: [{ line: 1, message: 'the file has a header but no targets' }] });
  });

  it('when imported rows meet an existing list, then same ids are updated (keeping other-language salutations), new ids added, others kept', () => {
    const campaign = fixtureCampaign({}, [
      {
        id: 'gz-psb',
        name: 'Old',
        title: 'Director',
        institution: 'PSB',
        email: 'old@example.org',
        country: 'all',
        salutation: 'Dear Director',
        salutations: { fr: 'Monsieur le Directeur' },
        language: 'zh-Hans',
        timezone: 'Asia/Shanghai',
      },
      {
        id: 'embassy-gb',
        name: 'HE',
        title: 'Ambassador',
        institution: 'Embassy',
        email: 'gb@example.org',
        country: 'GB',
        salutation: 'Your Excellency',
        language: 'en',
      },
    ]);
    const r = parseTargetsCsv(GOOD);
    if (!r.ok) throw new Error('fixture CSV should parse');
    const merged = mergeTargets(campaign.targets, r.targets);
    expect(merged).toMatchObject({ added: 2, updated: 1 });
    expect(merged.targets.map((t) => t.id)).toEqual(['gz-psb', 'embassy-gb', 'embassy-tw', 'embassy-ca']);
    expect(merged.targets[0]).toMatchObject({
      email: 'psb-new@example.org',
      salutations: { fr: 'Monsieur le Directeur' },
      pacing: { perHour: null, perDay: 20 },
    });
    expect(mergeTargets(campaign.targets, r.targets, true).targets.map((t) => t.id)).toEqual(['embassy-tw', 'embassy-ca', 'gz-psb']);
  });

  it('when a recipient who gets a daily digest is updated from a CSV, then it still gets its digest (a CSV cannot say how a recipient is written to)', () => {
    const campaign = fixtureCampaign({}, [
      {
        id: 'gz-psb',
        name: 'Old',
        title: 'Director',
        institution: 'PSB',
        email: 'old@example.org',
        country: 'all',
        salutation: 'Dear Director',
        language: 'zh-Hans',
        delivery: 'digest',
        digest: { at: '09:00', days: ['mon', 'wed'] },
      },
    ]);
    const r = parseTargetsCsv(GOOD);
    if (!r.ok) throw new Error('fixture CSV should parse');
    const psb = mergeTargets(campaign.targets, r.targets).targets.find((t) => t.id === 'gz-psb');
    expect(psb).toMatchObject({ email: 'psb-new@example.org', delivery: 'digest', digest: { at: '09:00', days: ['mon', 'wed'] } });
    // A new recipient from a CSV is written to one letter at a time.
    expect(mergeTargets(campaign.targets, r.targets).targets.find((t) => t.id === 'embassy-ca')).toMatchObject({ delivery: 'individual' });
  });
});
