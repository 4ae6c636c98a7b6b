import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { CatalogueError, LANGUAGES, loadCatalogues, negotiateLanguage, regionFromAcceptLanguage, translator } from '../../domain/i18n.js';

// The interface's message catalogues: complete in every language, and every key the code uses exists.

const LOCALES = path.join(APP_ROOT, 'templates', 'locales');
const english = JSON.parse(readFileSync(path.join(LOCALES, 'en.json'), 'utf8')) as Record<string, string>;

/** Every literal message key the views, routes and emails use: t('key'), t.plural('key', …), 'validation.x.y' in the form rules. */
function keysUsedInCode(): Set<string> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ejs|ts)$/.test(entry.name)) files.push(full);
    }
  };
  for (const dir of ['views', 'server', 'domain', 'jobs', path.join('templates', 'emails')]) walk(path.join(APP_ROOT, dir));
  const keys = new Set<string>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bt(?:r\(res\))?(?:\.plural|\.html|\.pluralHtml)?\(\s*'([a-zA-Z]+\.[a-zA-Z.-]+)'/g)) keys.add(m[1]!);
    for (const m of text.matchAll(/'((?:validation|guard|submit|error|email|letter|state)\.[a-zA-Z.-]+)'/g)) {
      if (!/\.(txt|ejs|json|html)$/.test(m[1]!)) keys.add(m[1]!); // file names, not keys
    }
  }
  return keys;
}

describe('the message catalogues', () => {
  it('when every catalogue is read, then each has exactly the English keys with the same placeholders (a missing key fails here, not on a page)', () => {
    const all = loadCatalogues(LOCALES);
    expect([...all.keys()]).toEqual([...LANGUAGES]);
    for (const [lang, cat] of all) {
      expect(Object.keys(cat).sort(), lang).toEqual(Object.keys(english).sort());
      expect(cat['_meta.review'], lang).toMatch(lang === 'en' ? /Source/ : /review/i);
    }
  });

  it('when the code uses a message key, then the catalogue has it (plural keys as .one and .other)', () => {
    const used = keysUsedInCode();
    expect(used.size).toBeGreaterThan(100);
    const missing = [...used].filter((k) => !(k in english) && !(`${k}.one` in english && `${k}.other` in english));
    // Keys built at run time (state.<state>.label) are checked through the delivery states below.
    expect(missing.filter((k) => !k.startsWith('state.'))).toEqual([]);
  });

  it('when a translation lacks a key or changes a placeholder, then reading the catalogues fails naming the language and key', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'locales-'));
    for (const lang of LANGUAGES) writeFileSync(path.join(dir, `${lang}.json`), readFileSync(path.join(LOCALES, `${lang}.json`)));
    const fr = JSON.parse(readFileSync(path.join(LOCALES, 'fr.json'), 'utf8')) as Record<string, string>;
    delete fr['send.button'];
    writeFileSync(path.join(dir, 'fr.json'), JSON.stringify(fr));
    expect(() => loadCatalogues(dir)).toThrow(/fr\.json: missing "send\.button"/);
    const zh = JSON.parse(readFileSync(path.join(LOCALES, 'zh-Hans.json'), 'utf8')) as Record<string, string>;
    zh['sent.heading'] = '谢谢你，{nom}';
    writeFileSync(path.join(dir, 'fr.json'), readFileSync(path.join(LOCALES, 'fr.json')));
    writeFileSync(path.join(dir, 'zh-Hans.json'), JSON.stringify(zh));
    expect(() => loadCatalogues(dir)).toThrow(CatalogueError);
    expect(() => loadCatalogues(dir)).toThrow(/zh-Hans\.json: "sent\.heading" has placeholders \{nom\}/);
  });

  it('when every delivery state is shown to a writer, then each has a label and a meaning in every language', async () => {
    const { DELIVERY_STATES } = await import('../../domain/delivery-states.js');
    for (const lang of LANGUAGES) {
      const t = translator(lang);
      for (const state of DELIVERY_STATES) {
        expect(t(`state.${state}.label`)).not.toBe('');
        expect(t(`state.${state}.meaning`)).not.toBe('');
      }
    }
  });

  it('when a plural message is filled, then the form follows the language and the number is formatted for it', () => {
    expect(translator('en').plural('tally.letters', 1, { goal: '10,000' })).toBe('1 letter written so far, of a goal of 10,000.');
    expect(translator('en').plural('tally.letters', 12_345, { goal: '10,000' })).toBe('12,345 letters written so far, of a goal of 10,000.');
    expect(translator('fr').plural('deleted.cancelled', 0)).toMatch(/^0 /);
    expect(translator('fr').plural('tally.letters', 1234, { goal: '10 000' })).toContain('1\u202f234');
    expect(translator('zh-Hans').plural('tally.letters', 2, { goal: '10,000' })).toMatch(/2/);
  });

  it('when a message is used as HTML, then its text is escaped and only the given HTML is inserted', () => {
    const t = translator('en');
    expect(t.html('status.writtenBy', { name: '<b>Ana</b>', country: 'France', date: 'today', campaign: 'X' })).toBe(
      'Written by <b>Ana</b> (France) on today, for the campaign X.',
    );
    expect(t.html('recipients.noEmbassy', { country: 'A&B' })).toContain('A&B');
    expect(() => t('no.such.key')).toThrow(CatalogueError);
  });
});

describe('choosing the page language', () => {
  it.each([
    ['fr-CA,fr;q=0.9,en;q=0.8', 'fr'],
    ['zh-CN,zh;q=0.9', 'zh-Hans'],
    ['zh-TW', 'zh-Hant'],
    ['zh-HK,en;q=0.5', 'zh-Hant'],
    ['zh-Hant-TW', 'zh-Hant'],
    ['zh', 'zh-Hans'],
    ['de-DE,de;q=0.9,fr;q=0.5', 'fr'],
    ['de-DE', 'en'],
    ['en;q=0.2,fr;q=0.9', 'fr'],
    ['', 'en'],
    ['*', 'en'],
  ])('when the browser asks for "%s", then the page is in %s', (header, lang) => {
    expect(negotiateLanguage(header)).toBe(lang);
  });

  it('when the browser names a region, then it is taken as a guess of the writer country', () => {
    expect(regionFromAcceptLanguage('en-GB,en;q=0.9')).toBe('GB');
    expect(regionFromAcceptLanguage('fr,fr-FR;q=0.9')).toBe('FR');
    expect(regionFromAcceptLanguage('zh-Hant-TW')).toBe('TW');
    expect(regionFromAcceptLanguage('de')).toBeUndefined();
  });
});

describe('a message missing at run time', () => {
  it('when production meets a key no catalogue has, then the page gets the key instead of failing; in tests it throws', async () => {
    const { setStrictMessages } = await import('../../domain/i18n.js');
    try {
      setStrictMessages(false);
      expect(translator('fr')('no.such.key')).toBe('no.such.key');
      setStrictMessages(true);
      expect(() => translator('fr')('no.such.key')).toThrow(CatalogueError);
    } finally {
      setStrictMessages(true);
    }
  });
});
