import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LetterDraft } from '../../domain/letter-form.js';
import { SubmissionUnavailableError, submitLetter } from '../../domain/letter-submission.js';
import { SubmissionGuard } from '../../domain/submission-guard.js';
import { createHarness, SHIPPED_CAMPAIGN, type Harness } from '../support/harness.js';

// "One letter per recipient" claims left behind by a request that died between claiming and storing
// its letter: they hold for a short grace period (so a request still storing is not overtaken), then
// the supporter can write again. Real Redis, the real letter store, a grace period of one second.

const GRACE_MS = 1000;

let h: Harness;
beforeAll(() => {
  h = createHarness('stale-claims');
  h.deps.guard = new SubmissionGuard(h.t.redis, h.t.keys, GRACE_MS);
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => h.close());

const campaign = () => h.campaigns.get(SHIPPED_CAMPAIGN)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A letter as the form's parser hands it on. */
const draft = (email: string, overrides: Partial<LetterDraft> = {}): LetterDraft => ({
  firstName: 'Ana',
  lastName: 'Lima',
  email,
  country: 'GB',
  recipients: ['embassy-gb'],
  subject: 'Huang Xueqin and Wang Jianbing',
  body: 'I am writing about Sophia Huang Xueqin and Wang Jianbing. Please release them.',
  ...overrides,
});

/** The web process "dies" after the claims: storing the letter fails and so does every clean-up (Redis gone). */
function crashAfterAdmission(): void {
  const lost = new Error('Connection is closed.');
  vi.spyOn(h.letters, 'create').mockRejectedValueOnce(lost);
  vi.spyOn(h.deps.guard, 'releaseRecipients').mockRejectedValueOnce(lost);
  vi.spyOn(h.deps.guard, 'abandonSubmission').mockRejectedValueOnce(lost);
}

/** Holds the next letter's storing back until the returned function is called (a request stalled between its claims and its letter). */
function holdBackStoring(): () => void {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const create = h.letters.create.bind(h.letters);
  vi.spyOn(h.letters, 'create').mockImplementationOnce(async (...args) => {
    await gate;
    return create(...args);
  });
  return release;
}

describe('a request that died between claiming a recipient and storing its letter', () => {
  it('when the grace period has passed, then the same page sent again makes the letter, to that recipient', async () => {
    crashAfterAdmission();
    const d = draft('crashed@example.net');
    await expect(submitLetter(h.deps, campaign(), d, 'crashed-submission-0001')).rejects.toBeInstanceOf(SubmissionUnavailableError);
    await sleep(GRACE_MS + 100);

    const again = await submitLetter(h.deps, campaign(), d, 'crashed-submission-0001');
    expect(again.kind).toBe('accepted');
    const letter = await h.letters.get((again as { letterId: string }).letterId);
    expect(letter?.recipients).toEqual(['embassy-gb']);
    expect(letter?.email).toBe('crashed@example.net');
  });

  it('when the grace period has passed, then a fresh page from the same supporter makes the letter too', async () => {
    crashAfterAdmission();
    const email = 'crashed-fresh@example.net';
    await expect(submitLetter(h.deps, campaign(), draft(email, { recipients: ['embassy-us'] }), 'crashed-submission-0002')).rejects.toBeInstanceOf(
      SubmissionUnavailableError,
    );
    await sleep(GRACE_MS + 100);

    const fresh = await submitLetter(h.deps, campaign(), draft(email, { recipients: ['embassy-us'] }), 'fresh-submission-00002');
    expect(fresh.kind).toBe('accepted');
    // And the rule holds again for the letter now stored.
    await sleep(GRACE_MS + 100);
    const third = await submitLetter(h.deps, campaign(), draft(email, { recipients: ['embassy-us'], body: 'Yet another letter to the same embassy.' }));
    expect(third).toMatchObject({ kind: 'already-wrote', taken: [{ targetId: 'embassy-us', letterId: (fresh as { letterId: string }).letterId }] });
  });

  it('when the first request is still storing its letter, then a second letter to that recipient is refused and only the first is kept', async () => {
    const email = 'slow@example.net';
    const storing = holdBackStoring();
    const first = submitLetter(h.deps, campaign(), draft(email, { recipients: ['embassy-de'] }), 'slow-submission-000001');
    await sleep(GRACE_MS / 2);

    const second = await submitLetter(h.deps, campaign(), draft(email, { recipients: ['embassy-de'], body: 'A second letter while the first is stored.' }));
    expect(second.kind).toBe('already-wrote');
    storing();
    expect((await first).kind).toBe('accepted');
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(Object.values(counts.byTarget['embassy-de'] ?? {}).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('when a request stalls past the grace period and another letter to the same recipient is accepted meanwhile, then the stalled letter is discarded unsent: one letter to that recipient', async () => {
    const email = 'stalled@example.net';
    const storing = holdBackStoring();
    const first = submitLetter(h.deps, campaign(), draft(email, { recipients: ['embassy-ca'] }), 'stalled-submission-0001');
    await sleep(GRACE_MS + 300);
    const second = await submitLetter(h.deps, campaign(), draft(email, { recipients: ['embassy-ca'], body: 'Written again after the first seemed lost.' }));
    expect(second.kind).toBe('accepted');
    storing();
    await expect(first).rejects.toBeInstanceOf(SubmissionUnavailableError);
    const counts = await h.log.counts(SHIPPED_CAMPAIGN);
    expect(Object.values(counts.byTarget['embassy-ca'] ?? {}).reduce((a, b) => a + b, 0)).toBe(1);
    // No job was queued for the stalled letter: only the second one's.
    const jobs = await h.queue.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(jobs.filter((j) => (j.data as { t?: string }).t === 'embassy-ca')).toHaveLength(1);
  });

  it('when a letter is stored, then its claims rest on the letter alone: nothing of the admission is left in Redis', async () => {
    const result = await submitLetter(h.deps, campaign(), draft('stored@example.net', { recipients: ['embassy-au'] }), 'stored-submission-00001');
    expect(result.kind).toBe('accepted');
    if (result.kind !== 'accepted') return;
    expect(await h.t.redis.exists(h.t.keys.admitting(result.letterId))).toBe(0);
  });
});
