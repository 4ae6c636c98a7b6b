import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { countryName } from '../../domain/countries.js';
import { createDigestRenderer, digestEntry, splitIntoParts, summarise, type DigestEntry, type DigestPart } from '../../domain/digest.js';
import type { StoredLetter } from '../../domain/letter-store.js';
import { fixtureCampaign } from '../support/campaign-fixture.js';

const campaign = fixtureCampaign();
const target = campaign.targetById.get('gz-psb')!;
// The renderer reads its two template files once; rendering itself does no I/O.
const renderer = createDigestRenderer(path.join(APP_ROOT, 'templates', 'emails'), {
  mailFrom: 'letters@example.org',
  publicUrl: 'https://letters.example.org',
});

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 2, 10, 8, 15);

function stored(n: number, firstName: string, lastName: string, country: string, createdAt: number, body: string): StoredLetter {
  return {
    id: n.toString(16).padStart(32, '0'),
    campaign: campaign.slug,
    createdAt,
    deliveries: [],
    firstName,
    lastName,
    email: `${firstName.toLowerCase()}.${n}@example.net`,
    country,
    recipients: ['gz-psb'],
    subject: 'Release 黄雪琴 and 王建兵',
    body,
  };
}

function entry(n: number, country: string, writtenAt: number, body: string, writer = `Writer${n} Surname${n}`): DigestEntry {
  return {
    letterId: n.toString(16).padStart(32, '0'),
    writer,
    country,
    writtenAt,
    subject: 'Release 黄雪琴 and 王建兵',
    body,
    lang: 'en',
    closing: 'Yours sincerely,',
  };
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('a digest entry and the summary of a digest', () => {
  it('when a stored letter joins a digest, then its entry carries the full name, the country name and the writing time', () => {
    const e = digestEntry(stored(1, 'Ana', 'Lima', 'FR', T0, 'Body text'), campaign);
    expect(e).toEqual({
      letterId: '1'.padStart(32, '0'),
      writer: 'Ana Lima',
      country: 'France',
      writtenAt: T0,
      subject: 'Release 黄雪琴 and 王建兵',
      body: 'Body text',
      lang: 'en',
      closing: 'Yours sincerely,',
    });
  });

  it('when letters from several countries are summarised, then it counts the letters, the distinct countries, and the earliest and latest writing times', () => {
    const entries = [
      entry(1, 'France', T0 + 30 * MINUTE, 'a'),
      entry(2, 'United Kingdom', T0 - 90 * MINUTE, 'b'),
      entry(3, 'France', T0 + 26 * 60 * MINUTE, 'c'),
      entry(4, 'Germany', T0, 'd'),
      entry(5, 'United Kingdom', T0 + 5 * MINUTE, 'e'),
    ];
    expect(summarise(entries)).toEqual({ letters: 5, countries: 3, since: T0 - 90 * MINUTE, until: T0 + 26 * 60 * MINUTE });
    expect(summarise(entries.slice(0, 1))).toEqual({ letters: 1, countries: 1, since: T0 + 30 * MINUTE, until: T0 + 30 * MINUTE });
  });
});

describe('splitting a digest into emails under a byte budget', () => {
  // 30 letters in a scrambled order, of very different lengths, one of them larger than the budget on its own.
  const lengths = [
    120, 900, 2400, 40, 1600, 700, 3100, 80, 1300, 2200, 500, 60, 1900, 300, 1000, 2600, 150, 7000, 450, 1200, 880, 35, 2000, 640, 1750, 90, 2900, 410, 1100,
    260,
  ];
  const entries = lengths.map((len, i) => entry(i + 1, i % 3 ? 'France' : 'Brazil', T0 + ((i * 7919) % 30) * MINUTE, 'x'.repeat(len)));
  const sizeOf = (e: DigestEntry) => bytes(e.body) + 150;
  const budget = 5000;
  const overhead = 600;
  const parts = splitIntoParts(entries, budget, sizeOf, overhead);
  const measured = (p: DigestPart) => overhead + p.entries.reduce((sum, e) => sum + sizeOf(e), 0);

  it('when letters are split, then every letter is in exactly one part, and the parts read in writing order', () => {
    const ids = parts.flatMap((p) => p.entries.map((e) => e.letterId));
    expect(ids).toHaveLength(entries.length);
    expect(new Set(ids).size).toBe(entries.length);
    expect([...ids].sort()).toEqual(entries.map((e) => e.letterId).sort());
    const times = parts.flatMap((p) => p.entries.map((e) => e.writtenAt));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('when letters are split, then each part fits the budget, unless it holds one letter that is too large on its own', () => {
    expect(parts.length).toBeGreaterThan(5);
    for (const p of parts) {
      if (p.entries.length > 1) expect(measured(p)).toBeLessThanOrEqual(budget);
      else if (measured(p) > budget) expect(sizeOf(p.entries[0]!) + overhead).toBeGreaterThan(budget);
    }
    const oversized = parts.filter((p) => measured(p) > budget);
    expect(oversized).toHaveLength(1);
    expect(oversized[0]!.entries.map((e) => e.body.length)).toEqual([7000]);
  });

  it('when the oldest letter is too large on its own, then it goes alone in the first part and no part is empty', () => {
    const big = entry(100, 'France', T0 - MINUTE, 'y'.repeat(9000));
    const split = splitIntoParts([...entries.slice(0, 3), big], budget, sizeOf, overhead);
    expect(split.map((p) => p.entries.map((e) => e.letterId))).toEqual([[big.letterId], expect.any(Array)]);
    for (const p of split) expect(p.entries.length).toBeGreaterThan(0);
  });

  it('when letters are split, then no more emails are sent than needed: each part is full up to the next letter', () => {
    for (let i = 0; i + 1 < parts.length; i++) {
      expect(measured(parts[i]!) + sizeOf(parts[i + 1]!.entries[0]!)).toBeGreaterThan(budget);
    }
  });

  it('when letters are split, then the parts are numbered 1 to N and each says N', () => {
    expect(parts.map((p) => p.part)).toEqual(parts.map((_, i) => i + 1));
    for (const p of parts) expect(p.parts).toBe(parts.length);
  });

  it('when the letters all fit, then there is one part of one', () => {
    const small = splitIntoParts(entries.slice(0, 3), 1_000_000, sizeOf, overhead);
    expect(small.map((p) => [p.part, p.parts, p.entries.length])).toEqual([[1, 1, 3]]);
  });
});

describe('the digest email an official receives', () => {
  const letters = [
    entry(1, 'France', T0, 'I write about 黄雪琴 and 王建兵.\n\nPlease act. <script>alert(1)</script> & thank you.', 'Ana Lima'),
    entry(2, 'Brazil', T0 + 45 * MINUTE, 'Second letter, first line\nsecond line.', 'João <b>Silva</b>'),
    entry(3, 'France', T0 + 26 * 60 * MINUTE, 'Third letter.', 'Zoé Martin'),
  ];
  const summary = summarise(letters);
  const period = '2026-03-11';
  // One sending of the period's digest (a job's run), as jobs/send-digest.ts names it.
  const run = `${period}-r1773212400000`;
  const one = renderer.render({ campaign, target, period, run, summary, part: { part: 1, parts: 1, entries: letters } });
  const firstOfTwo = renderer.render({ campaign, target, period, run, summary, part: { part: 1, parts: 2, entries: letters.slice(0, 2) } });
  const secondOfTwo = renderer.render({ campaign, target, period, run, summary, part: { part: 2, parts: 2, entries: letters.slice(2) } });

  it('when a digest is rendered, then it goes to the recipient and opens with its salutation', () => {
    expect(one.to.email).toBe('psb@example.org');
    expect(one.text.startsWith('Dear Director,\n')).toBe(true);
    expect(one.html).toMatch(/<body[^>]*>\s*<div[^>]*>\s*<p[^>]*>Dear Director,<\/p>/);
  });

  it('when a digest is rendered, then its summary states how many letters from how many countries, and over which dates', () => {
    expect(one.subject).toBe('Free the Two: 3 letters from supporters, 2026-03-11');
    for (const body of [one.text, one.html]) {
      expect(body.replace(/<\/?strong>/g, '')).toContain('This email brings you 3 letters from supporters in 2 countries');
      expect(body).toContain('10 March 2026');
      expect(body).toContain('11 March 2026');
    }
  });

  it('when a digest is split, then each part still states the whole digest in its summary', () => {
    expect(secondOfTwo.text).toContain('This email brings you 3 letters from supporters in 2 countries');
  });

  it('when a digest is rendered, then each letter appears with its writer and country', () => {
    expect(one.text).toContain('Letter 1 of 3: from Ana Lima (France)');
    expect(one.text).toContain('Letter 2 of 3: from João <b>Silva</b> (Brazil)');
    expect(one.text).toContain('Letter 3 of 3: from Zoé Martin (France)');
    expect(one.text).toContain('Yours sincerely,\nAna Lima\nFrance');
    expect(one.text).toContain('Yours sincerely,\nZoé Martin\nFrance');
    expect(one.html).toContain('from Ana Lima (France)');
    expect(one.html).toContain('from João &lt;b&gt;Silva&lt;/b&gt; (Brazil)');
    expect(one.html).toContain('from Zoé Martin (France)');
    expect(one.html).toContain('Second letter, first line<br>second line.');
  });

  it('when a letter contains markup, then the HTML part shows it as text, and the text part shows it unchanged', () => {
    expect(one.html).not.toContain('<script>');
    expect(one.html).not.toContain('<b>Silva');
    expect(one.html).toContain('Please act. &lt;script&gt;alert(1)&lt;/script&gt; &amp; thank you.');
    expect(one.text).toContain('Please act. <script>alert(1)</script> & thank you.');
  });

  it('when letters are in Chinese, then the characters arrive intact in subject, text and HTML', () => {
    for (const body of [one.text, one.html]) {
      expect(body).toContain('I write about 黄雪琴 and 王建兵.');
      expect(body).toContain('Release 黄雪琴 and 王建兵');
    }
  });

  it('when a digest has two parts, then the subject and the summary say "part 1 of 2"; a single part says no part', () => {
    expect(firstOfTwo.subject).toBe('Free the Two: 3 letters from supporters, 2026-03-11 (part 1 of 2)');
    expect(secondOfTwo.subject).toBe('Free the Two: 3 letters from supporters, 2026-03-11 (part 2 of 2)');
    expect(firstOfTwo.text).toContain('It is part 1 of 2.');
    expect(firstOfTwo.html).toContain('It is part 1 of 2.');
    expect(firstOfTwo.text).toContain('Letter 2 of 2: from João');
    expect(firstOfTwo.text).not.toContain('Zoé Martin');
    expect(one.subject).not.toMatch(/part/i);
    expect(one.text).not.toMatch(/It is part/);
  });

  it('when tracking ids are attached, then they are ids only (campaign, recipient, digest run of the period, part), never names or emails', () => {
    expect(one.customArgs).toEqual({ campaign: 'free-the-two', target: 'gz-psb', digest: run, part: '1' });
    expect(secondOfTwo.customArgs).toEqual({ campaign: 'free-the-two', target: 'gz-psb', digest: run, part: '2' });
    expect(one.customArgs.digest!.startsWith('2026-03-11')).toBe(true);
    expect(JSON.stringify([one.customArgs, secondOfTwo.customArgs])).not.toMatch(/Ana|Lima|João|Zoé|Director|@|example/);
  });
});

describe('the size of real digest emails', () => {
  // A realistic supporter's letter of about 3,000 characters: the campaign letter, edited, with a
  // personal paragraph, quotation marks, apostrophes, Chinese names, numbered demands and line breaks.
  const personal = [
    "My name is %NAME% and I'm writing from %COUNTRY%, where I've followed Huang Xueqin's work as a journalist for years.",
    'I was shocked to learn that she was sentenced to five years in prison for "inciting subversion of state power" (煽动颠覆国家政权).',
    "Journalists & activists shouldn't be imprisoned for meeting friends to talk about civil society; that isn't a crime anywhere.",
    'My friends and colleagues are following this case closely, and we will keep writing until both of them are free.',
  ];
  function realisticBody(n: number, name: string, country: string): string {
    const paragraphs = [
      'I am writing to you about Sophia Huang Xueqin (黄雪琴), an independent journalist and #MeToo activist, and Wang Jianbing (王建兵), a labour rights activist.',
      'Police in Guangzhou detained them on 19 September 2021, and a month later they were arrested on the charge of "inciting subversion of state power" (煽动颠覆国家政权). On 14 June 2024 they were convicted: Huang Xueqin was sentenced to five years in prison and Wang Jianbing to three years and six months. Their detention is believed to be related to weekly gatherings at which they and others discussed the challenges facing civil society.',
      personal.map((s) => s.replace('%NAME%', name).replace('%COUNTRY%', country)).join('\n'),
      'Huang Xueqin reported on sexual harassment and on the protests in Hong Kong, and she helped many women to speak out about what had happened to them. Wang Jianbing supported workers with occupational diseases and young people with disabilities. Their work made life better for the people around them, and it deserves recognition, not punishment. International human rights law protects the rights to freedom of expression and of peaceful association, and China has committed itself to respect them as a member of the United Nations Human Rights Council.',
      "I am also concerned for Huang Xueqin's health. She was reported to have lost a significant amount of weight in detention and to have been interrogated in the middle of the night.",
      'I respectfully urge you to:\n1. Release Sophia Huang Xueqin and Wang Jianbing immediately and unconditionally.\n2. Pending their release, ensure that they have regular, unrestricted access to their families and to lawyers of their choice, and prompt, adequate and necessary medical treatment, and that they are not subjected to torture or other ill-treatment.\n3. Stop harassing, arresting and threatening other human rights defenders who peacefully exercise their right to freedom of association or other human rights.',
      `This is letter number ${n} from our group. ` + "We'll be watching for your response, and we're grateful for any step you take. ".repeat(3),
      'Thank you for your attention. I look forward to your response.',
    ];
    return paragraphs.join('\n\n');
  }
  const countries = ['FR', 'GB', 'DE', 'BR', 'CA', 'AU', 'JP', 'ZA'];
  const names: [string, string][] = [
    ['Ana', 'Lima'],
    ['Siobhán', "O'Connor-Fitzgerald"],
    ['Jean-Baptiste', 'Lefèvre'],
    ['Chidimma', 'Okonkwo-Adeyemi'],
    ['María José', 'Hernández García'],
  ];
  const letters = Array.from({ length: 40 }, (_, i) => {
    const [first, last] = names[i % names.length]!;
    const code = countries[i % countries.length]!;
    return digestEntry(stored(i + 1, first, last, code, T0 + i * 17 * MINUTE, realisticBody(i + 1, `${first} ${last}`, countryName(code))), campaign);
  });
  const budget = 60_000;
  const { frameBytes, entrySize } = renderer.sizer(campaign, target);

  it("when 40 letters of about 3,000 characters are split with the renderer's own size estimate, then every rendered email stays under the byte budget", () => {
    for (const e of letters) expect(e.body.length).toBeGreaterThan(2500);
    for (const e of letters) expect(e.body.length).toBeLessThan(3500);
    const parts = splitIntoParts(letters, budget, entrySize, frameBytes);
    expect(parts.length).toBeGreaterThan(1);
    const summary = summarise(letters);
    const sizes = parts.map((part) => {
      const email = renderer.render({ campaign, target, period: '2026-03-11', run: '2026-03-11-r1773212400000', summary, part });
      return { part: part.part, letters: part.entries.length, bytes: bytes(email.text) + bytes(email.html) };
    });
    expect(sizes.filter((s) => s.bytes >= budget)).toEqual([]);
  });

  it("when one more letter is added to a part, then the email grows by no more than the renderer's estimate for that letter", () => {
    const summary = summarise(letters);
    const sizeWith = (entries: DigestEntry[]) => {
      const email = renderer.render({
        campaign,
        target,
        period: '2026-03-11',
        run: '2026-03-11-r1773212400000',
        summary,
        part: { part: 1, parts: 2, entries },
      });
      return bytes(email.text) + bytes(email.html);
    };
    const underestimated = [];
    for (let i = 1; i < 10; i++) {
      const grown = sizeWith(letters.slice(0, i + 1)) - sizeWith(letters.slice(0, i));
      const estimate = entrySize(letters[i]!);
      if (grown > estimate) underestimated.push({ letter: i + 1, writer: letters[i]!.writer, grown, estimate });
    }
    expect(underestimated).toEqual([]);
  });

  it('when a part holds no letters, then the email is within the bytes the split allows for its frame', () => {
    const summary = summarise(letters);
    const email = renderer.render({
      campaign,
      target,
      period: '2026-03-11',
      run: '2026-03-11-r1773212400000',
      summary,
      part: { part: 12, parts: 12, entries: [] },
    });
    expect(bytes(email.text) + bytes(email.html)).toBeLessThanOrEqual(frameBytes);
  });
});
