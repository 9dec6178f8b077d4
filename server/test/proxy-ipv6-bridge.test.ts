// RFC 6157 through the proxy: a dual-stack server (127.0.0.1 and ::1) record-routing a call
// between an IPv6 caller and an IPv4 callee, and back: two Record-Route values (the side
// towards each peer in its own family, RFC 5658), and the in-dialog BYE crossing families
// along the route set (NkSIP t22 bridge_4_6). Skipped when ::1 is unavailable.
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler } from '../src/core/app.js';
import { type Server, startServer } from '../src/server.js';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { cleanup, parse, type UdpPeer, udpPeer, until } from './transport-helpers.js';

const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = createSocket({ type: 'udp6', ipv6Only: true });
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => s.close(() => resolve(true)));
});

// proxies to the URI in X-To, with Record-Route; in-dialog requests follow their Route
const app: AppHandler = {
  route: (req) => {
    // in a dialog: on along the Route set to the Request-URI
    const to = req.header('x-to') ?? (req.toTag !== undefined ? req.uri : undefined);
    return to ? { kind: 'proxy', targets: [[to]], options: { recordRoute: true } } : { kind: 'process' };
  },
  method: () => ({ status: 200 }),
};

let server: Server | undefined;
let p4: number;
let p6: number;

beforeAll(async () => {
  if (!hasIpv6) return;
  server = await startServer(
    {
      ...DEFAULTS,
      listen: ['sip:127.0.0.1:0;transport=udp', 'sip:[::1]:0;transport=udp'],
      grpc: false,
      logLevel: 'silent',
      t1: 50,
      t4: 100,
    },
    { app },
  );
  p4 = server.listeners.find((l) => l.address === '127.0.0.1')?.port as number;
  p6 = server.listeners.find((l) => l.address === '::1')?.port as number;
});

afterAll(async () => {
  await cleanup();
  await server?.stop(500);
});

async function next(peer: UdpPeer, what: string, pred: (m: SipRequest | SipResponse) => boolean) {
  for (;;) {
    const m = parse((await peer.inbox.next(what, 3000)).text) as SipRequest | SipResponse;
    if (pred(m)) return m;
  }
}

function invite(caller: UdpPeer, callerHost: string, to: string, callId: string): string {
  return (
    `INVITE ${to} SIP/2.0\r\nVia: SIP/2.0/UDP ${callerHost}:${caller.port};branch=z9hG4bK-${callId};rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:a@${callerHost}>;tag=a-${callId}\r\nTo: <${to}>\r\nCall-ID: ${callId}\r\n` +
    `CSeq: 1 INVITE\r\nContact: <sip:a@${callerHost}:${caller.port}>\r\nX-To: ${to}\r\nContent-Length: 0\r\n\r\n`
  );
}

describe.skipIf(!hasIpv6)('IPv4 ⇄ IPv6 through the proxy (skipped when ::1 is unavailable)', () => {
  for (const [from, to] of [
    ['::1', '127.0.0.1'],
    ['127.0.0.1', '::1'],
  ] as const) {
    it(`${from} caller, ${to} callee: two Record-Routes, the BYE crosses back`, async () => {
      const callId = `bridge-${from}`;
      const caller = await udpPeer(from);
      const callee = await udpPeer(to);
      const h = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);
      const inPort = from === '::1' ? p6 : p4;
      const outPort = to === '::1' ? p6 : p4;
      const target = `sip:b@${h(to)}:${callee.port}`;
      await caller.send(invite(caller, h(from), target, callId), inPort, from);

      const inv = (await next(callee, 'INVITE at callee', (m) => m.kind === 'request')) as SipRequest;
      // the side towards the callee on top, in the callee's family; then the caller's side
      expect(inv.headerValues('record-route')).toEqual([
        `<sip:${h(to)}:${outPort};lr>`,
        `<sip:${h(from)}:${inPort};lr>`,
      ]);
      expect(inv.header('via')).toMatch(
        new RegExp(`^SIP/2\\.0/UDP ${h(to).replace(/[[\]]/g, '\\$&')}:${outPort};`),
      );
      const ok = makeResponse(inv, 200, { toTag: 'b1' });
      ok.addHeader('contact', `<sip:b@${h(to)}:${callee.port}>`);
      // a UAS copies Record-Route into its 2xx (RFC 3261 §12.1.1)
      for (const rr of inv.headerValues('record-route')) ok.addHeader('record-route', rr);
      await callee.send(serialize(ok), outPort, to);

      const resp = (await next(
        caller,
        '200 at caller',
        (m) => m.kind === 'response' && m.status === 200,
      )) as SipResponse;
      expect(resp.headerValues('record-route')).toEqual([
        `<sip:${h(to)}:${outPort};lr>`,
        `<sip:${h(from)}:${inPort};lr>`,
      ]);

      // the caller's BYE: its route set reversed, first hop the proxy's side in its family
      const bye =
        `BYE sip:b@${h(to)}:${callee.port} SIP/2.0\r\nVia: SIP/2.0/UDP ${h(from)}:${caller.port};branch=z9hG4bK-bye-${callId};rport\r\n` +
        `Max-Forwards: 70\r\nRoute: <sip:${h(from)}:${inPort};lr>, <sip:${h(to)}:${outPort};lr>\r\n` +
        `From: <sip:a@${h(from)}>;tag=a-${callId}\r\nTo: <${target}>;tag=b1\r\nCall-ID: ${callId}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n`;
      await caller.send(bye, inPort, from);
      const got = (await next(
        callee,
        'BYE at callee',
        (m) => m.kind === 'request' && m.method === 'BYE',
      )) as SipRequest;
      expect(got.headerValues('route')).toEqual([]);
      await callee.send(serialize(makeResponse(got, 200)), outPort, to);
      const byeOk = await next(caller, '200 to BYE', (m) => m.kind === 'response' && m.cseq.method === 'BYE');
      expect((byeOk as SipResponse).status).toBe(200);
      await until(() => server?.stats().proxy.forks === 0, 'forks gone');
    });
  }
});
