import { describe, expect, it } from 'vitest';
import { initialFormValues, parseLetterForm } from '../../domain/letter-form.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';
import { validForm } from '../support/forms.js';

const campaign = fixtureCampaign();

describe('the letter form', () => {
  it('when every field is right, then it gives a clean draft with the chosen recipients', () => {
    const r = parseLetterForm(campaign, validForm({ firstName: '  Ana ', email: ' ana.lima@example.net ' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.draft.firstName).toBe('Ana');
    expect(r.draft.email).toBe('ana.lima@example.net');
    expect(r.draft.recipients).toEqual(['gz-psb', 'gz-procuratorate', 'embassy-fr']);
  });

  it('when fields are missing or wrong, then each gets its own message and everything typed is kept', () => {
    const typed = validForm({ firstName: '', email: 'not-an-address', country: 'XX', recipients: [], body: 'Too short' });
    const r = parseLetterForm(campaign, typed);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.keys(r.errors).sort()).toEqual(['body', 'country', 'email', 'firstName', 'recipients']);
    expect(r.errors.email).toMatch(/name@example\.org/);
    expect(r.values.body).toBe('Too short');
    expect(r.values.email).toBe('not-an-address');
    expect(r.values.lastName).toBe('Lima');
  });

  it('when a recipient id is not in the campaign, then the letter is refused naming it', () => {
    const r = parseLetterForm(campaign, validForm({ recipients: ['gz-psb', 'someone-else'] }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.recipients).toMatch(/"someone-else" is not one of this campaign's recipients/);
  });

  it('when a recipient is an email address, then the letter is refused: the form is not a relay', () => {
    const r = parseLetterForm(campaign, validForm({ recipients: ['victim@example.com'] }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.recipients).toMatch(/email addresses cannot be added/);
  });

  it('when the form carries extra address fields (to, cc, bcc), then the letter is refused', () => {
    for (const extra of ['to', 'cc', 'bcc', 'recipientEmail']) {
      const r = parseLetterForm(campaign, { ...validForm(), [extra]: 'victim@example.com' });
      expect(r.ok, extra).toBe(false);
      if (!r.ok) expect(r.errors.form).toContain(extra);
    }
  });

  it('when a name or subject carries a line break, then it is refused so it can never reach a header', () => {
    const r = parseLetterForm(campaign, validForm({ lastName: 'Lima\r\nBcc: victim@example.com', subject: 'Hi\nBcc: x@example.com' }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.lastName).toMatch(/line breaks/);
      expect(r.errors.subject).toMatch(/line breaks/);
    }
  });

  it('when the letter is over the campaign limit, then the message gives the limit', () => {
    const r = parseLetterForm(campaign, validForm({ body: 'x'.repeat(campaign.letter.maxLength + 1) }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.body).toMatch(/2,000 characters or fewer/);
  });

  it('when text arrives decomposed or with CRLF, then it is stored NFC with LF newlines', () => {
    const r = parseLetterForm(campaign, validForm({ firstName: 'Jose\u0301', body: 'First line of my letter\r\nsecond line of my letter' }));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.draft.firstName).toBe('José');
      expect(r.draft.body).toBe('First line of my letter\nsecond line of my letter');
    }
  });

  it('when the same recipient is ticked twice, then it gets one letter', () => {
    const r = parseLetterForm(campaign, validForm({ recipients: ['gz-psb', 'gz-psb'] }));
    expect(r.ok && r.draft.recipients).toEqual(['gz-psb']);
  });

  it('when the page first opens, then the campaign letter and subject are prefilled and the officials ticked', () => {
    const v = initialFormValues(campaign);
    expect(v.body).toBe(campaign.letterBody);
    expect(v.subject).toBe(campaign.letter.subject);
    expect(v.recipients).toEqual(['gz-psb', 'gz-procuratorate']);
  });
});
