import { formEncode, validForm } from '../../tests/support/forms.js';

// Genuine letter forms for the submit benchmark: each one from its own GET of the campaign page
// (its own CSRF cookie and token, signed "shown at" time and one-time submission id), with a
// distinct supporter, so every POST is a new letter the product accepts.

/** A form ready to post: the encoded body and the Cookie header that goes with it. */
export interface ReadyForm {
  body: string;
  cookie: string;
}

/** A letter text of about `bytes` bytes. */
export function letterText(bytes: number): string {
  const sentence = 'I am writing about Sophia Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵). Please release them. ';
  let text = '';
  while (Buffer.byteLength(text + sentence) <= bytes) text += sentence;
  return text.trim();
}

/** Fetches `count` pages (`parallel` at a time) and builds one form from each. Throws if a page lacks its fields. */
export async function fetchForms(base: string, slug: string, count: number, recipients: string[], bodyBytes: number, parallel = 16): Promise<ReadyForm[]> {
  const text = letterText(bodyBytes);
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
          ...validForm({ email: `bench-${run}-${i}@example.net`, recipients, body: text }),
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
