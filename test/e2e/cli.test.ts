/**
 * The operator's path, as the README gives it: `gw start` as its own process, started as `npm start`
 * starts it (its node flags), then the curl command it prints, pasted into a shell, and `gw demo`
 * and `gw send` as separate processes that find the gateway through the same configuration.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { tempDir } from '../support/gateway.ts';
import { operatorStartArgs } from '../support/operator-start.ts';

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

/**
 * Runs a command line as a shell pasted into from the gateway's banner would, in the directory
 * `gw start` ran in (its paths are relative to it); `--write-out` adds the HTTP status as the last line.
 */
async function pasted(commandLine: string): Promise<{ status: number; body: string }> {
  const { stdout } = await promisify(execFile)(
    'sh',
    ['-c', `${commandLine} --silent --show-error --write-out '\\n%{http_code}'`],
    { cwd: REPO_ROOT },
  );
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** Single-quoted for sh. */
const quoted = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

describe('gw start (as npm start) / pasted curl / gw demo / gw send', () => {
  let server: ChildProcess;
  let env: NodeJS.ProcessEnv;
  let output = '';
  let banner = '';

  beforeAll(async () => {
    const port = 30000 + Math.floor(Math.random() * 20000);
    env = {
      ...process.env,
      GATEWAY_DATA_DIR: tempDir('cli'),
      GATEWAY_PORT: String(port),
      GATEWAY_LOG_LEVEL: 'warn',
    };
    server = spawn(process.execPath, operatorStartArgs(), { env, cwd: REPO_ROOT });
    server.stdout!.on('data', (d) => {
      output += d;
      banner += d;
    });
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

  it('runs under the node flags of the npm start script', () => {
    const startScript: string = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).scripts
      .start;
    const flags = startScript.split(/\s+/).filter((word) => word.startsWith('--'));
    expect(flags).toContain('--max-old-space-size=256');
    const commandLine = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(commandLine.slice(1)).toEqual([...flags, GW, 'start']);
  });

  it('the ready-to-paste curl command it prints sends the message: 202, then visible at its status URL', async () => {
    const printed = /^ {2}curl --cacert [\s\S]*?\/v1\/systems\/sn-melde\/messages$/m.exec(banner)?.[0];
    expect(printed, `no curl command in:\n${banner}`).toBeDefined();
    const sent = await pasted(printed!);
    expect(sent.status, sent.body).toBe(202);
    const answer = JSON.parse(sent.body) as {
      messages: { messageId: string; receiverSystem: string; status: string; statusUrl: string }[];
    };
    expect(answer.messages).toHaveLength(1);
    const [message] = answer.messages;
    expect(message).toMatchObject({ receiverSystem: 'st-melde', status: 'queued' });
    const gatewayUrl = /ready at (\S+)/.exec(banner)![1]!;
    expect(message!.statusUrl).toBe(`${gatewayUrl}/v1/messages/${message!.messageId}`);
    // The status URL, asked with the sender's certificate the printed command used.
    const credentials = /^ {2}curl (--cacert \S+ --cert \S+ --key \S+)/m.exec(printed!)![1]!;
    const status = await pasted(`curl ${credentials} ${quoted(message!.statusUrl)}`);
    expect(status.status, status.body).toBe(200);
    const view = JSON.parse(status.body) as { messageId: string; status: string; senderSystem: string };
    expect(view).toMatchObject({ messageId: message!.messageId, senderSystem: 'sn-melde' });
    expect(['queued', 'delivered', 'acknowledged']).toContain(view.status);
  });

  it('gw demo plays the whole flow and exits 0', async () => {
    const demo = await run(['demo'], env);
    expect(demo.stderr).toBe('');
    expect(demo.stdout).toContain('Demo complete');
    // Flow D, the BAföG hand-over: Jena gets its CSV, Dresden its receipt and the takeover as JSON.
    expect(demo.stdout).toContain('D. BAföG: a student moves from Dresden (Sachsen) to Jena (Thüringen)');
    expect(demo.stdout).toMatch(
      /th-bafoeg fetched xbafoeg:1\.0:akte\.abgabe\.0401 [0-9a-f-]{36}\n {4}seal verified/,
    );
    expect(demo.stdout).toContain('sn-bafoeg fetched xbafoeg:1.0:quittung.0400');
    expect(demo.stdout).toMatch(
      /sn-bafoeg fetched xbafoeg:1\.0:akte\.uebernahme\.0402 [0-9a-f-]{36}\n {4}seal verified/,
    );
    expect(demo.stdout).toContain('taken over as J-BAF-26-10233, payments continue from 2026-12-01');
    expect(demo.stdout).toContain('status of the Aktenabgabe as sn-bafoeg sees it: acknowledged');
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
