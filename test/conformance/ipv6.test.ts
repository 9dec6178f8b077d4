// NkSIP t22 (ipv6) against the conformance app on a server listening on ::1 and 127.0.0.1:
// basic (requests over UDP and TCP on ::1 answered by the app, with the IPv6 Via round-trip;
// the app's own request leaving with an IPv6 Via and Contact), invite (an INVITE from the
// app to an IPv6 peer, ACKed and hung up), bridge_4_6 (an IPv6 caller and an IPv4 callee
// through the app proxying with Record-Route: two Record-Routes, the BYE across families).
// The RFC 5118 torture messages over ::1 are in test/interop/rfc5118-ipv6.test.ts. Skipped
// when ::1 cannot be bound here.
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { TcpPeer, UdpPeer } from '../support/sip-peers.js';
import { headerOf, headersOf, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage } from './harness.js';

const languages = conformanceLanguages();

const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = createSocket({ type: 'udp6', ipv6Only: true });
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => s.close(() => resolve(true)));
});

let seq = 0;

/** A request as text from a peer at `host:port` over `transport`. */
function request(o: {
  method: string;
  ruri: string;
  transport: 'udp' | 'tcp';
  host: string;
  port: number;
  callId: string;
  cseq?: number;
  to?: string;
  fromTag?: string;
  headers?: string[];
}): Buffer {
  const lines = [
    `${o.method} ${o.ruri} SIP/2.0`,
    `Via: SIP/2.0/${o.transport.toUpperCase()} ${o.host}:${o.port};rport;branch=z9hG4bK-v6-${++seq}`,
    'Max-Forwards: 70',
    `From: <sip:tester@${o.host}>;tag=${o.fromTag ?? `f-${o.callId}`}`,
    `To: ${o.to ?? `<${o.ruri}>`}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 1} ${o.method}`,
    `Contact: <sip:tester@${o.host}:${o.port}${o.transport === 'tcp' ? ';transport=tcp' : ''}>`,
    ...(o.headers ?? []),
    'Content-Length: 0',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** A response to `req` as a UAS peer sends it (Via, From, To with a tag, Call-ID, CSeq copied). */
function answer(req: WireMessage, status: number, extra: string[] = []): Buffer {
  const lines = [
    `SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Busy Here'}`,
    ...headersOf(req, 'via').map((v) => `Via: ${v}`),
    ...headersOf(req, 'record-route').map((v) => `Record-Route: ${v}`),
    `From: ${headerOf(req, 'from')}`,
    `To: ${headerOf(req, 'to')}${/;tag=/.test(headerOf(req, 'to') ?? '') ? '' : ';tag=uas'}`,
    `Call-ID: ${headerOf(req, 'call-id')}`,
    `CSeq: ${headerOf(req, 'cseq')}`,
    ...extra,
    'Content-Length: 0',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

describe.skipIf(!hasIpv6).each(languages)('%s conformance app: NkSIP t22 ipv6 (needs ::1)', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let v6: number;
  let v4: number;

  beforeAll(async () => {
    server = await children.server({ listen: ['sip:127.0.0.1:0', 'sip:[::1]:0'] });
    app = await children.app(lang, server, { name: 'confv6' });
    v6 = server.port('udp', '[::1]');
    v4 = server.port('udp');
  });

  afterAll(async () => {
    await children.stopAll();
  });

  it('basic: OPTIONS over UDP and TCP on ::1 answered by the app; IPv6 sent-by and rport come back', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const peer =
        transport === 'udp'
          ? await UdpPeer.open('::1')
          : await TcpPeer.connect(server.port('tcp', '[::1]'), '::1');
      try {
        const local = peer instanceof UdpPeer ? peer.port : peer.localPort;
        const callId = `v6-basic-${transport}-${lang}`;
        const data = request({
          method: 'OPTIONS',
          ruri: `sip:confv6@[::1]:${v6}`,
          transport,
          host: '[::1]',
          port: local,
          callId,
          headers: ['x-nk-id: tester'],
        });
        if (peer instanceof UdpPeer) await peer.send(data, v6);
        else await peer.write(data);
        const res = await peer.waitFor((m) => m.status === 200, 3000);
        expect(res?.status, describeMessage(res)).toBe(200);
        expect(headerOf(res as WireMessage, 'via')).toMatch(
          new RegExp(`^SIP/2\\.0/${transport} \\[::1\\]:${local};rport=${local};`, 'i'),
        );
        expect(headerOf(res as WireMessage, 'x-nk-id')).toBe('tester,confv6');
        expect(app.find('callback', { kind: 'options', callId }).length).toBe(1);
      } finally {
        if (peer instanceof UdpPeer) await peer.close();
        else peer.close();
      }
    }
  });

  it('invite: the app calls an IPv6 peer: IPv6 Via and Contact, ACK, then its BYE', async () => {
    const peer = await UdpPeer.open('::1');
    try {
      const call = app.send('INVITE', `sip:callee@[::1]:${peer.port}`, { auto2xxAck: true });
      const inv = await peer.waitFor((m) => m.method === 'INVITE', 3000);
      expect(inv, 'INVITE at the IPv6 peer').toBeDefined();
      const req = inv as WireMessage;
      expect(headerOf(req, 'via')).toMatch(new RegExp(`^SIP/2\\.0/UDP \\[::1\\]:${v6};`));
      expect(headerOf(req, 'contact')).toMatch(new RegExp(`<sip:[^@>]*@?\\[::1\\]:${v6}>`));
      await peer.send(answer(req, 200, [`Contact: <sip:callee@[::1]:${peer.port}>`]), v6);
      const res = await app.result(call, 5000);
      expect(res?.code).toBe(200);
      expect(await peer.waitFor((m) => m.method === 'ACK', 3000)).toBeDefined();
      const bye = app.send('BYE', { dialog: res?.dialog as string });
      const got = await peer.waitFor((m) => m.method === 'BYE', 3000);
      expect(got, 'BYE at the IPv6 peer').toBeDefined();
      await peer.send(answer(got as WireMessage, 200), v6);
      expect((await app.result(bye, 5000))?.code).toBe(200);
    } finally {
      await peer.close();
    }
  });

  it('proxy: through two proxies on ::1, stateless then stateful, with Record-Route', async () => {
    const p1 = await children.app(lang, server, { name: 'p1v6', listen: ['sip:[::1]:0'] });
    const ready = p1.find('ready')[0];
    const udp = (ready?.listeners as string[] | undefined)?.find((l) => l.startsWith('udp:'));
    const p1Port = Number(udp?.slice(udp.lastIndexOf(':') + 1));
    expect(p1Port).toBeGreaterThan(0);
    for (const mode of ['stateless', 'stateful']) {
      const caller = await UdpPeer.open('::1');
      const uas = await UdpPeer.open('::1');
      try {
        const callId = `v6-proxy-${mode}-${lang}`;
        const ruri = `sip:uas@[::1]:${uas.port}`;
        await caller.send(
          request({
            method: 'INVITE',
            ruri,
            transport: 'udp',
            host: '[::1]',
            port: caller.port,
            callId,
            headers: [
              `x-nk-proxy: sip:[::1]:${p1Port}`,
              `x-nk-proxy: ${ruri}`,
              `x-nk-proxy-mode: ${mode}`,
              'x-nk-rr: true',
              'x-nk-id: tester',
            ],
          }),
          v6,
        );
        const inv = (await uas.waitFor((m) => m.method === 'INVITE', 3000)) as WireMessage;
        expect(inv, `INVITE at the UAS (${mode})`).toBeDefined();
        // both proxies on the way, in IPv6: their Vias above the caller's, their Record-Routes
        const vias = headersOf(inv, 'via').flatMap((v) => v.split(/\s*,\s*(?=SIP\/)/i));
        expect(vias).toHaveLength(3);
        expect(vias.every((v) => /^SIP\/2\.0\/UDP \[::1\]:\d+;/i.test(v))).toBe(true);
        expect(vias[2]).toMatch(new RegExp(`^SIP/2\\.0/UDP \\[::1\\]:${caller.port};`, 'i'));
        expect(headersOf(inv, 'record-route').flatMap((v) => v.split(/\s*,\s*/))).toEqual([
          `<sip:[::1]:${p1Port};lr>`,
          `<sip:[::1]:${v6};lr>`,
        ]);
        expect(headerOf(inv, 'x-nk-id')).toBe('tester,confv6,p1v6');
        // answered where its top Via says (RFC 3261 §18.2.2)
        await uas.send(answer(inv, 486), Number(/\]:(\d+);/.exec(vias[0] as string)?.[1]));
        const res = await caller.waitFor((m) => (m.status ?? 0) >= 300, 3000);
        expect(res?.status, describeMessage(res)).toBe(486);
      } finally {
        await caller.close();
        await uas.close();
      }
    }
  });

  it('bridge_4_6: an IPv6 caller, an IPv4 callee, the app record-routing between them', async () => {
    const caller = await UdpPeer.open('::1');
    const callee = await UdpPeer.open('127.0.0.1');
    try {
      const callId = `v6-bridge-${lang}`;
      const ruri = `sip:callee@127.0.0.1:${callee.port}`;
      await caller.send(
        request({
          method: 'INVITE',
          ruri,
          transport: 'udp',
          host: '[::1]',
          port: caller.port,
          callId,
          headers: [`x-nk-proxy: ${ruri}`, 'x-nk-rr: true'],
        }),
        v6,
      );
      const inv = (await callee.waitFor((m) => m.method === 'INVITE', 3000)) as WireMessage;
      expect(inv, 'INVITE at the IPv4 callee').toBeDefined();
      // the callee's side on top, in IPv4; the caller's side in IPv6
      expect(headersOf(inv, 'record-route').flatMap((v) => v.split(/\s*,\s*/))).toEqual([
        `<sip:127.0.0.1:${v4};lr>`,
        `<sip:[::1]:${v6};lr>`,
      ]);
      await callee.send(answer(inv, 200, [`Contact: <sip:callee@127.0.0.1:${callee.port}>`]), v4);
      const ok = (await caller.waitFor((m) => m.status === 200, 3000)) as WireMessage;
      expect(ok, 'the 200 at the IPv6 caller').toBeDefined();
      const toTag = headerOf(ok, 'to') as string;
      // ACK and BYE along the route set, reversed: first hop the app's IPv6 side (with
      // x-nk-proxy, so the app proxies them on, as in the other proxy scenarios)
      const route = `Route: <sip:[::1]:${v6};lr>, <sip:127.0.0.1:${v4};lr>`;
      const common = { ruri, transport: 'udp' as const, host: '[::1]', port: caller.port, callId, to: toTag };
      await caller.send(request({ ...common, method: 'ACK', headers: [route, `x-nk-proxy: ${ruri}`] }), v6);
      expect(await callee.waitFor((m) => m.method === 'ACK', 3000)).toBeDefined();
      await caller.send(
        request({ ...common, method: 'BYE', cseq: 2, headers: [route, `x-nk-proxy: ${ruri}`] }),
        v6,
      );
      const bye = (await callee.waitFor((m) => m.method === 'BYE', 3000)) as WireMessage;
      expect(bye, 'the BYE at the IPv4 callee').toBeDefined();
      await callee.send(answer(bye, 200), v4);
      const byeOk = await caller.waitFor(
        (m) => m.status === 200 && / BYE$/.test(headerOf(m, 'cseq') ?? ''),
        3000,
      );
      expect(byeOk, 'the 200 to the BYE').toBeDefined();
    } finally {
      await caller.close();
      await callee.close();
    }
  });
});
