/** `bin/gw.js` as its own process, as operators run it: `gw start` and one-shot commands. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../../gateway/config/load.ts';
import { freePortBelowEphemeral } from '../../support/ports.ts';

const GW = path.join(REPO_ROOT, 'bin/gw.js');

/**
 * A free port for a `gw start` of a test, below the kernel's ephemeral range: a port the kernel picked
 * can be taken by any outgoing connection of a parallel test between the probe closing and the
 * gateway listening (EADDRINUSE at start, or at a restart on the same port).
 */
export function freePort(): Promise<number> {
  return freePortBelowEphemeral(22_900, 32_000);
}

export interface GwResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runGw(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<GwResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GW, ...args], { env, cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gw ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface GwServer {
  child: ChildProcess;
  /** The base URL its banner names (`ready at <url> (bus: …)`). */
  url: string;
  output(): string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

/** The URL in `gw start`'s banner, up to the blank after it: a chunk of output may end inside it. */
const BANNER_URL = /ready at (\S+)\s/;

/** `gw start`; resolves once it printed that it is ready. */
export async function startGw(env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<GwServer> {
  const child = spawn(process.execPath, [GW, 'start'], { env, cwd: REPO_ROOT });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (BANNER_URL.test(output)) break;
    if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`gw start did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url: BANNER_URL.exec(output)![1]!,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
