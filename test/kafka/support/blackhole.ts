/**
 * A silent network partition between this process and the broker: a TCP forwarder that every
 * connection of this process to the broker's port is sent through (net.connect is redirected, since
 * the client learns the broker's address from metadata and would otherwise bypass a forwarder).
 *
 * blackhole(): nothing is forwarded any more, in either direction, and no socket is closed — no RST,
 * no FIN; new connections are accepted and then hear nothing, as behind a firewall dropping packets.
 * heal(): connections made during the blackhole start working (what their client sent is delivered
 * then, as its kernel would retransmit it), and so do new ones. Connections that were open when the
 * blackhole began stay silent for good, as after a firewall or NAT lost its state: only a client that
 * notices and reconnects recovers.
 */
import net from 'node:net';
import { redirectBrokerConnections } from './redirect-broker.ts';
import { destroyAll, trackConnection } from './socket-set.ts';

export interface Blackhole {
  blackhole(): void;
  heal(): void;
  /** Connections to the broker opened through the forwarder so far. */
  readonly connections: number;
  restore(): Promise<void>;
}

export async function blackholeBroker(address: string): Promise<Blackhole> {
  const sockets = new Set<net.Socket>();
  /** Sockets of connections that were open while the path was black: they never carry a byte again. */
  const dead = new WeakSet<net.Socket>();
  let black = false;
  let connections = 0;

  /** Connections accepted while the path is black: they start carrying bytes once it heals. */
  let waiting: (() => void)[] = [];

  const pipe = (client: net.Socket) => {
    const upstream = redirect.connectToBroker();
    trackConnection(sockets, client, upstream);
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        // Dropped, not buffered: the bytes are gone, as packets a path discarded, and the peer's
        // TCP never learns.
        if (black || dead.has(from) || dead.has(to)) return;
        to.write(chunk);
      });
      // A FIN from either end is passed on only while the path carries bytes.
      from.on('end', () => {
        if (!black && !dead.has(from)) to.end();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    client.resume();
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    connections++;
    if (!black) {
      pipe(client);
      return;
    }
    // What the client sends waits in the socket, as its kernel would retransmit it until the path
    // heals; the connection then works. (A connection open when the blackhole began does not.)
    trackConnection(sockets, client);
    waiting.push(() => {
      if (!client.destroyed) pipe(client);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const forwarderPort = (server.address() as net.AddressInfo).port;
  // Only now: the forwarder's first connection (and its `pipe`) comes from a redirected client.
  const redirect = redirectBrokerConnections(address, () => ({ host: '127.0.0.1', port: forwarderPort }));

  return {
    blackhole() {
      black = true;
      for (const s of sockets) dead.add(s);
    },
    heal() {
      black = false;
      const start = waiting;
      waiting = [];
      for (const f of start) f();
    },
    get connections() {
      return connections;
    },
    async restore() {
      redirect.close();
      destroyAll(sockets);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
