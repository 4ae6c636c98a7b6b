import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { createLetterEmailRenderer, letterParts, letterText, safeDisplayName } from '../../domain/letter-email.js';
import type { LetterDraft } from '../../domain/letter-form.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';

const campaign = fixtureCampaign();
const letter: LetterDraft = {
  firstName: 'Ana',
  lastName: 'Lima',
  email: 'ana.lima@example.net',
  country: 'FR',
  recipients: ['gz-psb'],
  subject: 'Release 黄雪琴 and 王建兵',
  body: 'I write about 黄雪琴 and 王建兵.\n\nFirst line\nsecond line <script>alert(1)</script> & more',
};
// The renderer reads two template files once; rendering itself does no I/O.
const render = createLetterEmailRenderer(path.join(APP_ROOT, 'templates', 'emails'), {
  mailFrom: 'letters@example.org',
  publicUrl: 'https://letters.example.org',
});

describe('the email an official receives', () => {
  const email = render({ campaign, target: campaign.targetById.get('embassy-fr')!, letterId: 'a'.repeat(32), letter });

  it('when a supporter writes, then it comes from the campaign sender "via" the campaign, with the supporter in Reply-To', () => {
    expect(email.from).toEqual({ email: 'letters@example.org', name: 'Ana Lima via Free the Two' });
    expect(email.replyTo).toEqual({ email: 'ana.lima@example.net', name: 'Ana Lima' });
    expect(email.to.email).toBe('embassy-fr@example.org');
    expect(email.subject).toBe('Release 黄雪琴 and 王建兵');
  });

  it('when it is rendered, then the text part opens with the recipient salutation and closes with name and country', () => {
    expect(email.text.startsWith('Your Excellency,\n\nI write about 黄雪琴 and 王建兵.')).toBe(true);
    expect(email.text).toContain('Yours sincerely,\nAna Lima\nFrance');
    expect(email.text).toContain('replying reaches Ana Lima directly');
  });

  it('when the letter contains markup, then the HTML part shows it as text, never as markup', () => {
    expect(email.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; more');
    expect(email.html).not.toContain('<script>');
    expect(email.html).toContain('First line<br>second line');
    expect(email.html).toContain('黄雪琴');
  });

  it('when tracking ids are attached, then they are ids only, never personal data', () => {
    expect(email.customArgs).toEqual({ campaign: 'free-the-two', letter: 'a'.repeat(32), target: 'embassy-fr' });
    expect(JSON.stringify(email.customArgs)).not.toMatch(/Ana|Lima|example\.net/);
  });

  it('when a name contains header punctuation, then the display name drops it', () => {
    expect(safeDisplayName('Ana "Boss", <x>; Lima\r\nBcc: y')).toBe('Ana Boss x Lima Bcc: y');
  });

  it('when the preview and the email are built, then they share one text', () => {
    const parts = letterParts(campaign, campaign.targetById.get('gz-psb')!, letter);
    expect(letterText(parts).split('\n')[0]).toBe('Dear Director,');
    expect(parts.paragraphs).toHaveLength(2);
  });
});
