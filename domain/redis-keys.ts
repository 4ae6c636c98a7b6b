// Every Redis key the application writes, in one place. All keys share one hash tag ({prefix}),
// so the Lua scripts and MULTI blocks that touch several of them also run on a Redis Cluster.

/** The key names for one deployment (or one test), derived from its prefix. */
export interface RedisKeys {
  /** The BullMQ prefix, carrying the same hash tag. */
  readonly bullPrefix: string;
  /** Hash: one letter and the delivery record of each of its recipients. */
  letter(letterId: string): string;
  /** String: the letter id a status-link token (by its hash) opens (tokens made before tokens named their letter). */
  token(tokenHash: string): string;
  /** String: a preset dictionary letter texts are compressed with (a campaign's prefilled letter), by its content hash; never deleted. */
  textDictionary(id: string): string;
  /** Hash: a campaign's counters (letters, deliveries, per state, per target and state). */
  counts(campaign: string): string;
  /** Stream: a campaign's capped, append-only log of every delivery transition. */
  events(campaign: string): string;
  /** Hash: a campaign's time buckets: letters written and deliveries entering each state, per hour (h<n>:x) and per day (d<n>:x); the hourly retention job deletes those the dashboard no longer shows (older than 48 hours, 366 days). */
  stats(campaign: string): string;
  /** Hash: one clock hour's per-minute counts (field "<minute>:<state>", and "<minute>:written"); expires after two hours. */
  minutes(campaign: string, hour: number): string;
  /** List: a campaign's latest failures and bounces (newest first, capped). */
  problems(campaign: string): string;
  /** Set: a recipient's letters that failed, bounced or were dropped (for "retry all"). */
  failed(campaign: string, targetId: string): string;
  /** Sorted set: a campaign's letters by the time they were written (for export). */
  letterIndex(campaign: string): string;
  /** List: messages kept by the outbox transport (development only). */
  outbox(): string;
  /** Hash: deployment-wide switches (the global pause and its reason). */
  control(): string;
  /** Hash: a campaign's held recipients (target id to the hold's kind, reason and time). */
  holds(campaign: string): string;
  /** Hash: a recipient's pacing state (the last reserved send slot, its local day and the day's count). */
  pace(campaign: string, targetId: string): string;
  /** Sorted set: a recipient's actual send times in the last hour; hash beside it: sends per local day (today and the previous day sent on; older days are dropped as a new one starts). */
  sends(campaign: string, targetId: string): string;
  sendsPerDay(campaign: string, targetId: string): string;
  /** Sorted set: letters parked for a recipient while sending is paused or the recipient held (score: time parked). */
  parked(campaign: string, targetId: string): string;
  /** Sorted set: a campaign's letters given back to their line after a hold (score: time released), for the orphan sweep; trimmed to a day. */
  releases(campaign: string): string;
  /** String: where the orphan sweep stopped in the delivery queue's failed set (the finish time and id of the last failed job it looked at). */
  orphanSweepFailedCursor(): string;
  /** Sorted set: letters waiting for a recipient's next digest (score: time accepted). */
  digestPending(campaign: string, targetId: string): string;
  /** Hash: the parts of one digest run already sent (part number to message id and letter ids), and `<n>:sending` to the letters of a part being sent. */
  digestParts(campaign: string, targetId: string, period: string): string;
  /**
   * Set: letters of a recipient's digest that may already have reached the official (a part carrying them was handed
   * to the provider without a clear answer); whichever run sends them next flags them as possibly arriving twice.
   */
  digestMaybeSent(campaign: string, targetId: string): string;
  /** String: a form submission already handled (by the hash of its one-time id). */
  submission(hash: string): string;
  /** Hash: the letters a supporter (by the hash of their email) wrote in a campaign, by recipient id (one letter per recipient). */
  writer(campaign: string, supporterHash: string): string;
  /** String: a letter admitted but perhaps not stored yet; while it lives (a short grace period) its claims hold without the letter. */
  admitting(letterId: string): string;
  /** String: the letter a confirmation link (by the hash of its token) confirms; expires with the offer. */
  confirm(hash: string): string;
  /** String: a campaigner's dashboard session (by the hash of its id). */
  adminSession(hash: string): string;
  /** The prefix of the public form's submission limits (rate-limiter-flexible adds ":ip:<hash>" or ":email:<hash>"). */
  readonly formLimits: string;
  /** The prefix of the login-failure counters (rate-limiter-flexible adds the IP). */
  readonly loginFailures: string;
  /** String: a test letter requested from the dashboard (the address it goes to), by request id. */
  testLetter(id: string): string;
  /** Set: the provider events (by event id) already applied, of one hour of their own time (hours since the epoch). */
  providerEvents(hour: number): string;
}

/** Builds the key names under `prefix` (letters, digits, dashes). */
export function redisKeys(prefix: string): RedisKeys {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(prefix)) throw new Error(`invalid Redis key prefix: ${prefix}`);
  const p = `{${prefix}}`;
  return {
    bullPrefix: `${p}:bull`,
    letter: (id) => `${p}:letter:${id}`,
    token: (hash) => `${p}:token:${hash}`,
    textDictionary: (id) => `${p}:text-dictionary:${id}`,
    counts: (campaign) => `${p}:campaign:${campaign}:counts`,
    events: (campaign) => `${p}:campaign:${campaign}:events`,
    stats: (campaign) => `${p}:campaign:${campaign}:stats`,
    problems: (campaign) => `${p}:campaign:${campaign}:problems`,
    minutes: (campaign, hour) => `${p}:campaign:${campaign}:minutes:${hour}`,
    failed: (campaign, target) => `${p}:campaign:${campaign}:failed:${target}`,
    letterIndex: (campaign) => `${p}:campaign:${campaign}:letters`,
    outbox: () => `${p}:outbox`,
    control: () => `${p}:control`,
    holds: (campaign) => `${p}:campaign:${campaign}:holds`,
    pace: (campaign, target) => `${p}:campaign:${campaign}:pace:${target}`,
    sends: (campaign, target) => `${p}:campaign:${campaign}:sends:${target}`,
    sendsPerDay: (campaign, target) => `${p}:campaign:${campaign}:sends-per-day:${target}`,
    parked: (campaign, target) => `${p}:campaign:${campaign}:parked:${target}`,
    releases: (campaign) => `${p}:campaign:${campaign}:releases`,
    orphanSweepFailedCursor: () => `${p}:orphan-sweep:failed-cursor`,
    digestPending: (campaign, target) => `${p}:campaign:${campaign}:digest:${target}:pending`,
    digestParts: (campaign, target, period) => `${p}:campaign:${campaign}:digest:${target}:${period}:parts`,
    digestMaybeSent: (campaign, target) => `${p}:campaign:${campaign}:digest:${target}:maybe-sent`,
    submission: (hash) => `${p}:submission:${hash}`,
    adminSession: (hash) => `${p}:admin-session:${hash}`,
    confirm: (hash) => `${p}:confirm:${hash}`,
    loginFailures: `${p}:login-failures`,
    formLimits: `${p}:form-limits`,
    testLetter: (id) => `${p}:test-letter:${id}`,
    writer: (campaign, hash) => `${p}:campaign:${campaign}:writer:${hash}`,
    admitting: (letterId) => `${p}:admitting:${letterId}`,
    providerEvents: (hour) => `${p}:provider-events:${hour}`,
  };
}
