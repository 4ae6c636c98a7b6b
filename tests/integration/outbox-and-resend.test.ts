import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MailTransport } from '../../jobs/transports/mail-transport.js';
import { createOutboxTransport } from '../../jobs/transports/outbox-transport.js';
import { createHarness, eventually, expectStatus, type Harness, postLetter, SHIPPED_CAMPAIGN, validForm } from '../support/harness.js';
import { systemClock } from '../../domain/clock.js';

// The development outbox end to end, and the worker's refusal to send a delivery twice.

let h: Harness;
let sends = 0;
beforeAll(() => {
  h = createHarness('outbox');
  const outbox = createOutboxTransport(h.t.redis, h.t.keys, systemClock);
  const counting: MailTransport = {
    name: 'outbox',
    send: (email) => {
      sends += 1;
      return outbox.send(email);
    },
  };
  h.startWorker(counting);
});
afterAll(() => h.close());

describe('the outbox transport', () => {
  it('when a letter is sent, then /outbox shows each message with its headers and text, escaped', async () => {
    const res = await expectStatus(
      postLetter(h.app, SHIPPED_CAMPAIGN, validForm({ recipients: ['gz-psb', 'embassy-gb'], country: 'GB', lastName: 'Lima <b>bold</b>' })),
      303,
    );
    const token = /\/letters\/([^/]+)\/sent/.exec(res.headers.location!)![1]!;
    await eventually(async () => ((await h.log.counts(SHIPPED_CAMPAIGN)).byState.sent === 2 ? true : undefined));
    const page = await request(h.app).get('/outbox').expect(200);
    expect(page.text).toContain('Development tool');
    expect(page.text).toContain('&lt;gz-psb@example.org&gt;');
    expect(page.text).toContain('&lt;embassy-gb@example.org&gt;');
    expect(page.text).toContain('Reply-To</dt><dd>Ana Lima b bold /b &lt;ana.lima@example.net&gt;');
    expect(page.text).toContain('Your Excellency,');
    expect(page.text).toContain('Ana Lima &lt;b&gt;bold&lt;/b&gt;\nUnited Kingdom');
    expect(page.text).not.toContain('<b>bold</b>');

    const status = await request(h.app).get(`/letters/${token}`).expect(200);
    expect(status.text.match(/badge-sent/g)).toHaveLength(2);
    expect(status.text).toContain('data-final="yes"');
  });

  it('when a job for an already-sent delivery runs again, then nothing is sent twice', async () => {
    const letterId = (await h.log.recent(SHIPPED_CAMPAIGN, 1))[0]!.letterId;
    const before = sends;
    const job = await h.queue.add('deliver', { campaign: SHIPPED_CAMPAIGN, letterId, targetId: 'gz-psb' }, { jobId: 'again' });
    const outcome = await eventually(async () => {
      const j = await h.queue.getJob(job.id!);
      return j === undefined ? true : undefined; // removed on completion
    });
    expect(outcome).toBe(true);
    expect(sends).toBe(before);
  });

  it('when a job names a letter that was deleted, then it fails once with a clear reason and the queue goes on', async () => {
    const job = await h.queue.add('deliver', { campaign: SHIPPED_CAMPAIGN, letterId: 'e'.repeat(32), targetId: 'gz-psb' }, { jobId: 'gone' });
    const failed = await eventually(async () => ((await job.isFailed()) ? await h.queue.getJob(job.id!) : undefined));
    expect(failed!.failedReason).toBe('The letter no longer exists (it was deleted).');
    expect(failed!.attemptsMade).toBe(1);
  });

  it('when the production flag is on, then /outbox does not exist', async () => {
    const prod = createHarness('outbox-prod', {
      env: { NODE_ENV: 'production', SENDGRID_API_KEY: 'SG.x', MAIL_FROM: 'letters@example.org', SESSION_SECRET: 'a-production-secret-of-32-characters!' },
    });
    await request(prod.app).get('/outbox').expect(404);
    await prod.close();
  });
});
