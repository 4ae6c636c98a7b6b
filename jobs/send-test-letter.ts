import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CampaignRegistry } from '../domain/campaign.js';
import type { LetterEmailInput, OutgoingEmail } from '../domain/letter-email.js';
import type { RedisKeys } from '../domain/redis-keys.js';
import type { TestLetterRequest } from './campaigner-actions.js';
import { testLetterJobSchema, type TestLetterJob } from './delivery-queue.js';
import { SendError, type MailTransport } from './transports/mail-transport.js';

// Sends a campaigner's test letter: the campaign's letter exactly as a recipient would get it (its
// salutation, the prefilled text, a sample signature), but to the campaigner's address and with
// "[TEST]" before the subject. The result is written back to the request for the dashboard.

export interface SendTestLetterDeps {
  redis: Redis;
  keys: RedisKeys;
  campaigns: CampaignRegistry;
  transport: MailTransport;
  render: (input: LetterEmailInput) => OutgoingEmail;
  logger: Logger;
}

/** Builds the processor. An expired request fails at once; a permanent refusal is recorded and fails the job. */
export function createSendTestLetterProcessor(deps: SendTestLetterDeps): (job: Job<TestLetterJob>) => Promise<{ sent: string }> {
  return async (job) => {
    const parsed = testLetterJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('Invalid test-letter job payload');
    const key = deps.keys.testLetter(parsed.data.requestId);
    const raw = await deps.redis.get(key);
    if (!raw) throw new UnrecoverableError('The test letter request has expired.');
    const request = JSON.parse(raw) as TestLetterRequest;
    const campaign = deps.campaigns.get(request.campaign);
    const target = campaign?.targetById.get(request.targetId);
    if (!campaign || !target) throw new UnrecoverableError('Unknown campaign or recipient.');
    const email = deps.render({
      campaign,
      target,
      letterId: parsed.data.requestId.padEnd(32, '0'),
      letter: {
        firstName: 'Test',
        lastName: 'Letter',
        email: request.to,
        country: 'GB',
        recipients: [target.id],
        subject: campaign.letter.subject,
        body: campaign.letterBody,
      },
    });
    const test: OutgoingEmail = {
      ...email,
      to: { email: request.to, name: email.to.name },
      subject: `[TEST] ${email.subject}`,
      customArgs: { campaign: campaign.slug, kind: 'test-letter' },
    };
    const save = (result: TestLetterRequest['result']) => deps.redis.set(key, JSON.stringify({ ...request, result }), 'KEEPTTL');
    try {
      const { messageId } = await deps.transport.send(test);
      await save({ ok: true, messageId });
      deps.logger.info({ campaign: campaign.slug, target: target.id }, 'test letter sent');
      return { sent: messageId };
    } catch (err) {
      const reason = err instanceof SendError ? err.reason : (err as Error).message;
      if (err instanceof SendError && err.kind === 'permanent') {
        await save({ ok: false, reason });
        throw new UnrecoverableError(reason);
      }
      throw err;
    }
  };
}
