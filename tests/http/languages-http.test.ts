import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LANGUAGE_NAMES, LANGUAGES, translator, type Language } from '../../domain/i18n.js';
import { createHarness, eventually, expectStatus, postLetter, SHIPPED_CAMPAIGN, validForm, type Harness } from '../support/harness.js';
import { formEncode, formFields } from '../support/forms.js';
import { recordingTransport } from '../support/recording-transport.js';

// The supporter's pages in every language, the letter's own language, and recipients by country.

let h: Harness;
beforeAll(() => {
  h = createHarness('languages');
});
afterAll(() => h.close());

const page = `/c/${SHIPPED_CAMPAIGN}`;
const escaped = (s: string) => s.replace(/&/g, '&amp;').replace(/'/g, '&#39;').replace(/"/g, '&#34;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const textareaOf = (html: string) => /<textarea id="body"[^>]*>([\s\S]*?)<\/textarea>/.exec(html)?.[1] ?? '';
const langCookie = (lang: Language) => `lang=${encodeURIComponent(lang)}`;

describe('the pages in each language', () => {
  it.each(LANGUAGES)('when a supporter writes with the page in %s, then every page they meet is in that language, with no missing message', async (lang) => {
    const t = translator(lang);
    const campaignPage = await request(h.app).get(`${page}?lang=${lang}`).expect(200);
    expect(campaignPage.text).toContain(`<html lang="${lang}">`);
    expect(campaignPage.text).toContain(escaped(t('write.heading')));
    expect(campaignPage.text).toContain(escaped(t('send.button')));
    expect(campaignPage.headers['content-language']).toBe(lang);
    expect(String(campaignPage.headers['set-cookie'])).toContain(`lang=${encodeURIComponent(lang)}`);

    // The letter in another language than the page: the next one in the list.
    const letterLang = LANGUAGES[(LANGUAGES.indexOf(lang) + 1) % LANGUAGES.length]!;
    const sent = await expectStatus(
      postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: `pages-${lang}@example.net`, letterLanguage: letterLang }), { cookie: langCookie(lang) }),
      303,
    );
    const token = /\/letters\/([^/]+)\/sent/.exec(sent.headers.location!)![1]!;
    const get = (url: string) => request(h.app).get(url).set('Cookie', langCookie(lang));
    const thanks = await get(sent.headers.location!).expect(200);
    expect(thanks.text).toContain(escaped(t('sent.heading', { name: 'Ana' })));
    const status = await get(`/letters/${token}`).expect(200);
    expect(status.text).toContain(escaped(t('status.letterLanguage', { language: LANGUAGE_NAMES[letterLang] })));
    expect(status.text).toContain(escaped(t('state.queued.label')));
    expect((await get(`/letters/${token}/delete`).expect(200)).text).toContain(escaped(t('delete.text')));
    const letterId = (await h.letters.findByToken(token))!;
    const confirmToken = await h.deps.confirmation.mint(letterId, 7);
    expect((await get(`/confirm/${confirmToken}`).expect(200)).text).toContain(escaped(t('confirm.button')));
    expect((await get(`${page}/privacy`).expect(200)).text).toContain(`<html lang="${lang}">`);
    expect((await get('/no-such-page').expect(404)).text).toContain(escaped(t('error.notFound.title')));
    expect((await get('/letters/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').expect(404)).text).toContain(escaped(t('error.letterNotFound.title')));

    const letter = (await h.letters.get(letterId))!;
    expect(letter.letterLanguage).toBe(letterLang);
    expect(letter.pageLanguage).toBe(lang);
  });

  it('when the page is viewed in several languages within the same second, then each shows the counts in its own language', async () => {
    const tallyOf = (html: string) => /<div class="tally"[\s\S]*?<\/div>/.exec(html)?.[0] ?? '';
    for (const lang of LANGUAGES) {
      const tally = tallyOf((await request(h.app).get(`${page}?lang=${lang}`).expect(200)).text);
      expect(tally).toContain(`lang="${lang}"`);
      expect(tally).toContain(escaped(translator(lang)('tally.goalLabel')));
    }
  });

  it('when a page is asked for by a path starting with two slashes, then its language links still lead to this site', async () => {
    for (const path of ['//evil.example/x', '/\\evil.example/x']) {
      const res = await request(h.app).get(path);
      const hrefs = [...res.text.matchAll(/href="([^"]*\?lang=[^"]*)"/g)].map((m) => m[1]!);
      expect(hrefs.length, path).toBeGreaterThan(0);
      for (const href of hrefs) expect(href, path).toMatch(/^\/[^/\\]/);
    }
  });

  it('when the browser prefers Traditional Chinese and no choice was made, then the page is in Traditional Chinese; a chosen language is kept by cookie', async () => {
    const zh = await request(h.app).get(page).set('Accept-Language', 'zh-TW,zh;q=0.9').expect(200);
    expect(zh.text).toContain('<html lang="zh-Hant">');
    expect(zh.headers.vary).toMatch(/Accept-Language/);
    const chosen = await request(h.app).get(`${page}?lang=fr`).set('Accept-Language', 'zh-TW').expect(200);
    const cookie = String(chosen.headers['set-cookie']).split(';')[0]!;
    const again = await request(h.app).get(page).set('Accept-Language', 'zh-TW').set('Cookie', cookie).expect(200);
    expect(again.text).toContain('<html lang="fr">');
    // The switcher offers every language, each link named in its own language.
    for (const l of LANGUAGES) if (l !== 'fr') expect(again.text).toContain(`href="${page}?lang=${l}" lang="${l}" hreflang="${l}">${LANGUAGE_NAMES[l]}</a>`);
  });

  it('when the page is in French, then the prefilled letter is the French one, with the names and the charge in Chinese characters', async () => {
    const fr = await request(h.app).get(`${page}?lang=fr`).expect(200);
    const body = textareaOf(fr.text);
    expect(body).toMatch(/^Je vous écris/);
    for (const s of ['黄雪琴', '王建兵', '煽动颠覆国家政权']) expect(body).toContain(s);
    const hant = textareaOf((await request(h.app).get(`${page}?lang=zh-Hant`).expect(200)).text);
    for (const s of ['黃雪琴', '王建兵', '煽動顛覆國家政權']) expect(hant).toContain(s);
  });

  it('when the page is in French and the letter in Chinese, then the officials receive it with Chinese salutations and closing, and the writer own emails are in French', async () => {
    const transport = recordingTransport();
    const zhBody = (await request(h.app).get(`${page}/letter/zh-Hans.json`).expect(200)).body as { subject: string; body: string };
    const res = await expectStatus(
      postLetter(
        h.app,
        SHIPPED_CAMPAIGN,
        validForm({ email: 'mixed@example.net', letterLanguage: 'zh-Hans', subject: zhBody.subject, body: zhBody.body, recipients: ['gz-psb', 'embassy-fr'] }),
        { cookie: langCookie('fr') },
      ),
      303,
    );
    expect(res.headers.location).toMatch(/\/sent$/);
    h.startWorker(transport);
    const mine = () => transport.sends.filter((s) => s.email.replyTo.email === 'mixed@example.net');
    const sends = await eventually(async () => (mine().length === 2 ? mine() : undefined));
    const psb = sends.find((s) => s.email.to.email === 'gz-psb@example.org')!.email;
    const embassy = sends.find((s) => s.email.to.email === 'embassy-fr@example.org')!.email;
    expect(psb.text.slice(0, 8)).toBe('尊敬的局长：\n\n');
    expect(embassy.text.slice(0, 10)).toBe('尊敬的大使阁下：\n\n');
    for (const email of [psb, embassy]) {
      expect(email.subject).toBe(zhBody.subject);
      expect(email.text).toContain('此致\n敬礼\nAna Lima\n法国');
      for (const s of ['黄雪琴', '王建兵', '煽动颠覆国家政权']) expect(email.html).toContain(s);
      expect(email.html).toContain('<html lang="zh-Hans">');
    }
    // A second letter to the same official is refused; the link to the first goes to the writer in the page's language (French).
    await expectStatus(
      postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ email: 'mixed@example.net', recipients: ['gz-psb'], body: 'Another letter about 黄雪琴 and 王建兵.' }), {
        cookie: langCookie('zh-Hant'),
      }),
      409,
    );
    const toWriter = await eventually(async () => transport.sends.find((s) => s.email.to.email === 'mixed@example.net'));
    const frName = 'Libérez Huang Xueqin et Wang Jianbing';
    expect(toWriter.email.subject).toBe(translator('fr')('email.statusLink.subject', { campaign: frName }));
    expect(toWriter.email.text).toContain(translator('fr')('email.greeting', { name: 'Ana' }));
    await h.closeWorkers();
  });
});

describe('the form without JavaScript', () => {
  const post = async (form: Record<string, string | string[]>, lang: Language = 'en') => {
    const { fields, cookie } = await formFields(h.app, SHIPPED_CAMPAIGN);
    return request(h.app)
      .post(`${page}/letters`)
      .set('Cookie', `${cookie}; ${langCookie(lang)}`)
      .type('form')
      .send(formEncode({ ...fields, ...form }));
  };

  it('when the writer picks another letter language and presses "use this language" before editing, then the prefilled letter is swapped and nothing is sent', async () => {
    const en = await request(h.app).get(`${page}/letter/en.json`).expect(200);
    const before = await h.queue.count();
    const res = await post({ ...validForm({ subject: en.body.subject, body: en.body.body }), letterLanguage: 'zh-Hant', intent: 'letter-language' });
    expect(res.status).toBe(200);
    expect(textareaOf(res.text)).toMatch(/黃雪琴/);
    expect(res.text).toContain('name="firstName" type="text" autocomplete="given-name" maxlength="60" required value="Ana"');
    expect(await h.queue.count()).toBe(before);
  });

  it('when the writer had edited the letter, then changing its language keeps their text and says so', async () => {
    const res = await post(
      { ...validForm({ body: 'My own words about 黄雪琴 and 王建兵, written myself.' }), letterLanguage: 'fr', intent: 'letter-language' },
      'fr',
    );
    expect(res.status).toBe(200);
    expect(textareaOf(res.text)).toBe('My own words about 黄雪琴 and 王建兵, written myself.');
    expect(res.text).toContain(escaped(translator('fr')('letter.languageKept')));
  });

  it('when the writer chooses a country and presses "show the recipients for my country", then its embassy is ticked with the officials', async () => {
    const res = await post({ ...validForm({ recipients: [] as unknown as string }), country: 'GB', intent: 'country' });
    expect(res.status).toBe(200);
    for (const id of ['gz-psb', 'gz-procuratorate', 'gd-womens-prison', 'embassy-gb']) expect(res.text).toMatch(new RegExp(`value="${id}"[^>]* checked>`));
    expect(res.text).not.toMatch(/value="embassy-fr"[^>]* checked>/);
  });
});

describe('recipients by country on the page', () => {
  it('when the writer country has an embassy, then it is ticked under "the embassy in your country"; without one, a sentence says the letter goes to the officials', async () => {
    const gb = await request(h.app).get(`${page}?country=GB`).expect(200);
    expect(gb.text).toMatch(/data-list="your-country">\s*<li data-country="GB">\s*<input type="checkbox" id="r-embassy-gb"[^>]* checked>/);
    expect(gb.text).toMatch(/<p class="hint no-embassy" data-when="no-embassy" hidden>/);
    const br = await request(h.app).get(`${page}?country=BR`).expect(200);
    expect(br.text).toContain(
      `<p class="hint no-embassy" data-when="no-embassy">${escaped(translator('en')('recipients.noEmbassy', { country: 'Brazil' }))}</p>`,
    );
    expect(br.text).not.toMatch(/name="recipients" value="embassy-[a-z]+"[^>]* checked>/);
    // The browser's region is a first guess of the country.
    const fr = await request(h.app).get(page).set('Accept-Language', 'fr-FR,fr;q=0.9').expect(200);
    expect(fr.text).toMatch(/value="embassy-fr"[^>]* checked>/);
  });

  it('when several recipients are chosen, then the preview lists each with the salutation their copy opens with', async () => {
    const res = await request(h.app).get(`${page}?country=GB&lang=fr`).expect(200);
    const rows = [
      ...res.text.matchAll(/<li data-target="([^"]+)">.*?<q class="preview-salutation" data-preview="salutation" lang="fr">([^<]*)<\/q><\/li>/g),
    ].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([
      ['gz-psb', 'Madame la Directrice, Monsieur le Directeur,'],
      ['gz-procuratorate', 'Madame la Procureure en chef, Monsieur le Procureur en chef,'],
      ['gd-womens-prison', expect.stringMatching(/,$/)],
      ['embassy-gb', 'Excellence,'],
    ]);
  });
});
