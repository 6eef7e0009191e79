/**
 * Prometheus metrics (`/metrics`). Labels are kinds and error codes only: never a room id, a
 * public key or anything of an envelope. Counts still show the relay's traffic, so an operator
 * may require a token (`TESSERA_RELAY_METRICS_TOKEN`).
 * @module
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly rooms = new Counter({
    name: 'tessera_relay_rooms_created_total',
    help: 'Rooms created',
    registers: [this.registry],
  });
  readonly messages = new Counter({
    name: 'tessera_relay_messages_total',
    help: 'Messages accepted, by kind (direct, broadcast)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly messageBytes = new Counter({
    name: 'tessera_relay_message_bytes_total',
    help: 'Decoded envelope bytes accepted',
    registers: [this.registry],
  });
  readonly logins = new Counter({
    name: 'tessera_relay_logins_total',
    help: 'Successful logins',
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'tessera_relay_errors_total',
    help: 'Refusals by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly streams = new Gauge({
    name: 'tessera_relay_open_streams',
    help: 'Open subscriptions, by transport (sse, ws)',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tessera_relay_' });
  }
}
