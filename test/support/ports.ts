/** Ports for servers a test stops and starts again. */
import net from 'node:net';

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * A free port in [low, high), below the kernel's ephemeral range (32768–60999 here), so no outgoing
 * connection takes it while the server that owns it is down. `pair`: P even and P+1 free too.
 */
export async function freePortBelowEphemeral(low: number, high: number, pair = false): Promise<number> {
  const slots = Math.floor((high - low) / 2);
  for (let i = 0; i < 100; i++) {
    const port = low + Math.floor(Math.random() * slots) * 2;
    if ((await isFree(port)) && (!pair || (await isFree(port + 1)))) return port;
  }
  throw new Error(`no free port in ${low}–${high}`);
}
