/**
 * A broker of a test's own that advertises a relay's address instead of its own listener, so that
 * every connection a client makes to it — bootstrap and the ones it takes from metadata — goes
 * through the relay, even a client in another process (a `gw start`), whose net.connect a test
 * cannot redirect. The relay connects on to the broker with this process's net.connect, so a
 * blackhole.ts forwarder installed on `listener` sits on that path too: gateway process → relay →
 * forwarder → broker.
 */
import net from 'node:net';
import kafkajs from 'kafkajs';
import { freePortBelowEphemeral } from '../../support/ports.ts';
import { privateKafka } from '../../support/private-kafka.ts';
import { trackConnection } from './socket-set.ts';

export interface RelayedKafka {
  /** The relay: the bootstrap address for clients, and the broker's advertised address. */
  brokers: string;
  /** The broker's own listener, where the relay connects to. */
  listener: string;
  /** Kills the broker, closes the relay and removes the broker's data. */
  destroy(): Promise<void>;
}

/**
 * A plain TCP relay on `port` to 127.0.0.1:`upstreamPort`. Its upstream connection is made with
 * net.connect's options form at call time, which is what blackhole.ts redirects: installed later, it
 * still applies.
 */
async function relay(port: number, upstreamPort: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort });
    trackConnection(sockets, client, upstream);
    // A side closed for good: so is the other (what the forwarder behind passes on is its business).
    for (const socket of [client, upstream])
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

export async function relayedKafka(): Promise<RelayedKafka> {
  // Below the ephemeral range, as the broker's own port: no outgoing connection can hold it.
  const relayPort = await freePortBelowEphemeral(21_000, 22_800);
  const broker = await privateKafka({ advertisedPort: relayPort });
  const front = await relay(relayPort, Number(broker.brokers.split(':')[1]));
  const destroy = async () => {
    await broker.destroy();
    await front.close();
  };
  try {
    await broker.start();
    // Through the relay, and what metadata names is the relay: a client never meets the listener.
    const admin = new kafkajs.Kafka({
      clientId: 'relayed-kafka-probe',
      brokers: [`127.0.0.1:${relayPort}`],
      logLevel: kafkajs.logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const { brokers } = await admin.describeCluster();
      const advertised = brokers.map((b) => `${b.host}:${b.port}`).join(',');
      if (advertised !== `127.0.0.1:${relayPort}`) throw new Error(`the broker advertises ${advertised}`);
    } finally {
      await admin.disconnect();
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { brokers: `127.0.0.1:${relayPort}`, listener: broker.brokers, destroy };
}
