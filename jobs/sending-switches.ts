import type { HoldKind, SendingControl, SendingStatus } from '../domain/sending-control.js';
import { requestRelease, type ReleaseRequestDeps } from './release-parked.js';

// The kill switches as campaigners use them (the dashboard and the CLI). Lifting a switch releases
// nothing itself: it queues the release of the letters it parked (release-parked.ts), which the worker
// does in batches, so the request returns at once however many letters were parked; the orphan sweep
// queues it again if that job is lost.

export interface SendingSwitches {
  /** Pauses all sending, across every worker. */
  pauseAll(reason: string): Promise<void>;
  /** Resumes sending and queues the release of every parked letter no hold keeps; returns how many letters that is. */
  resumeAll(): Promise<number>;
  /** Holds one recipient. */
  hold(campaign: string, targetId: string, reason: string, kind?: HoldKind): Promise<void>;
  /** Releases one recipient and queues the release of its parked letters (unless sending is paused); returns how many letters. */
  release(campaign: string, targetId: string): Promise<number>;
  status(campaigns: readonly string[]): Promise<SendingStatus>;
}

/**
 * The switches over the control flags, the parking and the supporter-mail queue (where release jobs go).
 * Every method fails only when Redis does; a switch lifted whose release could not be queued is
 * released by the orphan sweep within minutes.
 */
export function createSendingSwitches(control: SendingControl, releases: Omit<ReleaseRequestDeps, 'control'>): SendingSwitches {
  const deps = { ...releases, control };
  return {
    pauseAll: (reason) => control.pauseAll(reason),
    async resumeAll() {
      await control.resumeAll();
      return requestRelease(deps);
    },
    hold: (campaign, targetId, reason, kind = 'campaigner') => control.hold(campaign, targetId, kind, reason),
    async release(campaign, targetId) {
      await control.release(campaign, targetId);
      return requestRelease(deps, campaign, targetId);
    },
    status: (campaigns) => control.status(campaigns),
  };
}
