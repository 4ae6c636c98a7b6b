import type { HoldKind, SendingControl, SendingStatus } from '../domain/sending-control.js';
import type { Parking } from './parking.js';

// The kill switches as campaigners use them (CLI today, the dashboard later): each lift of a switch
// also releases the letters it parked.

export interface SendingSwitches {
  /** Pauses all sending, across every worker. */
  pauseAll(reason: string): Promise<void>;
  /** Resumes sending and gives parked letters new places in their lines; returns how many. */
  resumeAll(): Promise<number>;
  /** Holds one recipient. */
  hold(campaign: string, targetId: string, reason: string, kind?: HoldKind): Promise<void>;
  /** Releases one recipient and its parked letters; returns how many letters. */
  release(campaign: string, targetId: string): Promise<number>;
  status(campaigns: readonly string[]): Promise<SendingStatus>;
}

/** The switches over the control flags and the parking. Every method fails only when Redis does. */
export function createSendingSwitches(control: SendingControl, parking: Parking): SendingSwitches {
  return {
    pauseAll: (reason) => control.pauseAll(reason),
    async resumeAll() {
      await control.resumeAll();
      return parking.releaseAll();
    },
    hold: (campaign, targetId, reason, kind = 'campaigner') => control.hold(campaign, targetId, kind, reason),
    async release(campaign, targetId) {
      await control.release(campaign, targetId);
      return parking.release(campaign, targetId);
    },
    status: (campaigns) => control.status(campaigns),
  };
}
