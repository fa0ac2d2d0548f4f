/**
 * Starts a real gateway (real HTTPS on a free port, real certificates, real SQLite files) in a
 * fresh temporary data directory, optionally with a changed system directory.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import { type Gateway, type GatewayOptions, startGateway } from '../../gateway/app.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { loadConfig, REPO_ROOT } from '../../gateway/config/load.ts';
import type { SystemEntry } from '../../gateway/directory/directory.ts';
import { keptLogger } from './kept-logs.ts';

export const TEST_PASSPHRASE = 'test-passphrase-not-for-production';

export interface TestGateway {
  gateway: Gateway;
  dataDir: string;
  contractsDir: string;
  client(systemId: string | null): SystemClient;
  stop(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `gw-${prefix}-`));
}

/** A copy of contracts/ whose directory entries are patched by `patch` (e.g. push URLs). */
export function contractsWith(
  patch: (systems: SystemEntry[]) => SystemEntry[],
  dir = tempDir('contracts'),
): string {
  cpSync(path.join(REPO_ROOT, 'contracts'), dir, { recursive: true });
  const file = path.join(dir, 'directory.yaml');
  const directory = YAML.parse(readFileSync(file, 'utf8')) as { systems: SystemEntry[] };
  writeFileSync(file, YAML.stringify({ systems: patch(directory.systems) }));
  return dir;
}

/** A copy of contracts/ in which each system named in `pushTo` takes its messages by push to its URL. */
export function pushContracts(pushTo: Record<string, string>, dir?: string): string {
  return contractsWith(
    (systems) =>
      systems.map((s) => {
        const url = pushTo[s.id];
        return url === undefined ? s : { ...s, delivery: { mode: 'push' as const, url } };
      }),
    dir,
  );
}

export async function startTestGateway(
  options: {
    dataDir?: string;
    contractsDir?: string;
    env?: Record<string, string>;
    adapters?: AdapterRegistry;
    /** Passed to startGateway as they are (retry policies, a logger, a clock). */
    gateway?: GatewayOptions;
  } = {},
): Promise<TestGateway> {
  const dataDir = options.dataDir ?? tempDir('data');
  const contractsDir = options.contractsDir ?? path.join(REPO_ROOT, 'contracts');
  const config = loadConfig({
    GATEWAY_DATA_DIR: dataDir,
    GATEWAY_CONTRACTS_DIR: contractsDir,
    GATEWAY_PORT: '0',
    GATEWAY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
    GATEWAY_REDELIVERY_DELAY_MS: '200',
    ...options.env,
  });
  // Without TEST_LOG_LEVEL the gateway's warnings are kept and shown if a test fails (kept-logs.ts).
  const logger = process.env.TEST_LOG_LEVEL ? undefined : keptLogger(`gateway in ${dataDir}`);
  const gateway = await startGateway(config, { adapters: options.adapters, logger, ...options.gateway });
  const clients: SystemClient[] = [];
  return {
    gateway,
    dataDir,
    contractsDir,
    client(systemId) {
      const client = SystemClient.forSystem(gateway.url, dataDir, systemId);
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await gateway.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
