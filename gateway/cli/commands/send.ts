import { readFileSync } from 'node:fs';
import { loadConfig } from '../../config/load.ts';
import { SystemClient } from '../system-client.ts';

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.csv': 'text/csv',
};

export async function sendCommand(
  file: string,
  options: { system: string; contentType?: string },
): Promise<void> {
  const config = loadConfig();
  const extension = file.slice(file.lastIndexOf('.')).toLowerCase();
  const contentType = options.contentType ?? TYPES[extension] ?? 'application/octet-stream';
  const client = SystemClient.forSystem(config.publicUrl, config.dataDir, options.system);
  try {
    const response = await client.send(options.system, readFileSync(file), contentType);
    process.stdout.write(`${JSON.stringify(response.body, null, 2)}\n`);
    process.exitCode = response.status === 202 ? 0 : 1;
  } finally {
    await client.close();
  }
}
