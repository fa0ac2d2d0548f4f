/**
 * The revocation list's health for operators: a readiness check that fails while the revocation
 * store has been unreadable for longer than LiveTrust's staleAfterMs (the replica still refuses
 * every serial it knew — fail closed — but may miss new revocations, so it should not take new
 * traffic), and gauges of the list's age and size for alerting before readiness flips.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ReadinessCheck } from '../http/routes/operations.ts';
import type { RevocationStatus } from './trust.ts';

interface RevocationSource {
  revocationStatus(): RevocationStatus;
}

export function revocationsCheck(trust: RevocationSource): ReadinessCheck {
  return {
    name: 'revocations',
    check: async () => {
      const { ok, detail } = trust.revocationStatus();
      return { ok, detail };
    },
  };
}

export function registerRevocationGauges(registry: Registry, trust: RevocationSource): void {
  new Gauge({
    name: 'gateway_revocation_list_age_seconds',
    help: 'Seconds since the revocation store was last read successfully (polled every 250 ms)',
    registers: [registry],
    collect() {
      this.set(trust.revocationStatus().ageMs / 1000);
    },
  });
  new Gauge({
    name: 'gateway_revoked_certificates',
    help: 'Certificate serials this process refuses as revoked',
    registers: [registry],
    collect() {
      this.set(trust.revocationStatus().revoked);
    },
  });
}
