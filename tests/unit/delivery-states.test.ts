import { describe, expect, it } from 'vitest';
import { canApply, DELIVERY_STATES, FINAL_STATES, GLOSSARY, INITIAL_STATES, TRANSITIONS, transitionFor, withdrawnCopy } from '../../domain/delivery-states.js';

describe('the delivery transitions table', () => {
  it('when a letter is accepted, then it starts queued, waiting or in a digest, and every state can be reached from there', () => {
    const reached = new Set<string>(INITIAL_STATES);
    for (let changed = true; changed;) {
      changed = false;
      for (const t of TRANSITIONS) {
        if (t.from.some((f) => reached.has(f)) && !reached.has(t.to)) {
          reached.add(t.to);
          changed = true;
        }
      }
    }
    expect([...reached].sort()).toEqual([...DELIVERY_STATES].sort());
  });

  it('when a delivery is sent, then no sending event can move it again (it is never sent twice)', () => {
    expect(canApply('send-started', 'sent')).toBe(false);
    expect(canApply('send-restarted', 'sent')).toBe(false);
    expect(canApply('provider-accepted', 'sent')).toBe(false);
    expect(canApply('transient-error', 'sent')).toBe(false);
  });

  it("when the provider reports on a digest's letters before they are recorded sent, then the report applies", () => {
    for (const event of ['provider-delivered', 'provider-deferred', 'provider-bounced', 'provider-dropped'] as const)
      expect(canApply(event, 'in-digest')).toBe(true);
  });

  it('when a digest part is refused for good, then its letters can fail from the digest', () => {
    expect(canApply('permanent-error', 'in-digest')).toBe(true);
    expect(transitionFor('permanent-error').to).toBe('failed');
  });

  it('when sending fails for good, then only a campaigner retry can queue it again', () => {
    const leavingFailed = TRANSITIONS.filter((t) => (t.from as readonly string[]).includes('failed'));
    expect(leavingFailed.map((t) => t.event)).toEqual(['campaigner-retry']);
    expect(transitionFor('campaigner-retry').to).toBe('queued');
  });

  it('when a state is shown to people, then it has a label and a meaning', () => {
    for (const s of DELIVERY_STATES) {
      expect(GLOSSARY[s].label.length).toBeGreaterThan(0);
      expect(GLOSSARY[s].meaning.length).toBeGreaterThan(10);
    }
    expect([...FINAL_STATES].sort()).toEqual(['bounced', 'cancelled', 'delivered', 'dropped', 'failed', 'sent']);
  });

  it('when a writer withdraws their letter, then each copy is cancelled or reported, and one the worker or the provider can still move is reported as sent or in flight', () => {
    for (const s of DELIVERY_STATES) {
      const copy = withdrawnCopy(s);
      if (canApply('writer-cancelled', s)) expect(copy, s).toBe('cancelled');
      // Events no person starts: sends ending, the provider's reports. Those copies keep their records on removal.
      const stillMoves = TRANSITIONS.some(
        (t) => (t.from as readonly string[]).includes(s) && !t.event.startsWith('campaigner-') && t.event !== 'writer-cancelled',
      );
      if (!canApply('writer-cancelled', s) && stillMoves) expect(['sent', 'in-flight'], s).toContain(copy);
    }
    expect(withdrawnCopy('deferred')).toBe('sent');
    expect(withdrawnCopy('sending')).toBe('in-flight');
    expect(withdrawnCopy('failed')).toBe('not-sent');
  });
});
