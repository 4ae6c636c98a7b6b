import type { Campaign } from '../../domain/campaign.js';
import { formEncode, validForm } from '../../tests/support/forms.js';
import { seededRandom } from '../../tests/support/seeded-random.js';

// Genuine letter forms for the submit benchmark: each one from its own GET of the campaign page
// (its own CSRF cookie and token, signed "shown at" time and one-time submission id), with a
// distinct supporter, so every POST is a new letter the product accepts.

/** A form ready to post: the encoded body and the Cookie header that goes with it. */
export interface ReadyForm {
  body: string;
  cookie: string;
}

/** Words a supporter's own paragraph is made of (a few hundred, so the paragraphs differ as real ones do). */
const VOCABULARY = (
  'I we you they she he it this that these those my our your their her his its a an the and or but because so if when while ' +
  'although since until after before during about against for with without from into onto over under between among through ' +
  'am is are was were be been being have has had do does did will would shall should can could may might must not never always ' +
  'often sometimes today yesterday tomorrow week month year years family friend friends colleague neighbour teacher student ' +
  'journalist activist lawyer doctor nurse worker workers writer reader mother father sister brother daughter son child children ' +
  'people person community city village country world government official officials authority authorities court prison detention ' +
  'cell sentence trial charge charges law laws right rights freedom justice health safety dignity voice voices speech expression ' +
  'association assembly conscience press news story stories article report reports letter letters message hope hopes fear fears ' +
  'worry concern concerned care careful deeply sincerely truly really simply only also still again already soon now here there ' +
  'read heard learned know knew think thought believe believed feel felt hope hoped ask asked urge urged call called write wrote ' +
  'speak spoke listen listened see saw meet met help helped release released free protect protected respect respected allow ' +
  'allowed visit visited talk talked work worked live lived study studied travel travelled remember remembered share shared ' +
  'peaceful peacefully unjust unfair fair open honest brave kind gentle quiet strong weak ill sick healthy young old new long ' +
  'short many much more most few little some every each other another same different important serious urgent human humane ' +
  'public private local national international independent civil social political medical legal basic simple clear whole ' +
  'morning evening night day days home school university hospital office street library meeting gathering conversation ' +
  'discussion question questions answer answers reason reasons promise promises change changes future past history time ' +
  'thousands hundreds many supporters readers citizens women men girls boys parents grandparents teachers nurses lawyers ' +
  'courage patience compassion kindness solidarity attention response decision mercy understanding cooperation trust'
).split(' ');

/**
 * A supporter's letter of about `bytes` UTF-8 bytes: the campaign's prefilled letter (in its own
 * language, its demands filled in as the form shows it) followed by a personal paragraph of words
 * drawn from a few hundred with a PRNG seeded by `seed`, so every letter is distinct and compresses
 * like a real one. Throws when `bytes` is smaller than the prefilled letter.
 */
export function letterText(campaign: Campaign, bytes: number, seed: number): string {
  const prefilled = campaign.letterBody;
  const room = bytes - Buffer.byteLength(prefilled) - 2;
  if (room < 0) throw new Error(`the prefilled letter is longer than ${bytes} bytes`);
  const random = seededRandom(seed + 1);
  const words: string[] = [];
  let length = 0;
  for (;;) {
    const word = VOCABULARY[Math.floor(random() * VOCABULARY.length)]!;
    const sentenceStart = words.length === 0 || words[words.length - 1]!.endsWith('.');
    const next = sentenceStart ? word[0]!.toUpperCase() + word.slice(1) : word;
    const end = random() < 0.08 ? '.' : '';
    if (length + next.length + end.length + 1 > room) break;
    words.push(next + end);
    length += next.length + end.length + 1;
  }
  let paragraph = words.join(' ');
  paragraph = paragraph.endsWith('.') ? paragraph : `${paragraph.slice(0, Math.max(0, room - 1)).trimEnd()}.`;
  return `${prefilled}\n\n${paragraph}`;
}

/** Fetches `count` pages (`parallel` at a time) and builds one form from each. Throws if a page lacks its fields. */
export async function fetchForms(
  base: string,
  campaign: Campaign,
  count: number,
  recipients: string[],
  bodyBytes: number,
  parallel = 16,
): Promise<ReadyForm[]> {
  const slug = campaign.slug;
  const forms: ReadyForm[] = new Array(count);
  let next = 0;
  const run = Date.now().toString(36);
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        const res = await fetch(`${base}/c/${slug}`);
        const html = await res.text();
        const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
        const [csrf, startedAt, submission] = [field('_csrf'), field('startedAt'), field('submission')];
        if (res.status !== 200 || !csrf || !startedAt || !submission) throw new Error(`the campaign page (${res.status}) has no complete form`);
        const cookie = res.headers
          .getSetCookie()
          .map((c) => c.split(';')[0]!)
          .join('; ');
        const body = formEncode({
          ...validForm({ email: `bench-${run}-${i}@example.net`, recipients, body: letterText(campaign, bodyBytes, i) }),
          _csrf: unescapeHtml(csrf),
          startedAt: unescapeHtml(startedAt),
          submission: unescapeHtml(submission),
        });
        forms[i] = { body, cookie };
      }
    }),
  );
  return forms;
}

/** Undoes ejs's attribute escaping. */
function unescapeHtml(s: string): string {
  return s
    .replace(/&#(x?)([0-9a-f]+);/gi, (_m, hex: string, n: string) => String.fromCodePoint(parseInt(n, hex ? 16 : 10)))
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}
