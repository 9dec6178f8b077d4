// The transport layer over real sockets on loopback (127.0.0.1 and ::1): what arrives is
// stamped per RFC 3261 §18.2.1 / RFC 3581, what leaves goes where §18.1.1 and §18.2.2 say,
// connections are reused, kept alive, timed out and closed, and nothing is left open.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest } from '../src/sip/message.js';
import { TransportManager, type TransportOptions } from '../src/transport/manager.js';
import {
  cleanup,
  newManager,
  parse,
  request,
  requestText,
  sleep,
  tcpClient,
  tcpServer,
  udpPeer,
  until,
} from './transport-helpers.js';

const TORTURE = join(import.meta.dirname, '../../test/fixtures/sip-torture');

const manager = (opts: TransportOptions = {}) => newManager((o) => new TransportManager(o), opts);

afterEach(async () => {
  await cleanup();
  await sleep(5); // handles are released on the loop turn after their 'close'
  // every socket a test opened, ours or the peers', is closed by the end of it
  expect(process.getActiveResourcesInfo().filter((r) => /TCP|UDP/.test(r))).toEqual([]);
});

function asRequest(msg: unknown): SipRequest {
  const m = msg as SipRequest;
  if (m.kind !== 'request') throw new Error('expected a request');
  return m;
}

describe('UDP', () => {
  it('stamps received and rport on an incoming request from its source', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    const text = requestText({ via: 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-u1;rport' });
    await peer.send(text, port);
    const inc = await inbox.next('request');
    expect(inc.source).toEqual({
      transport: 'udp',
      address: '127.0.0.1',
      port: peer.port,
      localAddress: '127.0.0.1',
      localPort: port,
    });
    expect(inc.size).toBe(text.length);
    expect(inc.defect).toBeUndefined();
    expect(inc.msg.header('via')).toBe(
      `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-u1;rport=${peer.port};received=127.0.0.1`,
    );
  });

  it('answers to received:rport from the socket the request reached', async () => {
    const { m, inbox } = await manager();
    await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 }); // not this one
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const natted = await udpPeer(); // where the packet really came from
    const advertised = await udpPeer(); // what the Via claims
    await natted.send(
      requestText({ via: `SIP/2.0/UDP 127.0.0.1:${advertised.port};branch=z9hG4bK-u2;rport` }),
      port,
    );
    const inc = await inbox.next('request');
    await m.sendResponse(makeResponse(asRequest(inc.msg), 200), inc.source);
    const got = await natted.inbox.next('response at rport');
    expect(got.text.startsWith('SIP/2.0 200 OK\r\n')).toBe(true);
    expect(got.rinfo.port).toBe(port);
    await sleep(50);
    expect(advertised.inbox.items).toEqual([]);
  });

  it('answers to the sent-by port when no rport was asked', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const sender = await udpPeer();
    const advertised = await udpPeer();
    await sender.send(
      requestText({ via: `SIP/2.0/UDP 127.0.0.1:${advertised.port};branch=z9hG4bK-u3` }),
      port,
    );
    const inc = await inbox.next('request');
    expect(inc.msg.header('via')).toBe(`SIP/2.0/UDP 127.0.0.1:${advertised.port};branch=z9hG4bK-u3`);
    await m.sendResponse(makeResponse(asRequest(inc.msg), 486), inc.source);
    const got = await advertised.inbox.next('response at sent-by port');
    expect(got.text.startsWith('SIP/2.0 486 Busy Here\r\n')).toBe(true);
    expect(sender.inbox.items).toEqual([]);
  });

  it('sends a prepared response again, byte for byte, to where the first went', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    await peer.send(requestText({ via: 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-u4;rport' }), port);
    const inc = await inbox.next('request');
    const prepared = m.prepareResponse(makeResponse(asRequest(inc.msg), 200, { toTag: 'p' }), inc.source);
    expect(prepared.status).toBe(200);
    await m.sendPrepared(prepared, inc.source);
    await m.sendPrepared(prepared, inc.source);
    const first = await peer.inbox.next('first');
    const second = await peer.inbox.next('second');
    expect(first.text.startsWith('SIP/2.0 200 OK\r\n')).toBe(true);
    expect(first.text).toContain(';tag=p');
    expect(second.text).toBe(first.text);
    await expect(m.sendPrepared({ status: 200 }, inc.source)).rejects.toThrow(/not prepared/);
  });

  it('drops what it cannot parse and responses without a valid Via, and keeps serving', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    await peer.send('\x00\x01 not sip at all\r\n\r\n', port);
    await peer.send('\r\n\r\n', port);
    await peer.send(
      'SIP/2.0 200 OK\r\nVia: garbage here\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n',
      port,
    );
    // a request with a grammar defect is passed up, with the defect, for its 400
    const broken = requestText({ via: 'SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-u4' }).replace(
      'Max-Forwards: 70\r\n',
      'Max-Forwards: 70\r\nthis line has no colon\r\n',
    );
    await peer.send(broken, port);
    const inc = await inbox.next('defective request');
    expect(inc.msg.kind).toBe('request');
    expect(inc.defect).toBe('Malformed Header Line');
    await sleep(50);
    expect(inbox.items).toEqual([]);
  });

  it('sends a request with our sent-by and rport in the top Via', async () => {
    const { m } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    const sent = await m.sendRequest(request(), { transport: 'udp', address: '127.0.0.1', port: peer.port });
    expect(sent).toEqual({ transport: 'udp', address: '127.0.0.1', port: peer.port });
    const got = await peer.inbox.next('request');
    expect(got.rinfo.port).toBe(port);
    expect(parse(got.text).header('via')).toBe(`SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-out;rport`);
  });

  it("leaves from the listener named in the target's `from` (an app's own), else the first that fits", async () => {
    const { m } = await manager();
    const first = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const second = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    const from = [{ transport: 'udp' as const, address: '127.0.0.1', port: second }];
    const sent = await m.sendRequest(request(), {
      transport: 'udp',
      address: '127.0.0.1',
      port: peer.port,
      from,
    });
    // the endpoint kept for retransmissions and CANCEL still names the listener
    expect(sent.from).toEqual(from);
    const got = await peer.inbox.next('request');
    expect(got.rinfo.port).toBe(second);
    expect(parse(got.text).topVia).toMatchObject({ port: second });
    expect(m.localContact({ transport: 'udp', address: '127.0.0.1', port: peer.port, from }).port).toBe(
      second,
    );
    // a `from` naming no listener of ours falls back to the usual choice
    const stale = [{ transport: 'udp' as const, address: '127.0.0.1', port: 1 }];
    await m.sendRequest(request(), { transport: 'udp', address: '127.0.0.1', port: peer.port, from: stale });
    expect((await peer.inbox.next('request')).rinfo.port).toBe(first);
  });

  it('uses 127.0.0.1 in Via when a wildcard listener sends to loopback', async () => {
    const { m } = await manager({ localHost: 'sip.example.com' });
    const port = await m.listen({ transport: 'udp', address: '0.0.0.0', port: 0 });
    const peer = await udpPeer();
    await m.sendRequest(request(), { transport: 'udp', address: '127.0.0.1', port: peer.port });
    const got = await peer.inbox.next('request');
    expect(parse(got.text).topVia).toMatchObject({ transport: 'UDP', host: '127.0.0.1', port });
  });

  it('switches a request over the UDP size limit to TCP (RFC 3261 §18.1.1)', async () => {
    const { m } = await manager();
    await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const tcpPort = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const server = await tcpServer();
    const udp = await udpPeer('127.0.0.1', server.port);
    const big = request({ method: 'MESSAGE', body: 'x'.repeat(1400) });
    const sent = await m.sendRequest(big, { transport: 'udp', address: '127.0.0.1', port: server.port });
    expect(sent).toEqual({ transport: 'tcp', address: '127.0.0.1', port: server.port });
    const conn = await server.accepted.next('connection');
    const msg = parse(await conn.inbox.next('request over tcp'));
    expect(msg.header('via')).toBe(`SIP/2.0/TCP 127.0.0.1:${tcpPort};branch=z9hG4bK-out;rport`);
    expect(msg.body.length).toBe(1400);
    // a small one still goes over UDP
    await m.sendRequest(request(), { transport: 'udp', address: '127.0.0.1', port: server.port });
    expect(parse((await udp.inbox.next('small request over udp')).text).topVia?.transport).toBe('UDP');
  });

  it('honours a configured udpMaxSize and falls back to UDP when TCP is refused', async () => {
    const { m } = await manager({ udpMaxSize: 200 });
    await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer(); // nobody listens on TCP at this port
    const sent = await m.sendRequest(request(), { transport: 'udp', address: '127.0.0.1', port: peer.port });
    expect(sent.transport).toBe('udp');
    expect(parse((await peer.inbox.next('request')).text).topVia?.transport).toBe('UDP');
  });
});

describe('TCP', () => {
  it('frames, stamps and identifies the connection of an incoming request; answers pings', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const client = await tcpClient(port);
    const text = requestText({ via: 'SIP/2.0/TCP 192.0.2.1:5060;rport;branch=z9hG4bK-t1', body: 'hi' });
    client.socket.write('\r\n\r\n');
    expect(await client.raw.next('pong')).toBe('\r\n');
    client.socket.write(text.slice(0, 50));
    await sleep(20);
    client.socket.write(text.slice(50));
    const inc = await inbox.next('request');
    expect(inc.source).toMatchObject({
      transport: 'tcp',
      address: '127.0.0.1',
      port: client.socket.localPort,
      localPort: port,
    });
    expect(inc.source.connectionId).toBeTypeOf('number');
    expect(inc.msg.body.toString()).toBe('hi');
    expect(inc.msg.topVia?.params).toContainEqual(['received', '127.0.0.1']);
    expect(inc.msg.topVia?.params).toContainEqual(['rport', String(client.socket.localPort)]);
    expect(m.stats()).toEqual({ listeners: 1, connections: 1 });
  });

  it('answers on the connection the request came on', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const client = await tcpClient(port);
    // the sent-by port points nowhere: only the connection can carry the answer
    client.socket.write(requestText({ via: 'SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-t2' }));
    const inc = await inbox.next('request');
    await m.sendResponse(makeResponse(asRequest(inc.msg), 200), inc.source);
    expect((await client.inbox.next('response')).startsWith('SIP/2.0 200 OK\r\n')).toBe(true);
    expect(m.stats().connections).toBe(1);
  });

  it('reconnects to received and the sent-by port when the connection is gone', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const server = await tcpServer();
    const client = await tcpClient(port);
    client.socket.write(requestText({ via: `SIP/2.0/TCP client.invalid:${server.port};branch=z9hG4bK-t3` }));
    const inc = await inbox.next('request');
    expect(inc.msg.topVia?.params).toContainEqual(['received', '127.0.0.1']);
    client.socket.destroy();
    await until(() => m.stats().connections === 0, 'connection to close');
    await m.sendResponse(makeResponse(asRequest(inc.msg), 200), inc.source);
    const conn = await server.accepted.next('new connection');
    expect((await conn.inbox.next('response')).startsWith('SIP/2.0 200 OK\r\n')).toBe(true);
  });

  it('reuses one connection for requests to the same target', async () => {
    const { m } = await manager();
    await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const server = await tcpServer();
    const target = { transport: 'tcp' as const, address: '127.0.0.1', port: server.port };
    await Promise.all([
      m.sendRequest(request({ callId: 'c1' }), target),
      m.sendRequest(request({ callId: 'c2' }), target),
    ]);
    await m.sendRequest(request({ callId: 'c3' }), target);
    const conn = await server.accepted.next('connection');
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(parse(await conn.inbox.next(`request ${i}`)).callId);
    expect(ids.sort()).toEqual(['c1', 'c2', 'c3']);
    expect(server.connections.length).toBe(1);
    expect(m.stats().connections).toBe(1);
  });

  it('sends requests to a peer over the connection that peer opened', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const client = await tcpClient(port);
    client.socket.write(requestText({ via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-t5' }));
    await inbox.next('request');
    await m.sendRequest(request({ method: 'BYE' }), {
      transport: 'tcp',
      address: '127.0.0.1',
      port: client.socket.localPort as number,
    });
    const msg = parse(await client.inbox.next('request on the inbound connection'));
    expect(msg.kind === 'request' && msg.method).toBe('BYE');
    expect(msg.header('via')).toBe(`SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bK-out;rport`);
    expect(m.stats().connections).toBe(1);
  });

  it('closes a connection idle for longer than idleTimeout', async () => {
    const { m } = await manager({ idleTimeout: 150 });
    const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const client = await tcpClient(port);
    await until(() => m.stats().connections === 1, 'connection to register');
    const started = Date.now();
    await client.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    await until(() => m.stats().connections === 0, 'connection count to drop');
  });

  it('closes a connection that sends an unframeable Content-Length (RFC 4475 ncl)', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const client = await tcpClient(port);
    client.socket.write(readFileSync(join(TORTURE, 'ncl.dat')));
    await client.closed;
    await until(() => m.stats().connections === 0, 'connection count to drop');
    expect(inbox.items).toEqual([]);
  });

  it('cuts off an endless header at maxHeaderSize', async () => {
    const { m } = await manager({ maxHeaderSize: 2048 });
    const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const client = await tcpClient(port);
    client.socket.write('INVITE sip:x@example.com SIP/2.0\r\n');
    for (let i = 0; i < 5 && !client.socket.destroyed; i++)
      client.socket.write(`X-Pad: ${'p'.repeat(600)}\r\n`);
    await client.closed;
    await until(() => m.stats().connections === 0, 'connection count to drop');
  });

  it('rejects a send to a TCP port nobody listens on', async () => {
    const { m } = await manager();
    const peer = await udpPeer(); // a port number that is free on TCP
    await expect(
      m.sendRequest(request(), { transport: 'tcp', address: '127.0.0.1', port: peer.port }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(m.stats().connections).toBe(0);
  });
});

describe('listeners', () => {
  it('names the address and port when it is already in use', async () => {
    const { m } = await manager();
    const udp = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const tcp = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const { m: other } = await manager();
    await expect(other.listen({ transport: 'udp', address: '127.0.0.1', port: udp })).rejects.toThrow(
      `cannot listen on udp 127.0.0.1:${udp}: address already in use (EADDRINUSE)`,
    );
    await expect(other.listen({ transport: 'tcp', address: '127.0.0.1', port: tcp })).rejects.toMatchObject({
      code: 'EADDRINUSE',
      message: expect.stringContaining(`127.0.0.1:${tcp}`),
    });
    expect(other.stats()).toEqual({ listeners: 0, connections: 0 });
  });

  it('listenGroup: UDP and TCP on one port; a fixed port taken for TCP fails and leaves nothing open', async () => {
    const { m } = await manager();
    const port = await m.listenGroup([
      { transport: 'udp', address: '127.0.0.1', port: 0 },
      { transport: 'tcp', address: '127.0.0.1', port: 0 },
    ]);
    expect(m.listening()).toEqual([
      { transport: 'udp', address: '127.0.0.1', port },
      { transport: 'tcp', address: '127.0.0.1', port },
    ]);
    const { m: holder } = await manager();
    const taken = await holder.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    const { m: other } = await manager();
    await expect(
      other.listenGroup([
        { transport: 'udp', address: '127.0.0.1', port: taken },
        { transport: 'tcp', address: '127.0.0.1', port: taken },
      ]),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(other.stats()).toEqual({ listeners: 0, connections: 0 });
  });

  it('close() closes every listener and connection and counts back to zero', async () => {
    const m = new TransportManager();
    try {
      const port = await m.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
      await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
      const server = await tcpServer();
      await m.sendRequest(request(), { transport: 'tcp', address: '127.0.0.1', port: server.port });
      const outbound = await server.accepted.next('connection');
      const inbound = await tcpClient(port);
      await until(() => m.stats().connections === 2, 'both connections');
      expect(m.stats()).toEqual({ listeners: 2, connections: 2 });
      await m.close();
      expect(m.stats()).toEqual({ listeners: 0, connections: 0 });
      await Promise.all([outbound.closed, inbound.closed]);
      await expect(tcpClient(port)).rejects.toThrow(/ECONNREFUSED/);
      await expect(
        m.sendRequest(request(), { transport: 'udp', address: '127.0.0.1', port }),
      ).rejects.toThrow('transport closed');
    } finally {
      await m.close();
    }
  });
});

describe('IPv6', () => {
  it('round-trips over UDP and TCP on ::1 with bracketed Via sent-by', async () => {
    const { m, inbox } = await manager();
    const udpPort = await m.listen({ transport: 'udp', address: '::1', port: 0 });
    const tcpPort = await m.listen({ transport: 'tcp', address: '::1', port: 0 });

    const peer = await udpPeer('::1');
    await peer.send(requestText({ via: 'SIP/2.0/UDP [::1]:5099;branch=z9hG4bK-v6;rport' }), udpPort);
    const inc = await inbox.next('request over ::1');
    expect(inc.source).toMatchObject({
      transport: 'udp',
      address: '::1',
      port: peer.port,
      localAddress: '::1',
    });
    expect(inc.msg.header('via')).toBe(
      `SIP/2.0/UDP [::1]:5099;branch=z9hG4bK-v6;rport=${peer.port};received=::1`,
    );
    await m.sendResponse(makeResponse(asRequest(inc.msg), 200), inc.source);
    expect((await peer.inbox.next('response over ::1')).rinfo).toMatchObject({
      address: '::1',
      port: udpPort,
    });

    await m.sendRequest(request(), { transport: 'udp', address: '[::1]', port: peer.port });
    const out = parse((await peer.inbox.next('request to [::1]')).text);
    expect(out.header('via')).toBe(`SIP/2.0/UDP [::1]:${udpPort};branch=z9hG4bK-out;rport`);

    const server = await tcpServer('::1');
    const sent = await m.sendRequest(request(), { transport: 'tcp', address: '::1', port: server.port });
    expect(sent).toEqual({ transport: 'tcp', address: '::1', port: server.port });
    const conn = await server.accepted.next('tcp connection over ::1');
    expect(parse(await conn.inbox.next('tcp request')).header('via')).toBe(
      `SIP/2.0/TCP [::1]:${tcpPort};branch=z9hG4bK-out;rport`,
    );
  });
});
