import { Counter, Histogram, type Registry } from 'prom-client';
import { SendError } from './transports/mail-transport.js';

// What only a worker process sees, for Prometheus: how long each send to the mail provider takes, and
// the provider's errors by kind and HTTP status. Labels carry the transport's name and error classes only.

type SendLabels = 'transport' | 'outcome';
type ErrorLabels = 'transport' | 'kind' | 'status';

/** Seconds: a provider call is usually well under a second; the timeout caps it (SEND_TIMEOUT_MS). */
const SEND_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60];

/**
 * The send-duration histogram and the provider-error counter, registered on `registry`. Building a
 * second one on the same registry reuses the metrics already there (several workers, one registry).
 */
export class WorkerMetrics {
  readonly sendDuration: Histogram<SendLabels>;
  readonly providerErrors: Counter<ErrorLabels>;

  constructor(registry: Registry) {
    this.sendDuration =
      (registry.getSingleMetric('appeal_letters_send_duration_seconds') as Histogram<SendLabels> | undefined) ??
      new Histogram({
        name: 'appeal_letters_send_duration_seconds',
        help: 'Time taken by one send to the mail provider, by transport and outcome (sent, or the failure kind).',
        labelNames: ['transport', 'outcome'],
        buckets: SEND_BUCKETS,
        registers: [registry],
      });
    this.providerErrors =
      (registry.getSingleMetric('appeal_letters_provider_errors_total') as Counter<ErrorLabels> | undefined) ??
      new Counter({
        name: 'appeal_letters_provider_errors_total',
        help: 'Sends the mail provider refused or that failed, by transport, failure kind and HTTP status ("none" without one).',
        labelNames: ['transport', 'kind', 'status'],
        registers: [registry],
      });
  }

  /**
   * Runs `send`, observing its duration with outcome "sent" or the failure's kind (an error that is
   * not a SendError counts as "transient", as the deliver processor treats it), and counting failures.
   * Resolves or rejects exactly as `send` does.
   */
  async timeSend<T>(transport: string, send: () => Promise<T>): Promise<T> {
    const stop = this.sendDuration.startTimer({ transport });
    try {
      const result = await send();
      stop({ outcome: 'sent' });
      return result;
    } catch (err) {
      const kind = err instanceof SendError ? err.kind : 'transient';
      const status = err instanceof SendError && err.status !== undefined ? String(err.status) : 'none';
      stop({ outcome: kind });
      this.providerErrors.inc({ transport, kind, status });
      throw err;
    }
  }
}
