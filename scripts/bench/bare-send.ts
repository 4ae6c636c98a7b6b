import { writeFileSync } from 'node:fs';
import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';

// Baseline for the drain benchmark: a bare loop of sgMail.send (the real client, configured as the
// product's transport is) to the fake provider, `concurrency` in flight; writes {sends, seconds}.
//   node --import tsx scripts/bench/bare-send.ts <apiUrl> <apiKey> <count> <concurrency> <resultFile>

const [apiUrl, apiKey, count, concurrency, resultFile] = process.argv.slice(2) as [string, string, string, string, string];
const client = new Client();
client.setApiKey(apiKey);
client.setDefaultRequest('baseUrl', apiUrl);
// As the product's transport: no redirects followed (axios then skips its follow-redirects wrapper).
client.setDefaultRequest({ maxRedirects: 0 } as unknown as Parameters<Client['setDefaultRequest']>[0]);
const mail = new MailService();
mail.setClient(client);
const text = 'Dear Director,\n\n' + 'I am writing about Huang Xueqin and Wang Jianbing. Please release them. '.repeat(28) + '\n\nAna Lima, France';

let next = 0;
const total = Number(count);
const t0 = performance.now();
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (next < total) {
      const i = next++;
      await mail.send({
        from: { email: 'letters@example.org', name: 'Ana Lima via Free Huang Xueqin' },
        replyTo: { email: `ana${i}@example.net`, name: 'Ana Lima' },
        to: { email: 'gz-psb@example.org', name: 'The Director' },
        subject: 'Huang Xueqin and Wang Jianbing',
        text,
        html: `<p>${text}</p>`,
        customArgs: { letter: String(i), target: 'gz-psb', campaign: 'bench' },
        trackingSettings: { clickTracking: { enable: false, enableText: false }, openTracking: { enable: false }, subscriptionTracking: { enable: false } },
      });
    }
  }),
);
writeFileSync(resultFile, JSON.stringify({ sends: total, seconds: (performance.now() - t0) / 1000 }));
