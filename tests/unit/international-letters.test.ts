import { describe, expect, it } from 'vitest';
import { campaignPhase } from '../../domain/campaign.js';
import { initialFormValues, parseLetterForm } from '../../domain/letter-form.js';
import { createLetterEmailRenderer, letterParts, letterText } from '../../domain/letter-email.js';
import { translator } from '../../domain/i18n.js';
import { defaultRecipients, recipientGroups } from '../../domain/recipient-routing.js';
import path from 'node:path';
import { APP_ROOT } from '../../domain/app-root.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';

// Routing by country, one salutation per recipient, the letter's own language, and campaign dates.

const zhHans = {
  file: {
    review: 'Draft translation: to be reviewed by a native speaker before launch.',
    name: '释放二人',
    headline: '为二人写信',
    summary: '两位人权捍卫者被拘押。',
    background: ['他们被拘押。'],
    demandsIntro: '我们呼吁当局：',
    demands: ['释放他们。', '保障他们会见律师。', '停止骚扰人权捍卫者。'],
    letter: { subject: '关于黄雪琴和王建兵', closing: '此致\n敬礼' },
  },
  letter: '我写信是关于黄雪琴和王建兵，他们被控“煽动颠覆国家政权”罪。\n\n我恳请您：\n{{demands}}',
};
const salutations = (fr: string, zh: string) => ({ fr, 'zh-Hans': zh });
const campaign = fixtureCampaign({}, undefined, { 'zh-Hans': zhHans });
// The same campaign with per-language salutations on its recipients (the fixture's first three).
const localSalutations: Record<string, Record<string, string>> = {
  'gz-psb': salutations('Monsieur le Directeur', '尊敬的局长'),
  'gz-procuratorate': salutations('Monsieur le Procureur', '尊敬的检察长'),
  'embassy-fr': salutations('Excellence', '尊敬的大使阁下'),
};
const withSalutations = fixtureCampaign(
  {},
  campaign.targets.filter((t) => t.id in localSalutations).map((t) => ({ ...t, salutations: localSalutations[t.id] })),
  { 'zh-Hans': zhHans },
);

describe('routing by the writer country', () => {
  it('when the writer is in a country with an embassy on the list, then the officials and that embassy are ticked, and the other embassies stay offered', () => {
    expect(defaultRecipients(campaign, 'GB').map((t) => t.id)).toEqual(['gz-psb', 'gz-procuratorate', 'embassy-gb']);
    const groups = recipientGroups(campaign, 'GB');
    expect(groups.yourCountry.map((t) => t.id)).toEqual(['embassy-gb']);
    expect(groups.others.map((t) => t.id)).toEqual(['embassy-fr']);
    expect(initialFormValues(campaign, { country: 'GB' }).recipients).toEqual(['gz-psb', 'gz-procuratorate', 'embassy-gb']);
  });

  it('when the writer is in a country without an embassy on the list, then only the officials are ticked', () => {
    expect(defaultRecipients(campaign, 'BR').map((t) => t.id)).toEqual(['gz-psb', 'gz-procuratorate']);
    expect(recipientGroups(campaign, 'BR').yourCountry).toEqual([]);
    expect(initialFormValues(campaign, { country: 'XX' }).recipients).toEqual(['gz-psb', 'gz-procuratorate']);
  });

  it('when the writer ticks an embassy of another country, then the letter is still accepted (the choice stays theirs within the list)', () => {
    const r = parseLetterForm(campaign, {
      firstName: 'Ana',
      lastName: 'Lima',
      email: 'ana@example.net',
      country: 'BR',
      recipients: ['embassy-fr'],
      subject: 'About them',
      body: 'I am writing about 黄雪琴 and 王建兵 today.',
    });
    expect(r.ok).toBe(true);
  });
});

describe('one letter per recipient, in the letter language', () => {
  const draft = {
    firstName: 'Ana',
    lastName: 'Lima',
    email: 'ana@example.net',
    country: 'FR',
    recipients: ['gz-psb', 'embassy-fr'],
    subject: 'S',
    body: 'Body about 黄雪琴.',
  };

  it('when one body goes to several recipients, then each copy opens with that recipient salutation in the letter language', () => {
    const en = withSalutations.targets.map((t) => letterParts(withSalutations, t, { ...draft, letterLanguage: 'en' }).salutation);
    expect(en).toEqual(['Dear Director,', 'Dear Chief Procurator,', 'Your Excellency,']);
    const zh = withSalutations.targets.map((t) => letterParts(withSalutations, t, { ...draft, letterLanguage: 'zh-Hans' }).salutation);
    expect(zh).toEqual(['尊敬的局长：', '尊敬的检察长：', '尊敬的大使阁下：']);
  });

  it('when the letter is in Chinese, then the closing and the country are in Chinese, whatever language the page was in', () => {
    const parts = letterParts(withSalutations, withSalutations.targets[0]!, { ...draft, letterLanguage: 'zh-Hans' });
    expect(letterText(parts)).toBe('尊敬的局长：\n\nBody about 黄雪琴.\n\n此致\n敬礼\nAna Lima\n法国');
  });

  it('when a letter names a language the campaign does not have, then the form refuses it in the page language', () => {
    const r = parseLetterForm(campaign, { ...draft, letterLanguage: 'fr', body: 'I am writing about 黄雪琴 and 王建兵 today.' }, translator('fr'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.letterLanguage).toBe(translator('fr')('validation.letterLanguage.invalid'));
  });

  it('when the form has errors and the page is in Traditional Chinese, then the messages are in Traditional Chinese', () => {
    const r = parseLetterForm(campaign, { country: 'FR' }, translator('zh-Hant'));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.firstName).toBe(translator('zh-Hant')('validation.firstName.missing'));
      expect(r.errors.body).toBe(translator('zh-Hant')('validation.body.missing'));
    }
  });

  it('when a Chinese letter is rendered as an email, then the names and the charge reach both parts intact and the footer is in Chinese', () => {
    const render = createLetterEmailRenderer(path.join(APP_ROOT, 'templates', 'emails'), {
      mailFrom: 'letters@example.org',
      publicUrl: 'https://letters.example.org',
    });
    const body = zhHans.letter.replace('{{demands}}', '1. 释放他们。');
    const email = render({
      campaign: withSalutations,
      target: withSalutations.targets[2]!,
      letterId: 'l1',
      letter: { ...draft, subject: '关于黄雪琴和王建兵', body, letterLanguage: 'zh-Hans' },
    });
    for (const part of [email.text, email.html]) {
      expect(part).toContain('黄雪琴');
      expect(part).toContain('王建兵');
      expect(part).toContain('煽动颠覆国家政权');
      expect(part).toContain('尊敬的大使阁下：');
    }
    expect(email.subject).toBe('关于黄雪琴和王建兵');
    expect(email.html).toContain('<html lang="zh-Hans">');
    expect(email.text).toContain(
      translator('zh-Hans')('letter.footer', { writer: 'Ana Lima', country: '法国', site: 'letters.example.org', campaign: '释放二人' }),
    );
    expect(email.from.name).toBe(translator('zh-Hans')('letter.from', { writer: 'Ana Lima', sender: 'Free the Two' }));
  });
});

describe('campaign dates', () => {
  const dated = fixtureCampaign({ opensAt: '2026-12-01', closesAt: '2026-12-31' });
  it('when the date is before the start, on it, on the last day and after it, then the campaign is upcoming, open, open and closed', () => {
    expect(campaignPhase(dated, Date.UTC(2026, 10, 30, 23, 59))).toBe('upcoming');
    expect(campaignPhase(dated, Date.UTC(2026, 11, 1, 0, 0))).toBe('open');
    expect(campaignPhase(dated, Date.UTC(2026, 11, 31, 23, 59))).toBe('open');
    expect(campaignPhase(dated, Date.UTC(2027, 0, 1, 0, 0))).toBe('closed');
  });

  it('when a date-time with an offset is given, then it is taken as written', () => {
    const c = fixtureCampaign({ opensAt: '2026-12-01T09:00:00+01:00' });
    expect(campaignPhase(c, Date.UTC(2026, 11, 1, 7, 59))).toBe('upcoming');
    expect(campaignPhase(c, Date.UTC(2026, 11, 1, 8, 0))).toBe('open');
  });

  it('when the end is not after the start, then the campaign is refused', () => {
    expect(() => fixtureCampaign({ opensAt: '2026-12-02', closesAt: '2026-12-01' })).toThrow(/closesAt: must be later than opensAt/);
  });
});
