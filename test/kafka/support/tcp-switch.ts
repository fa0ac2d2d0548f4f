/**
 * A receiver that can go down and come back on the same address: a TCP forwarder in front of a real
 * HTTPS push receiver (TLS passes through untouched, so mTLS is end to end). Down means the port is
 * closed — the gateway gets ECONNREFUSED, as from a crashed receiver.
 */
import net from 'node:net';
import { freePortBelowEphemeral } from '../../support/ports.ts';
import { destroyAll, trackConnection } from './socket-set.ts';

export interface TcpSwitch {
  /** `https://127.0.0.1:<port>/inbound`, to put into the directory. */
  url: string;
  up(): Promise<void>;
  down(): Promise<void>;
  close(): Promise<void>;
}

export async function tcpSwitch(targetUrl: string): Promise<TcpSwitch> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  // One port for every `up`, below the ephemeral range so no outgoing connection takes it while down.
  const port = await freePortBelowEphemeral(32_000, 32_700);

  const up = async () => {
    if (server) return;
    const s = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      trackConnection(sockets, client, upstream);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  const down = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    destroyAll(sockets);
    await closed;
  };
  return { url: `https://127.0.0.1:${port}${target.pathname}`, up, down, close: down };
}
