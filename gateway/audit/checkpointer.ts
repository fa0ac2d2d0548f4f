/**
 * Makes signed checkpoints in the background: every `everyEvents` events this process appended,
 * and every `everyMs` (which also covers what other processes appended), plus a last one on stop.
 * The store serialises checkpointers across processes and makes none when nothing is new, so N
 * processes running one each is safe and cheap.
 */
import type { Logger } from '../log/logger.ts';
import type { AuditCheckpoint, AuditStore, CheckpointSigner } from '../ports/audit-store.ts';

export interface CheckpointerOptions {
  store: AuditStore;
  signer: CheckpointSigner;
  everyEvents: number;
  everyMs: number;
  logger: Logger;
}

export class Checkpointer {
  private timer: NodeJS.Timeout | undefined;
  private sinceLast = 0;
  private running: Promise<AuditCheckpoint | null> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: CheckpointerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.checkpointNow(), this.options.everyMs);
    this.timer.unref();
  }

  /** Counts appended events; AuditLog calls it after each durable append. */
  noteAppended(count: number): void {
    this.sinceLast += count;
    if (this.sinceLast >= this.options.everyEvents && !this.stopped) void this.checkpointNow();
  }

  /** One checkpoint at a time per process; a request during one runs once more right after it. */
  checkpointNow(): Promise<AuditCheckpoint | null> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.sinceLast = 0;
    this.running = this.options.store
      .createCheckpoint(this.options.signer)
      .then((checkpoint) => {
        if (checkpoint) {
          this.options.logger.info(
            { checkpoint: checkpoint.id, treeSize: checkpoint.treeSize, root: checkpoint.root },
            'audit checkpoint signed',
          );
        }
        return checkpoint;
      })
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'audit checkpoint failed; retrying at the next interval');
        return null;
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.checkpointNow();
        }
      });
    return this.running;
  }

  /** Stops the schedule and signs what is still uncovered (before the store closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.running) await this.running;
    await this.checkpointNow();
  }
}
