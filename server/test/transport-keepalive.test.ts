// RFC 5626 §4.4 keep-alives and lost flows in the transport layer, over real sockets on
// loopback: CRLFCRLF pings on a connection (kept while the peer pongs, closed once it stops),
// STUN Binding keep-alives on UDP (lost when the peer stops answering), and every connection
// that ends reported with why (closed by the peer, idle, keep-alive), none after close().
import { afterEach, describe, expect, it } from 'vitest';
import { type FlowLost, TransportManager, type TransportOptions } from '../src/transport/manager.js';
import { cleanup, newManager, request, sleep, tcpServer, until } from './transport-helpers.js';

const manager = (opts: TransportOptions = {}) => newManager((o) => new TransportManager(o), opts);

afterEach(async () => {
  await cleanup();
  await sleep(5);
  expect(process.getActiveResourcesInfo().filter((r) => /TCP|UDP/.test(r))).toEqual([]);
});

function lostFlows(m: TransportManager): FlowLost[] {
  const out: FlowLost[] = [];
  m.onFlowLost((l) => out.push(l));
  return out;
}

describe('stream keep-alives', () => {
  it('pings with CRLFCRLF; a peer that pongs keeps the connection, one that stops loses it', async () => {
    const { m } = await manager({ pongTimeout: 40 });
    const lost = lostFlows(m);
    await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const server = await tcpServer();
    await m.sendRequest(request(), { transport: 'tcp', address: '127.0.0.1', port: server.port });
    const peer = await server.accepted.next('connection');
    await peer.inbox.next('the request');
    let answering = true;
    let pings = 0;
    peer.socket.on('data', (d: Buffer) => {
      if (d.toString() === '\r\n\r\n') {
        pings++;
        if (answering) peer.socket.write('\r\n');
      }
    });
    m.keepAlive({ transport: 'tcp', address: '127.0.0.1', port: server.port }, 20);
    await until(() => pings >= 3, 'three pings answered');
    expect(m.stats().connections).toBe(1);
    expect(lost).toEqual([]);
    answering = false;
    await until(() => lost.length === 1, 'the connection given up');
    expect(lost[0]).toMatchObject({
      transport: 'tcp',
      address: '127.0.0.1',
      port: server.port,
      reason: 'keepalive',
    });
    expect(lost[0]?.connectionId).toBeGreaterThan(0);
    await peer.closed;
    expect(m.stats().connections).toBe(0);
  });

  it('keepAliveInterval pings every connection it opens', async () => {
    const { m } = await manager({ keepAliveInterval: 20, pongTimeout: 1000 });
    await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const server = await tcpServer();
    await m.sendRequest(request(), { transport: 'tcp', address: '127.0.0.1', port: server.port });
    const peer = await server.accepted.next('connection');
    expect(await peer.raw.next('a ping', 2000)).toBe('\r\n\r\n');
  });

  it('reports a connection the peer closes, and one closed idle; nothing once the manager closes', async () => {
    const { m } = await manager({ idleTimeout: 50 });
    const lost = lostFlows(m);
    await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const server = await tcpServer();
    await m.sendRequest(request(), { transport: 'tcp', address: '127.0.0.1', port: server.port });
    const first = await server.accepted.next('connection');
    first.socket.destroy();
    await until(() => lost.length === 1, 'closed by the peer');
    expect(lost[0]?.reason).toBe('closed');
    await m.sendRequest(request(), { transport: 'tcp', address: '127.0.0.1', port: server.port });
    await until(() => lost.length === 2, 'closed idle');
    expect(lost[1]?.reason).toBe('idle');
    await m.sendRequest(request(), { transport: 'tcp', address: '127.0.0.1', port: server.port });
    await until(() => m.stats().connections === 1, 'a third connection');
    await m.close();
    expect(lost).toHaveLength(2);
  });
});

describe('UDP keep-alives (STUN)', () => {
  it('keeps a flow while the peer answers STUN; lost once it stops', async () => {
    const { m: a } = await manager({ stun: { rto: 10, rc: 3 } });
    const { m: b } = await manager();
    const lost = lostFlows(a);
    const aPort = await a.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const bPort = await b.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    a.keepAlive({ transport: 'udp', address: '127.0.0.1', port: bPort }, 15);
    await sleep(100); // several probes, all answered
    expect(lost).toEqual([]);
    await b.closeListener('udp', '127.0.0.1', bPort);
    await until(() => lost.length === 1, 'the flow lost');
    expect(lost[0]).toEqual({
      transport: 'udp',
      address: '127.0.0.1',
      port: bPort,
      localAddress: '127.0.0.1',
      localPort: aPort,
      reason: 'keepalive',
    });
  });
});
