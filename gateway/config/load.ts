import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { GatewayError } from '../errors/catalogue.ts';
import { type Config, ConfigSchema, ENV_SETTINGS } from './schema.ts';

/** The repository root, for defaults that point into it (contracts/, adapters/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ResolvedConfig extends Config {
  dataDir: string;
  contractsDir: string;
  publicUrl: string;
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

/**
 * Reads the optional file named by GATEWAY_CONFIG (YAML or JSON), overlays the environment, and
 * validates. Fails with GW_ERR_CONFIG_INVALID naming each bad setting by its environment variable.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Record<string, unknown> = {},
): ResolvedConfig {
  let raw: Record<string, unknown> = {};
  if (env.GATEWAY_CONFIG) {
    try {
      raw = (YAML.parse(readFileSync(env.GATEWAY_CONFIG, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (error) {
      throw new GatewayError(
        'GW_ERR_CONFIG_INVALID',
        `GATEWAY_CONFIG=${env.GATEWAY_CONFIG}: ${(error as Error).message}`,
      );
    }
  }
  for (const [variable, dotted] of Object.entries(ENV_SETTINGS)) {
    const value = env[variable];
    if (value !== undefined && value !== '') setPath(raw, dotted, value);
  }
  for (const [dotted, value] of Object.entries(overrides)) setPath(raw, dotted, value);

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const byPath = Object.fromEntries(Object.entries(ENV_SETTINGS).map(([k, v]) => [v, k]));
    const lines = parsed.error.issues.map((issue) => {
      const dotted = issue.path.join('.');
      const name = byPath[dotted] ? `${byPath[dotted]} (${dotted})` : dotted || '(root)';
      return `${name}: ${issue.message}`;
    });
    throw new GatewayError('GW_ERR_CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const config = parsed.data;
  const dataDir = path.resolve(config.dataDir);
  const urlHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return {
    ...config,
    dataDir,
    contractsDir: path.resolve(config.contractsDir ?? path.join(REPO_ROOT, 'contracts')),
    publicUrl: (config.publicUrl ?? `https://${urlHost}:${config.port}`).replace(/\/$/, ''),
  };
}
