/**
 * The open sockets of a test's TCP forwarder, so that it can cut every connection at once (a
 * receiver going down, a forwarder closing).
 */
import type net from 'node:net';

/**
 * Keeps `ends` (the sockets of one forwarded connection: client side and upstream, or a client
 * still waiting for its upstream) in `open` until each closes. An error on one end destroys them
 * all: half a forwarded connection is of no use.
 */
export function trackConnection(open: Set<net.Socket>, ...ends: net.Socket[]): void {
  for (const socket of ends) {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {
      for (const end of ends) end.destroy();
    });
  }
}

/** `error`: what the sockets' users are told, as if the connection had failed so. */
export function destroyAll(open: Iterable<net.Socket>, error?: Error): void {
  for (const socket of open) socket.destroy(error);
}
