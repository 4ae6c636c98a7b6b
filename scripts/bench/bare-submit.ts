import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { z } from 'zod';

// Baseline for the submit benchmark: express parses the form, zod validates it, one BullMQ add
// (ids only), a 303. Nothing else: no CSRF, no limits, no letter record.
//   REDIS_URL=... node --import tsx scripts/bench/bare-submit.ts <port>

const port = Number(process.argv[2]);
const redis = new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
const queue = new Queue('bare-submit', { connection: redis, prefix: '{bench-bare}:bull' });
const form = z.object({
  firstName: z.string().min(1).max(100),
  lastName: z.string().min(1).max(100),
  email: z.email(),
  country: z.string().length(2),
  recipients: z.array(z.string().min(1)).min(1).max(20),
  subject: z.string().min(1).max(200),
  body: z.string().min(1).max(10_000),
});
let n = 0;
const app = express();
app.post('/letters', express.urlencoded({ extended: false, limit: '64kb' }), async (req, res) => {
  const body = req.body as Record<string, unknown>;
  const parsed = form.safeParse({ ...body, recipients: ([] as unknown[]).concat(body.recipients ?? []) });
  if (!parsed.success) return void res.status(400).send('invalid');
  await queue.add('deliver', { letter: String(++n) }, { removeOnComplete: true });
  res.redirect(303, '/thanks');
});
app.get('/healthz', (_req, res) => {
  res.send('ok');
});
const server = app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => void queue.close().then(() => process.exit(0))));
