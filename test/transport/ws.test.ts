// SIP over WebSocket (RFC 7118) over loopback: the `sip` subprotocol required, URL paths
// (shared ports, longest prefix), one SIP message per WebSocket message, Via WS/WSS with
// received/rport, answers and new requests on the client's connection, our own client side
// (WS and WSS with verification), and bad input: wrong subprotocol, wrong path, a message over
// the limit, plain HTTP — each refused or closed, counts back to zero, the listener serving.
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { makeResponse } from '../../server/src/sip/build.js';
import type { SipRequest } from '../../server/src/sip/message.js';
import { TransportManager, type TransportOptions } from '../../server/src/transport/manager.js';
import { longestPrefix, normalizePath, pathServes } from '../../server/src/transport/ws.js';
import {
  cleanup,
  cleanups,
  newManager,
  parse,
  Queue,
  request,
  requestText,
  sleep,
  until,
} from '../../server/test/transport-helpers.js';
import { makeTestCerts, type TestCerts, tlsSettings } from '../support/certs.js';

const manager = (opts: TransportOptions = {}) => newManager((o) => new TransportManager(o), opts);

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.remove());

afterEach(async () => {
  await cleanup();
  await sleep(5);
  expect(process.getActiveResourcesInfo().filter((r) => /TCP|TLS/.test(r))).toEqual([]);
});

interface WsPeer {
  ws: WebSocket;
  inbox: Queue<string>;
  closed: Promise<{ code: number }>;
}

/** A browser-like WebSocket client: opens (or fails with the HTTP status), records messages. */
function wsPeer(
  url: string,
  protocols: string[] = ['sip'],
  opts: { ca?: string; autoPong?: boolean } = {},
): Promise<WsPeer> {
  const ws = new WebSocket(url, protocols, {
    ...(opts.ca ? { ca: opts.ca } : {}),
    ...(opts.autoPong === false ? { autoPong: false } : {}),
  });
  const inbox = new Queue<string>();
  ws.on('message', (d) => inbox.put(d.toString()));
  const closed = new Promise<{ code: number }>((r) => ws.once('close', (code) => r({ code })));
  cleanups.push(() => {
    ws.terminate();
    return closed;
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('open', () => resolve({ ws, inbox, closed }));
  });
}

const browserVia = 'SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-ws1';

describe('URL paths', () => {
  it('normalise and match by whole segments; the longest prefix wins', () => {
    expect([normalizePath(undefined), normalizePath('/ws/'), normalizePath('ws')]).toEqual([
      '/',
      '/ws',
      '/ws',
    ]);
    expect([pathServes('/ws', '/ws'), pathServes('/ws', '/ws/a'), pathServes('/ws', '/wsx')]).toEqual([
      true,
      true,
      false,
    ]);
    expect(pathServes('/', '/anything')).toBe(true);
    expect(longestPrefix(['/', '/a', '/a/b'], '/a/b/c')).toBe('/a/b');
    expect(longestPrefix(['/a'], '/b')).toBeUndefined();
  });
});

describe('WS', () => {
  it('takes one SIP message per WebSocket message: Via WS stamped, answer and new requests on the connection', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'ws', address: '127.0.0.1', port: 0, path: '/ws' });
    const peer = await wsPeer(`ws://127.0.0.1:${port}/ws`);
    expect(peer.ws.protocol).toBe('sip');
    // RFC 7118: no Content-Length needed, the frame delimits the message
    peer.ws.send(requestText({ via: browserVia }).replace('Content-Length: 0\r\n', ''));
    const inc = await inbox.next('request over WS');
    expect(inc.source).toMatchObject({ transport: 'ws', address: '127.0.0.1', localPort: port, path: '/ws' });
    expect(inc.msg.topVia?.params).toContainEqual(['received', '127.0.0.1']);
    await m.sendResponse(makeResponse(inc.msg as SipRequest, 200), inc.source);
    expect((await peer.inbox.next('response')).startsWith('SIP/2.0 200 OK\r\n')).toBe(true);
    // a new request to the browser goes over the connection it opened
    await m.sendRequest(request({ method: 'INVITE' }), {
      transport: 'ws',
      address: inc.source.address,
      port: inc.source.port,
    });
    const invite = parse(await peer.inbox.next('INVITE on the same connection'));
    expect(invite.kind === 'request' && invite.method).toBe('INVITE');
    expect(invite.header('via')).toBe(`SIP/2.0/WS 127.0.0.1:${port};branch=z9hG4bK-out;rport`);
    expect(m.stats()).toEqual({ listeners: 1, connections: 1 });
    peer.ws.close();
    await until(() => m.stats().connections === 0, 'connection gone');
  });

  it('refuses an upgrade without the sip subprotocol, and one to a path nobody serves', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'ws', address: '127.0.0.1', port: 0, path: '/ws' });
    await expect(wsPeer(`ws://127.0.0.1:${port}/ws`, [])).rejects.toThrow('HTTP 400');
    await expect(wsPeer(`ws://127.0.0.1:${port}/ws`, ['chat'])).rejects.toThrow('HTTP 400');
    await expect(wsPeer(`ws://127.0.0.1:${port}/other`)).rejects.toThrow('HTTP 404');
    await expect(wsPeer(`ws://127.0.0.1:${port}/wsx`)).rejects.toThrow('HTTP 404');
    expect(m.stats().connections).toBe(0);
    const ok = await wsPeer(`ws://127.0.0.1:${port}/ws/deeper`);
    ok.ws.send(requestText({ via: browserVia, callId: 'ok' }));
    expect((await inbox.next('request')).source.path).toBe('/ws/deeper');
  });

  it('answers plain HTTP with 426', async () => {
    const { m } = await manager();
    const port = await m.listen({ transport: 'ws', address: '127.0.0.1', port: 0 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(426);
    await until(() => m.stats().connections === 0, 'no connection');
  });

  it('closes a connection sending a message over the limit (1009) and keeps serving', async () => {
    const { m, inbox } = await manager({ wsMaxMessage: 2048 });
    const port = await m.listen({ transport: 'ws', address: '127.0.0.1', port: 0 });
    const big = await wsPeer(`ws://127.0.0.1:${port}/`);
    big.ws.send(requestText({ via: browserVia, body: 'x'.repeat(4096) }));
    expect((await big.closed).code).toBe(1009);
    await until(() => m.stats().connections === 0, 'connection closed');
    expect(inbox.items).toEqual([]);
    const next = await wsPeer(`ws://127.0.0.1:${port}/`);
    next.ws.send(requestText({ via: browserVia, callId: 'small' }));
    expect((await inbox.next('request after')).msg.callId).toBe('small');
  });

  it('keeps an idle connection whose peer answers pings (a browser), closes one that does not', async () => {
    const { m } = await manager({ idleTimeout: 150 });
    const port = await m.listen({ transport: 'ws', address: '127.0.0.1', port: 0 });
    const live = await wsPeer(`ws://127.0.0.1:${port}/`);
    const pings = new Queue<true>();
    live.ws.on('ping', () => pings.put(true));
    const mute = await wsPeer(`ws://127.0.0.1:${port}/`, ['sip'], { autoPong: false });
    await pings.next('first ping', 3000);
    await pings.next('second ping: the pong kept it open', 3000);
    // the mute peer got its ping too and is gone; the live one is still served
    expect((await mute.closed).code).toBe(1006);
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    await until(() => m.stats().connections === 1, 'one connection left');
  });

  it('shares a port among paths: closing one path keeps the others served, the last closes the port', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'ws', address: '127.0.0.1', port: 0, path: '/a' });
    expect(await m.listen({ transport: 'ws', address: '127.0.0.1', port, path: '/a/b' })).toBe(port);
    expect(m.stats().listeners).toBe(1);
    const deep = await wsPeer(`ws://127.0.0.1:${port}/a/b/c`);
    deep.ws.send(requestText({ via: browserVia, callId: 'deep' }));
    expect((await inbox.next('request')).source.path).toBe('/a/b/c');
    await m.closeListener('ws', '127.0.0.1', port, '/a');
    await expect(wsPeer(`ws://127.0.0.1:${port}/a`)).rejects.toThrow('HTTP 404');
    await wsPeer(`ws://127.0.0.1:${port}/a/b`);
    await m.closeListener('ws', '127.0.0.1', port, '/a/b');
    expect(m.stats().listeners).toBe(0);
    await expect(wsPeer(`ws://127.0.0.1:${port}/a/b`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('connects as a WebSocket client (sip subprotocol) and reuses that connection', async () => {
    const server = await manager();
    const port = await server.m.listen({ transport: 'ws', address: '127.0.0.1', port: 0 });
    const client = await manager();
    const cport = await client.m.listen({ transport: 'ws', address: '127.0.0.1', port: 0 });
    const target = { transport: 'ws' as const, address: '127.0.0.1', port };
    await client.m.sendRequest(request({ callId: 'c1' }), target);
    const inc = await server.inbox.next('request');
    expect(inc.msg.header('via')).toMatch(new RegExp(`^SIP/2.0/WS 127.0.0.1:${cport};`));
    await server.m.sendResponse(makeResponse(inc.msg as SipRequest, 200), inc.source);
    const resp = await client.inbox.next('response');
    expect(resp.msg.kind === 'response' && resp.msg.status).toBe(200);
    await client.m.sendRequest(request({ callId: 'c2' }), target);
    expect((await server.inbox.next('second')).source.connectionId).toBe(inc.source.connectionId);
    expect([server.m.stats().connections, client.m.stats().connections]).toEqual([1, 1]);
    await client.m.close();
    await until(() => server.m.stats().connections === 0, 'server side closed');
  });

  it('fails a client connect to a server that does not speak the sip subprotocol', async () => {
    const { WebSocketServer } = await import('ws');
    const other = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
    cleanups.push(() => new Promise<void>((r) => other.close(() => r())));
    await new Promise((r) => other.once('listening', r));
    other.on('connection', (s) => cleanups.push(() => s.terminate()));
    const port = (other.address() as { port: number }).port;
    const { m } = await manager();
    await expect(m.sendRequest(request(), { transport: 'ws', address: '127.0.0.1', port })).rejects.toThrow(
      /sip subprotocol/,
    );
    expect(m.stats().connections).toBe(0);
  });
});

describe('WSS', () => {
  it('serves a browser that trusts the certificate; Via WSS', async () => {
    const { m, inbox } = await manager({ tls: tlsSettings(certs.good) });
    const port = await m.listen({ transport: 'wss', address: '127.0.0.1', port: 0, path: '/ws' });
    const peer = await wsPeer(`wss://127.0.0.1:${port}/ws`, ['sip'], { ca: certs.good.cert });
    peer.ws.send(requestText({ via: 'SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK-wss' }));
    const inc = await inbox.next('request over WSS');
    expect(inc.source).toMatchObject({ transport: 'wss', path: '/ws' });
    await m.sendResponse(makeResponse(inc.msg as SipRequest, 200), inc.source);
    expect((await peer.inbox.next('response')).startsWith('SIP/2.0 200 OK\r\n')).toBe(true);
  });

  it('our client checks the certificate: untrusted fails clearly, trusted works', async () => {
    const server = await manager({ tls: tlsSettings(certs.good) });
    const port = await server.m.listen({ transport: 'wss', address: '127.0.0.1', port: 0 });
    const target = { transport: 'wss' as const, address: '127.0.0.1', port };
    const untrusting = await manager({ tls: tlsSettings(certs.other, certs.other) });
    await expect(untrusting.m.sendRequest(request(), target)).rejects.toThrow(
      /connect to wss .*self-signed/i,
    );
    expect(untrusting.m.stats().connections).toBe(0);
    await until(() => server.m.stats().connections === 0, 'server side clean');
    const trusting = await manager({ tls: tlsSettings(certs.other, certs.good) });
    await trusting.m.sendRequest(request({ callId: 'wss-ok' }), target);
    expect((await server.inbox.next('request')).msg.callId).toBe('wss-ok');
  });

  it('refuses to listen on WSS without a certificate', async () => {
    const { m } = await manager();
    await expect(m.listen({ transport: 'wss', address: '127.0.0.1', port: 0 })).rejects.toThrow(
      /no TLS certificate configured/,
    );
  });
});
