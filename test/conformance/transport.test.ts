// NkSIP t01 basic `transport` (reference/nksip.md §7) without TLS (websocket.test.ts has the
// TLS part; the DNS lookup of a public host is left out, nothing leaves 127.0.0.1): `server1`
// takes over the server's UDP and TCP listeners and answers `x-nk-op: reply-request` with the
// request as it got it; `client1` on listeners of its own sends with its UAC. The route
// callback line of an app names the transport a request came by (`transport`: `udp|tcp
// <local ip:port> <remote ip:port>`). Raw UDP and TCP peers play the clients whose Via and
// connection must be honoured. NkSIP also checks the `remote` of the responses its UAC gets;
// the contract gives an app's own requests' responses no transport, so the far side's view
// (the route callback's) is checked instead.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { TcpPeer, UdpPeer } from '../support/sip-peers.js';
import { buildRequest, headerOf, headersOf, parseWire, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp, resultHeader, type UacResult } from './apps.js';
import { Children, describeMessage } from './harness.js';

const languages = conformanceLanguages();

/** The port of an app's own listener of `transport`, from its ready line. */
function appPort(app: RunningApp, transport: 'udp' | 'tcp'): number {
  const ready = app.find('ready')[0];
  const l = (ready?.listeners as string[] | undefined)?.find((x) => x.startsWith(`${transport}:`));
  if (!l) throw new Error(`${app.name}: no ${transport} listener in ${JSON.stringify(ready)}`);
  return Number(l.split(':').at(-1));
}

/** The request an app got, from the body of its reply-request answer. */
function echoed(r: UacResult | undefined): WireMessage {
  expect(r?.code, JSON.stringify(r)).toBe(200);
  return parseWire(Buffer.from(r?.body ?? '', 'latin1'));
}

/** Comma-separated values of a header, one per element. */
function values(msg: WireMessage, name: string): string[] {
  return headersOf(msg, name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim());
}

describe.each(languages)('%s conformance apps: t01 transport (UDP and TCP)', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let server1: RunningApp;
  let client1: RunningApp;
  let udpPort: number;
  let tcpPort: number;
  let seq = 0;
  const callId = (what: string) => `t01-${what}-${process.pid}-${++seq}`;

  beforeAll(async () => {
    server = await children.server();
    udpPort = server.port('udp');
    tcpPort = server.port('tcp');
    server1 = await children.app(lang, server, { name: 'server1' });
    client1 = await children.app(lang, server, { name: 'client1', listen: ['sip:127.0.0.1:0'] });
  }, 60_000);

  afterAll(async () => {
    await children.stopAll();
  });

  /** The transport server1's route callback saw for a Call-ID. */
  async function seenBy(callIdOf: string): Promise<string | undefined> {
    const e = await server1.waitEvent((x) => x.kind === 'route' && x.callId === callIdOf, 3000);
    return e?.transport as string | undefined;
  }

  it('custom headers, several Contacts, User-Agent and the body reach the other side as sent', async () => {
    const body = randomBytes(100).toString('base64');
    const r = await client1.request('OPTIONS', `sip:127.0.0.1:${udpPort}`, {
      headers: [
        ['x-nksip', 'test1'],
        ['x-nk-op', 'reply-request'],
        ['user-agent', 'My SIP'],
      ],
      contact: '<sip:aaa:123>, <sips:bbb:321>',
      contentType: 'text/plain',
      body,
    });
    const req = echoed(r);
    expect(headerOf(req, 'x-nksip')).toBe('test1');
    expect(headersOf(req, 'user-agent')).toEqual(['My SIP']);
    expect(values(req, 'contact')).toEqual(['<sip:aaa:123>', '<sips:bbb:321>']);
    expect(req.body.toString('latin1')).toBe(body);
  });

  it('a request over UDP: the app is told of UDP and both ends; received and rport in the Via; the answer to the source', async () => {
    const peer = await UdpPeer.open();
    try {
      const id = callId('udp');
      // a sent-by the answer must not go to: RFC 3261 §18.2.1 received, RFC 3581 rport
      await peer.send(
        buildRequest({
          transport: 'udp',
          host: '192.0.2.1',
          port: 5999,
          ruri: `sip:127.0.0.1:${udpPort}`,
          callId: id,
          extra: ['x-nk-op: reply-request'],
        }),
        udpPort,
      );
      const res = await peer.waitFor((m) => m.status !== undefined && headerOf(m, 'call-id') === id, 3000);
      expect(res?.status, describeMessage(res)).toBe(200);
      expect(await seenBy(id)).toBe(`udp 127.0.0.1:${udpPort} 127.0.0.1:${peer.port}`);
      const req = parseWire((res as WireMessage).body);
      expect(headerOf(req, 'via')).toBe(
        `SIP/2.0/UDP 192.0.2.1:5999;rport=${peer.port};branch=z9hG4bK-${id};received=127.0.0.1`,
      );
    } finally {
      await peer.close();
    }
  });

  it('a request over TCP: the app is told of TCP and both ends; the answer comes back on the same connection', async () => {
    const peer = await TcpPeer.connect(tcpPort);
    try {
      const id = callId('tcp');
      await peer.write(
        buildRequest({
          transport: 'tcp',
          host: '192.0.2.1',
          port: 5999,
          ruri: `sip:127.0.0.1:${tcpPort};transport=tcp`,
          callId: id,
          extra: ['x-nk-op: reply-request'],
        }),
      );
      const res = await peer.waitFor((m) => m.status !== undefined && headerOf(m, 'call-id') === id, 3000);
      expect(res?.status, describeMessage(res)).toBe(200);
      expect(await seenBy(id)).toBe(`tcp 127.0.0.1:${tcpPort} 127.0.0.1:${peer.localPort}`);
      const req = parseWire((res as WireMessage).body);
      expect(headerOf(req, 'via')).toBe(
        `SIP/2.0/TCP 192.0.2.1:5999;rport=${peer.localPort};branch=z9hG4bK-${id};received=127.0.0.1`,
      );
      expect(peer.isClosed).toBe(false);
    } finally {
      peer.close();
    }
  });

  it("the app's request to a transport=tcp URI goes over TCP, its Via and Contact say so", async () => {
    const own = appPort(client1, 'tcp');
    const r = await client1.request('OPTIONS', `<sip:127.0.0.1:${tcpPort};transport=tcp>`, {
      headers: [['x-nk-op', 'reply-request']],
      from: '<sip:client1@nksip>',
      makeContact: true,
    });
    const req = echoed(r);
    expect(await seenBy(r?.callId as string)).toMatch(
      new RegExp(`^tcp 127\\.0\\.0\\.1:${tcpPort} 127\\.0\\.0\\.1:\\d+$`),
    );
    expect(headerOf(req, 'via')).toMatch(new RegExp(`^SIP/2\\.0/TCP 127\\.0\\.0\\.1:${own};`));
    expect(values(req, 'contact')).toEqual([`<sip:client1@127.0.0.1:${own};transport=tcp>`]);
    // and over UDP when the URI says nothing
    const u = await client1.request('OPTIONS', `sip:127.0.0.1:${udpPort}`, {
      headers: [['x-nk-op', 'reply-request']],
      from: '<sip:client1@nksip>',
      makeContact: true,
    });
    const ureq = echoed(u);
    const uport = appPort(client1, 'udp');
    expect(await seenBy(u?.callId as string)).toBe(`udp 127.0.0.1:${udpPort} 127.0.0.1:${uport}`);
    expect(headerOf(ureq, 'via')).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${uport};`));
    expect(values(ureq, 'contact')).toEqual([`<sip:client1@127.0.0.1:${uport}>`]);
  });

  it('a request over the UDP size limit goes over TCP (RFC 3261 §18.1.1), the body intact', async () => {
    const big = Array.from({ length: 5000 }, (_, i) => `${i + 1} `).join('');
    const r = await client1.request('OPTIONS', `sip:127.0.0.1:${udpPort}`, {
      headers: [['x-nk-op', 'reply-request']],
      contentType: 'text/plain',
      body: big,
    });
    const req = echoed(r);
    expect(await seenBy(r?.callId as string)).toMatch(new RegExp(`^tcp 127\\.0\\.0\\.1:${tcpPort} `));
    expect(headerOf(req, 'via')).toMatch(/^SIP\/2\.0\/TCP /);
    expect(req.body.toString('latin1')).toBe(big);
  });

  it('local_host names the Contact; the Route headers the app sent arrive', async () => {
    const r = await client1.request('OPTIONS', `sip:127.0.0.1:${udpPort}`, {
      headers: [['x-nk-op', 'reply-request']],
      from: '<sip:client1@nksip>',
      makeContact: true,
      localHost: 'mihost',
      route: [`<sip:127.0.0.1:${udpPort};lr>`, '<sip:aaa;lr>, <sips:bbb:123;lr>'],
    });
    const req = echoed(r);
    expect(values(req, 'contact')).toEqual([`<sip:client1@mihost:${appPort(client1, 'udp')}>`]);
    expect(values(req, 'route')).toEqual([
      `<sip:127.0.0.1:${udpPort};lr>`,
      '<sip:aaa;lr>',
      '<sips:bbb:123;lr>',
    ]);
  });

  it("an OPTIONS no app handles: the server's 200 has an automatic Contact with the transport and port it came by", async () => {
    const bare = await children.server();
    const tcp = await client1.request('OPTIONS', `<sip:127.0.0.1:${bare.port('tcp')};transport=tcp>`);
    expect(tcp?.code, JSON.stringify(tcp)).toBe(200);
    expect(resultHeader(tcp, 'contact')).toBe(`<sip:127.0.0.1:${bare.port('tcp')};transport=tcp>`);
    const udp = await client1.request('OPTIONS', `sip:127.0.0.1:${bare.port('udp')}`);
    expect(udp?.code, JSON.stringify(udp)).toBe(200);
    expect(resultHeader(udp, 'contact')).toBe(`<sip:127.0.0.1:${bare.port('udp')}>`);
  });

  it('stateless and stateful replies from the route callback', async () => {
    for (const op of ['reply-stateless', 'reply-stateful']) {
      const r = await client1.request('OPTIONS', `sip:127.0.0.1:${udpPort}`, { headers: [['x-nk-op', op]] });
      expect(r?.code, `${op}: ${JSON.stringify(r)}`).toBe(200);
    }
  });
});
