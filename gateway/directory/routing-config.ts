/**
 * The routing configuration (system directory + contracts) as one unit that can be replaced while
 * the gateway runs. A reload is all-or-nothing: a new version that does not validate — or that
 * names an adapter that is not installed — is refused and the running version stays active.
 * Both outcomes are audited as `contract-changed`. Triggers: a change under contracts/ (watched)
 * or SIGHUP. Requests in flight keep the version they started with (they hold the objects).
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, readdirSync, readFileSync, watch } from 'node:fs';
import path from 'node:path';
import type { AuditLog } from '../audit/audit-log.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import { Contracts } from './contracts.ts';
import { Directory } from './directory.ts';

export interface RoutingVersion {
  directory: Directory;
  contracts: Contracts;
  /** SHA-256 over the files, to tell versions apart in the audit log. */
  digest: string;
}

export type ReloadOutcome =
  | { outcome: 'applied' | 'unchanged'; digest: string }
  | { outcome: 'refused'; error: string };

function digestOf(dir: string): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(path.join(dir, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

export function loadRoutingVersion(dir: string, isAdapterInstalled: (id: string) => boolean): RoutingVersion {
  const digest = digestOf(dir);
  const directory = Directory.fromFile(path.join(dir, 'directory.yaml'));
  const contracts = Contracts.fromDirectory(dir);
  for (const system of directory.systems) {
    if (!isAdapterInstalled(system.adapter)) {
      throw new GatewayError(
        'GW_ERR_CONFIG_INVALID',
        `directory: system ${system.id} uses adapter ${system.adapter}, which is not installed`,
      );
    }
  }
  return { directory, contracts, digest };
}

export class RoutingConfig {
  private version: RoutingVersion;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private audit?: AuditLog;
  private readonly appliedListeners: Array<(version: RoutingVersion) => void> = [];
  private readonly onSignal = () => void this.reload('SIGHUP');

  constructor(
    private readonly dir: string,
    private readonly isAdapterInstalled: (id: string) => boolean,
    private readonly logger: Logger,
  ) {
    // At start an invalid configuration is fatal: there is no previous version to keep.
    this.version = loadRoutingVersion(dir, isAdapterInstalled);
  }

  get directory(): Directory {
    return this.version.directory;
  }

  get contracts(): Contracts {
    return this.version.contracts;
  }

  get digest(): string {
    return this.version.digest;
  }

  async reload(trigger: string): Promise<ReloadOutcome> {
    let next: RoutingVersion;
    try {
      next = loadRoutingVersion(this.dir, this.isAdapterInstalled);
    } catch (error) {
      const message = (error as Error).message;
      this.logger.error(
        { trigger, error: message },
        'routing configuration refused; the previous version stays active',
      );
      await this.audit?.record({
        kind: 'contract-changed',
        actor: 'operator',
        detail: { outcome: 'refused', trigger, error: message.slice(0, 1000), active: this.version.digest },
      });
      return { outcome: 'refused', error: message };
    }
    if (next.digest === this.version.digest) return { outcome: 'unchanged', digest: next.digest };
    const previous = this.version.digest;
    this.version = next;
    this.logger.info({ trigger, digest: next.digest, previous }, 'routing configuration reloaded');
    await this.audit?.record({
      kind: 'contract-changed',
      actor: 'operator',
      detail: {
        outcome: 'applied',
        trigger,
        digest: next.digest,
        previous,
        systems: next.directory.systems.length,
      },
    });
    for (const listener of this.appliedListeners) listener(next);
    return { outcome: 'applied', digest: next.digest };
  }

  /** Told of every applied version (the delivery stage subscribes the systems that are new). */
  onApplied(listener: (version: RoutingVersion) => void): void {
    this.appliedListeners.push(listener);
  }

  /** Reloads on file changes (debounced: editors write in several steps) and on SIGHUP; audits every reload. */
  watch(audit: AuditLog, debounceMs = 250): void {
    this.audit = audit;
    this.watcher = watch(this.dir, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload('file-change'), debounceMs);
    });
    process.on('SIGHUP', this.onSignal);
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    process.off('SIGHUP', this.onSignal);
  }
}
