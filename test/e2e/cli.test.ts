/**
 * The operator's path, as the README gives it: `gw start` as its own process, then `gw demo` and
 * `gw send` as separate processes that find the gateway through the same configuration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { tempDir } from '../support/gateway.ts';

const GW = path.join(REPO_ROOT, 'bin/gw.js');

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GW, ...args], { env, cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('gw start / gw demo / gw send', () => {
  let server: ChildProcess;
  let env: NodeJS.ProcessEnv;
  let output = '';

  beforeAll(async () => {
    const port = 30000 + Math.floor(Math.random() * 20000);
    env = {
      ...process.env,
      GATEWAY_DATA_DIR: tempDir('cli'),
      GATEWAY_PORT: String(port),
      GATEWAY_LOG_LEVEL: 'warn',
    };
    server = spawn(process.execPath, [GW, 'start'], { env, cwd: REPO_ROOT });
    server.stdout!.on('data', (d) => (output += d));
    server.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 60_000;
    while (!output.includes('ready at')) {
      if (Date.now() > deadline || server.exitCode !== null)
        throw new Error(`gw start did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
  });

  it('prints a ready-to-paste curl example', () => {
    expect(output).toMatch(/curl --cacert .*ca\.crt --cert .*sn-melde\.crt --key .*sn-melde\.key/);
  });

  it('gw demo plays the whole flow and exits 0', async () => {
    const demo = await run(['demo'], env);
    expect(demo.stderr).toBe('');
    expect(demo.stdout).toContain('Demo complete');
    expect(demo.code).toBe(0);
  });

  it('gw send sends a file as a system and prints the 202 answer; a replay exits 1', async () => {
    const file = path.join(REPO_ROOT, 'adapters/st-melde/fixtures/0201-umzug-leipzig-halle.native.xml');
    const first = await run(['send', '--system', 'st-melde', file], env);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).messages[0].messageId).toBe('c0a8f3e2-7d14-4b9e-a6f1-2e3d4c5b6a79');
    const replay = await run(['send', '--system', 'st-melde', file], env);
    expect(replay.code).toBe(1);
    expect(JSON.parse(replay.stdout).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses an invalid configuration at start, naming the setting', async () => {
    const bad = await run(['start'], { ...env, GATEWAY_PORT: 'eighty' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('GATEWAY_PORT');
  });
});
