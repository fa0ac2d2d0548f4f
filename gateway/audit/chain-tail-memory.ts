/**
 * The entries a process appended and has not yet projected into the search rows, kept per chain in
 * seq order so that a projection run folds them from memory instead of reading them back. Only an
 * unbroken run of a chain is kept: a gap (another process appended in between) starts the chain's
 * list over, and a run asks for a range only if this memory holds all of it — otherwise the
 * projector reads the file or table. Bounded: past `limit` entries everything is dropped (the
 * projector then reads back what it needs).
 */
export class ChainTailMemory<T extends { chain: string; seq: number }> {
  private readonly lists = new Map<string, T[]>();
  private held = 0;

  constructor(private readonly limit: number) {}

  /** Entries held now, over all chains. */
  get size(): number {
    return this.held;
  }

  /** Keeps committed entries (in seq order per chain). */
  remember(entries: readonly T[]): void {
    if (this.held + entries.length > this.limit) {
      this.clear();
      return;
    }
    for (const entry of entries) {
      let list = this.lists.get(entry.chain);
      const last = list?.at(-1);
      if (!list || (last && last.seq + 1 !== entry.seq)) {
        this.held -= list?.length ?? 0;
        list = [];
        this.lists.set(entry.chain, list);
      }
      list.push(entry);
      this.held++;
    }
  }

  /** The entries (done, upTo] of a chain if all of them are held. */
  recall(chain: string, done: number, upTo: number): T[] | undefined {
    const list = this.lists.get(chain);
    if (!list || list.length === 0) return undefined;
    const first = list[0]!.seq;
    if (first > done + 1 || list.at(-1)!.seq < upTo) return undefined;
    return list.slice(done + 1 - first, upTo + 1 - first);
  }

  /** Forgets a chain's entries up to `upTo` (a committed run projected them). */
  forget(chain: string, upTo: number): void {
    const list = this.lists.get(chain);
    if (!list || list.length === 0) return;
    const drop = Math.min(list.length, Math.max(0, upTo + 1 - list[0]!.seq));
    list.splice(0, drop);
    this.held -= drop;
  }

  clear(): void {
    this.lists.clear();
    this.held = 0;
  }
}
