/**
 * How old the replica's view of the systems' pins is, for alerting: while it is older than
 * SystemPins' maxAgeMs the replica refuses every sender-signed document (503, fail closed) but stays
 * ready, so readiness alone does not show it. 0 for the file store, read on each use.
 */
import { Gauge, type Registry } from 'prom-client';
import type { SystemPinsStatus } from './system-pins.ts';

interface PinSource {
  status(): SystemPinsStatus;
}

export function registerSystemPinGauges(registry: Registry, pins: PinSource): void {
  new Gauge({
    name: 'gateway_system_pins_age_seconds',
    help: "Seconds since the systems' pinned certificates were last read from their store (polled every 250 ms; 0 for files read on each use)",
    registers: [registry],
    collect() {
      this.set(pins.status().ageMs / 1000);
    },
  });
  new Gauge({
    name: 'gateway_system_pins_current',
    help: '1 while the pinned certificates are confirmed current, 0 while sender-signed documents are refused for want of a fresh read',
    registers: [registry],
    collect() {
      this.set(pins.status().ok ? 1 : 0);
    },
  });
}
