/**
 * The quota count in the process: for the embedded gateway, which is the only process on its data
 * directory. It keeps the current day per system; the first reservation of a system on a day seeds
 * that day's count from the audit trail, so a restarted process goes on where the last one stopped
 * (and the previous day's count is dropped then). Several processes must not use it: each would
 * count only its own reservations (the PostgreSQL counter is the shared one).
 */
import type { AcceptedOnDay, QuotaCounter } from '../ports/quota-counter.ts';

interface DayCount {
  day: string;
  used: number;
}

export class InProcessQuotaCounter implements QuotaCounter {
  readonly kind = 'in-process';
  private readonly counts = new Map<string, Promise<DayCount>>();

  constructor(private readonly acceptedOnDay: AcceptedOnDay) {}

  async reserve(systemId: string, day: string, limit: number): Promise<boolean> {
    const count = await this.countOf(systemId, day, limit);
    // No await between the check and the increment: concurrent reservations cannot both pass.
    if (count.used >= limit) return false;
    count.used++;
    return true;
  }

  async release(systemId: string, day: string): Promise<void> {
    const count = await this.counts.get(systemId);
    if (count && count.day === day && count.used > 0) count.used--;
  }

  async close(): Promise<void> {}

  private countOf(systemId: string, day: string, limit: number): Promise<DayCount> {
    const known = this.counts.get(systemId);
    // Chained on the known count: concurrent first reservations of a day share one seed.
    const count = known
      ? known.then((c) => (c.day === day ? c : this.seed(systemId, day, limit)))
      : this.seed(systemId, day, limit);
    // A failed seed is not cached: the next reservation tries again.
    this.counts.set(
      systemId,
      count.catch(() => ({ day: '', used: 0 })),
    );
    return count;
  }

  private async seed(systemId: string, day: string, limit: number): Promise<DayCount> {
    return { day, used: await this.acceptedOnDay(systemId, day, limit) };
  }
}
