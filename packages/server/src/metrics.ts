/**
 * Prometheus metrics (`/metrics`). Labels are protocol names, outcomes and codes only: never a
 * key id, subject, digest or anything derived from a secret.
 * @module
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly sessions = new Counter({
    name: 'tessera_sessions_total',
    help: 'Protocol sessions by protocol and outcome (started, done, aborted, expired, violation)',
    labelNames: ['protocol', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly roundSeconds = new Histogram({
    name: 'tessera_round_duration_seconds',
    help: 'Server time to process one step (a round of envelopes) by protocol',
    labelNames: ['protocol'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly activeSessions = new Gauge({
    name: 'tessera_active_sessions',
    help: 'Sessions currently active in the store',
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'tessera_rate_limited_total',
    help: 'Requests refused by a rate limit, by scope (ip, subject, websocket)',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly cheatAborts = new Counter({
    name: 'tessera_cheat_aborts_total',
    help: 'Sessions aborted because a check on the client party failed, by protocol and check',
    labelNames: ['protocol', 'check'] as const,
    registers: [this.registry],
  });
  readonly httpErrors = new Counter({
    name: 'tessera_http_errors_total',
    help: 'Error responses by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tessera_' });
  }
}
