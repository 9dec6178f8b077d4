// RFC 3263 in a running server: its UAC and its proxy find a host name's targets through the
// DNS server the test starts on 127.0.0.1 (config `dnsServers`), move on from a 503 or a
// refused connection to the next SRV target, and answer a name that points nowhere with an
// error (UAC) or a 503 branch (500 upstream, RFC 3261 §16.7), leaving nothing pending.
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler } from '../src/core/app.js';
import type { UacErrorKind } from '../src/core/uac.js';
import { type Server, startServer } from '../src/server.js';
import { makeResponse } from '../src/sip/build.js';
import { viaBranch } from '../src/sip/headers.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { startTestDns, type TestDns } from './dns-server.js';
import { cleanup, parse, requestText, tcpServer, udpPeer, until } from './transport-helpers.js';

let dns: TestDns;
let server: Server;
let sipPort: number;
let busy: Responder;
let ok: Responder;
let refusedPort: number;

interface Responder {
  port: number;
  got: SipRequest[];
  close(): Promise<void>;
}

/** A UDP SIP peer on 127.0.0.1 answering every request with `status`, recording it. */
async function responder(status: number): Promise<Responder> {
  const socket = createSocket('udp4');
  const got: SipRequest[] = [];
  socket.on('message', (data, rinfo) => {
    const req = parse(data.toString('latin1')) as SipRequest;
    if (req.kind !== 'request' || req.method === 'ACK') return;
    got.push(req);
    socket.send(serialize(makeResponse(req, status, { toTag: `t${status}` })), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { port: socket.address().port, got, close: () => new Promise((r) => socket.close(() => r())) };
}

// routes R-URI user `proxy` to the name of its `x-to` header, processes everything else
const app: AppHandler = {
  route: (req) => {
    const to = req.header('x-to');
    return to ? { kind: 'proxy', targets: [[to]], options: {} } : { kind: 'process' };
  },
  method: () => ({ status: 200 }),
};

beforeAll(async () => {
  // a TCP port nobody listens on: open one and close it
  refusedPort = (await tcpServer()).port;
  await cleanup();
  busy = await responder(503);
  ok = await responder(200);
  dns = await startTestDns({
    'svc.test': [],
    '_sip._udp.svc.test': [
      { type: 'SRV', priority: 1, weight: 0, port: busy.port, target: 'busy.svc.test' },
      { type: 'SRV', priority: 2, weight: 0, port: ok.port, target: 'ok.svc.test' },
    ],
    'busy.svc.test': [{ type: 'A', address: '127.0.0.1' }],
    'ok.svc.test': [{ type: 'A', address: '127.0.0.1' }],
    // NAPTR: TCP first (refused), then UDP
    'mixed.test': [
      {
        type: 'NAPTR',
        order: 1,
        preference: 1,
        flags: 's',
        service: 'SIP+D2T',
        replacement: '_sip._tcp.mixed.test',
      },
    ],
    '_sip._tcp.mixed.test': [
      { type: 'SRV', priority: 1, weight: 0, port: refusedPort, target: 'ok.svc.test' },
      { type: 'SRV', priority: 2, weight: 0, port: refusedPort, target: 'v6.mixed.test' },
    ],
    'v6.mixed.test': [{ type: 'A', address: '127.0.0.2' }],
    'nowhere.test': [],
    '_sip._udp.nowhere.test': [{ type: 'SRV', priority: 0, weight: 0, port: 0, target: '.' }],
  });
  server = await startServer(
    {
      ...DEFAULTS,
      listen: ['sip:127.0.0.1:0'],
      grpc: false,
      logLevel: 'silent',
      t1: 50,
      t4: 100,
      dnsServers: [dns.server],
    },
    { app },
  );
  sipPort = server.listeners.find((l) => l.transport === 'udp')?.port as number;
});

afterAll(async () => {
  await server?.stop(500);
  await dns?.close();
  await busy?.close();
  await ok?.close();
  await cleanup();
});

function uacSend(
  uri: string,
): Promise<{ final?: SipResponse; error?: { kind: UacErrorKind; message: string } }> {
  return new Promise((resolve) => {
    server.uac.send(
      { method: 'OPTIONS', uri },
      {
        final: (final) => resolve({ final }),
        error: (kind, message) => resolve({ error: { kind, message } }),
      },
    );
  });
}

describe('RFC 3263 in the server', () => {
  it('UAC: the SRV target answering 503 is left for the next one, with a new branch', async () => {
    const before = { busy: busy.got.length, ok: ok.got.length };
    const { final } = await uacSend('sip:bob@svc.test');
    expect(final?.status).toBe(200);
    const first = busy.got[before.busy] as SipRequest;
    const second = ok.got[before.ok] as SipRequest;
    expect(first.callId).toBe(second.callId);
    expect(viaBranch(first.topVia!)).not.toBe(viaBranch(second.topVia!));
  });

  it('UAC: NAPTR to TCP targets that refuse: service_unavailable after trying each', async () => {
    const { error } = await uacSend('sip:bob@mixed.test');
    expect(error?.kind).toBe('service_unavailable');
    expect(error?.message).toContain('127.0.0.2');
  });

  it('UAC: a name that points nowhere is an error, nothing left pending', async () => {
    const { error } = await uacSend('sip:bob@nowhere.test');
    expect(error?.kind).toBe('service_unavailable');
    expect(server.stats().uacPending).toBe(0);
  });

  it('proxy: a branch moves from the 503 target to the next; a name pointing nowhere gets 500', async () => {
    const client = await udpPeer();
    const send = async (to: string, callId: string) => {
      const text = requestText({
        via: `SIP/2.0/UDP 127.0.0.1:${client.port};branch=z9hG4bK-${callId};rport`,
        callId,
      });
      await client.send(text.replace('Max-Forwards: 70\r\n', `Max-Forwards: 70\r\nX-To: ${to}\r\n`), sipPort);
      for (;;) {
        const r = parse((await client.inbox.next(`response to ${callId}`, 5000)).text) as SipResponse;
        if (r.kind === 'response' && r.status >= 200) return r;
      }
    };
    const before = { busy: busy.got.length, ok: ok.got.length };
    expect((await send('sip:bob@svc.test', 'p1')).status).toBe(200);
    expect([busy.got.length, ok.got.length]).toEqual([before.busy + 1, before.ok + 1]);
    const lost = await send('sip:bob@nowhere.test', 'p2');
    // the branch ends 503 "DNS Lookup Failed"; a proxy passes a 503 upstream as 500 (§16.7 step 6)
    expect(lost.status).toBe(500);
    await until(() => server.stats().proxy.forks === 0 && server.stats().proxy.branches === 0, 'forks gone');
  });

  it('nothing is left behind: no request pending, every transaction ended, no connection', async () => {
    // non-INVITE transactions linger Timer J/K (64*T1 = 3.2 s here) after their final answer
    await until(
      () => {
        const s = server.stats();
        return s.uacPending === 0 && s.transactions.client === 0 && s.transactions.server === 0;
      },
      'transactions ended',
      8000,
    );
    expect(server.stats().connections).toBe(0);
  });
});
