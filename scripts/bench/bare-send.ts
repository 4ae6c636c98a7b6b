import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';

// Baseline for the drain benchmark: a bare loop of sgMail.send (the real client, configured as the
// product's transport is) to the fake provider, `concurrency` in flight; writes {sends, seconds, cpuMs}.
// Each send carries the content of one request the product made (the same subject, text and HTML
// bytes), so both sides send messages of the same size; only the Reply-To and custom args vary.
//   node --import tsx scripts/bench/bare-send.ts <apiUrl> <apiKey> <count> <concurrency> <sampleFile> <resultFile>

const [apiUrl, apiKey, count, concurrency, sampleFile, resultFile] = process.argv.slice(2) as [string, string, string, string, string, string];
const client = new Client();
client.setApiKey(apiKey);
client.setDefaultRequest('baseUrl', apiUrl);
// As the product's transport: the default SEND_TIMEOUT_MS, no redirects followed.
client.setDefaultRequest({ timeout: 15_000, maxRedirects: 0 } as unknown as Parameters<Client['setDefaultRequest']>[0]);
const mail = new MailService();
mail.setClient(client);

interface Address {
  email: string;
  name?: string;
}
// The product's request, in the Mail Send API's own (snake_case) shape.
const sample = JSON.parse(readFileSync(sampleFile, 'utf8')) as {
  from: Address;
  personalizations: { to: Address[] }[];
  subject: string;
  content: { type: string; value: string }[];
};
const text = sample.content.find((c) => c.type === 'text/plain')!.value;
const html = sample.content.find((c) => c.type === 'text/html')!.value;

let next = 0;
const total = Number(count);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (next < total) {
      const i = next++;
      await mail.send({
        from: sample.from,
        replyTo: { email: `ana${i}@example.net`, name: 'Ana Lima' },
        to: sample.personalizations[0]!.to[0]!,
        subject: sample.subject,
        text,
        html,
        customArgs: { letter: String(i), target: 'gz-psb', campaign: 'bench' },
        trackingSettings: { clickTracking: { enable: false, enableText: false }, openTracking: { enable: false }, subscriptionTracking: { enable: false } },
      });
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
writeFileSync(resultFile, JSON.stringify({ sends: total, seconds: (performance.now() - t0) / 1000, cpuMs: (cpu.user + cpu.system) / 1000 }));
