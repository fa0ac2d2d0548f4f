/**
 * A receiver that can go down and come back on the same address: a TCP forwarder in front of a real
 * HTTPS push receiver (TLS passes through untouched, so mTLS is end to end). Down means the port is
 * closed — the gateway gets ECONNREFUSED, as from a crashed receiver.
 */
import net from 'node:net';

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
  // Find a free port once; it is reused for every `up`.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const up = async () => {
    if (server) return;
    const s = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
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
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return { url: `https://127.0.0.1:${port}${target.pathname}`, up, down, close: down };
}
