/**
 * Sends this process's connections to a Kafka broker somewhere else, by replacing `net.connect`
 * (which kafkajs dials with): a forwarder in front of the broker is not enough, since the client
 * learns the broker's address from metadata and would dial it directly.
 */
import net from 'node:net';

/** Where a redirected connection goes: `host` defaults to the broker's. */
export interface Destination {
  host?: string;
  port: number;
}

export interface BrokerRedirect {
  /** This process's connections to the broker's address that are still open, redirected or not. */
  readonly sockets: ReadonlySet<net.Socket>;
  /** A connection to the broker itself, past the redirect (a forwarder's upstream). */
  connectToBroker(): net.Socket;
  /** Puts `net.connect` back. */
  close(): void;
}

/**
 * From now on every connection to `brokerAddress`'s port (`host:port`, as the client dials it) goes
 * to `redirectTo()`, asked at each connect; where that is undefined, to the broker itself.
 */
export function redirectBrokerConnections(
  brokerAddress: string,
  redirectTo: () => Destination | undefined,
): BrokerRedirect {
  const separator = brokerAddress.lastIndexOf(':');
  const host = brokerAddress.slice(0, separator);
  const port = Number(brokerAddress.slice(separator + 1));
  const connect = net.connect as (...args: unknown[]) => net.Socket;
  const sockets = new Set<net.Socket>();
  (net as { connect: unknown }).connect = (...args: unknown[]) => {
    const options = args[0] as { port?: number } | undefined;
    const ours = typeof options === 'object' && options !== null && Number(options.port) === port;
    if (!ours) return connect(...args);
    const destination = redirectTo();
    const socket = connect(destination ? { ...options, ...destination } : options, ...args.slice(1));
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  return {
    sockets,
    connectToBroker: () => connect({ host, port }),
    close() {
      (net as { connect: unknown }).connect = connect;
    },
  };
}
