// NkSIP t15_gruu, t21_outbound (register, flow) and t23_websocket proxy, through the
// conformance apps: `registrar` is NkSIP's test registrar and proxy (registrar plugin,
// NKSIP_ROUTE=registrar: a request for a user goes to what the registrar finds for the
// Request-URI, a GRUU included) on UDP/TCP and WSS listeners of its own; `ua1` and `ua2` are
// UAs on listeners of their own. The UAs that register with outbound are played by the test
// itself on raw sockets (UDP, TCP, and a WebSocket with the `sip` subprotocol, as a browser):
// only they know the flow they opened, and they answer what reaches them over it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import type { RunningServer } from '../support/server-process.js';
import { sleep, TcpPeer, UdpPeer } from '../support/sip-peers.js';
import { headerOf, headersOf, parseWire, type WireMessage } from '../support/sip-wire.js';
import { freePort } from '../support/sipp.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, nkIds, type SendOptions, SipClient } from './harness.js';

const languages = conformanceLanguages();

const URN1 = 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6';
const URN2 = 'urn:uuid:00000000-0000-1000-8000-aabbccddeeff';
const URN3 = 'urn:uuid:3c1f2a4b-1111-4222-8333-444455556666';
const instance = (urn: string) => `+sip.instance="<${urn}>"`;

function appPort(app: RunningApp): number {
  const ready = app.find('ready')[0];
  const l = (ready?.listeners as string[] | undefined)?.find((x) => x.startsWith('udp:'));
  if (!l) throw new Error(`${app.name}: no UDP listener in ${JSON.stringify(ready)}`);
  return Number(l.split(':').at(-1));
}

/** The pub-gruu and temp-gruu of the 200's Contact whose URI contains `marker`. */
function gruusOf(res: WireMessage | undefined, marker: string): { pub: string; temp: string } {
  const c = headersOf(res as WireMessage, 'contact')
    .flatMap((v) => v.split(/,(?=\s*<)/))
    .find((v) => v.includes(marker));
  const pub = /;pub-gruu="([^"]+)"/.exec(c ?? '')?.[1];
  const temp = /;temp-gruu="([^"]+)"/.exec(c ?? '')?.[1];
  if (!pub || !temp) throw new Error(`no GRUUs for ${marker} in ${describeMessage(res)}`);
  return { pub, temp };
}

/** A UA's 200 to `req`: its Via, From, To (tagged), Call-ID and CSeq, and `id` added to x-nk-id. */
function okFor(req: WireMessage, id: string): string {
  const lines = ['SIP/2.0 200 OK'];
  for (const [n, v] of req.headers) {
    if (n === 'to') lines.push(`To: ${/;tag=/i.test(v) ? v : `${v};tag=${id}`}`);
    else if (['via', 'from', 'call-id', 'cseq'].includes(n)) lines.push(`${n}: ${v}`);
  }
  lines.push(`x-nk-id: ${[...nkIds(req), id].join(',')}`, 'Content-Length: 0', '', '');
  return lines.join('\r\n');
}

/** A browser-like SIP client on a WebSocket: answers 200 to every request it gets. */
class WsUa {
  readonly got: WireMessage[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = parseWire(Buffer.from(data.toString(), 'latin1'));
      this.got.push(m);
      if (m.method !== undefined && m.method !== 'ACK') ws.send(okFor(m, 'wsua'));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(url: string, ca: string): Promise<WsUa> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ['sip'], { ca });
      ws.once('error', reject);
      ws.once('open', () => resolve(new WsUa(ws)));
    });
  }

  requests(method: string): WireMessage[] {
    return this.got.filter((m) => m.method === method);
  }

  async response(callId: string, timeoutMs = 3000): Promise<WireMessage | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = this.got.find(
        (m) => m.status !== undefined && m.status >= 200 && headerOf(m, 'call-id') === callId,
      );
      if (r || Date.now() > end) return r;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

let seq = 0;

/** A REGISTER as a UA writes it on a stream (TCP or WS). */
function registerText(o: {
  ruri?: string;
  transport: 'TCP' | 'WSS';
  sentBy: string;
  aor: string;
  contact: string;
  callId: string;
  headers: string[];
}): string {
  seq++;
  return [
    `REGISTER ${o.ruri ?? 'sip:nksip'} SIP/2.0`,
    `Via: SIP/2.0/${o.transport} ${o.sentBy};branch=z9hG4bK-ob-${seq}-${Date.now()}`,
    'Max-Forwards: 70',
    `From: <${o.aor}>;tag=ob${seq}`,
    `To: <${o.aor}>`,
    `Call-ID: ${o.callId}`,
    'CSeq: 1 REGISTER',
    `Contact: ${o.contact}`,
    'Expires: 300',
    ...o.headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe.each(languages)('%s conformance apps: t15 gruu, t21 outbound, t23 websocket proxy', (lang) => {
  const children = new Children();
  let certs: TestCerts;
  let server: RunningServer;
  let registrar: RunningApp;
  let p1: RunningApp;
  const ua: RunningApp[] = [];
  let regPort: number;
  let wssPort: number;
  let client: SipClient;
  const uaUri = (i: number, user = `ua${i + 1}`) => `sip:${user}@127.0.0.1:${appPort(ua[i] as RunningApp)}`;

  beforeAll(async () => {
    certs = makeTestCerts();
    server = await children.server({
      tls: { cert: certs.good.certFile, key: certs.good.keyFile, ca: certs.good.certFile },
    });
    [regPort, wssPort] = [await freePort(), await freePort()];
    registrar = await children.app(lang, server, {
      name: 'registrar',
      listen: [`sip:127.0.0.1:${regPort}`, `sip:127.0.0.1:${wssPort}/ws;transport=wss`],
      env: { NKSIP_PLUGINS: 'registrar', NKSIP_ROUTE: 'registrar' },
    });
    for (const name of ['ua1', 'ua2']) {
      ua.push(await children.app(lang, server, { name, listen: ['sip:127.0.0.1:0'] }));
    }
    p1 = await children.app(lang, server, {
      name: 'p1',
      listen: ['sip:127.0.0.1:0'],
      env: { NKSIP_ROUTE: 'forward' },
    });
    client = await SipClient.open(appPort(registrar));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
    certs?.remove();
  });

  /** REGISTER from the test's client: `contact` (null: none), `expires` as the Expires header. */
  async function register(
    aor: string,
    contact: string | null,
    o: { callId?: string; cseq?: number; headers?: string[]; expires?: number; from?: SipClient } = {},
  ): Promise<WireMessage | undefined> {
    const send: SendOptions = {
      method: 'REGISTER',
      ruri: 'sip:nksip',
      to: `<${aor}>`,
      contact,
      headers: [`Expires: ${o.expires ?? 300}`, ...(o.headers ?? [])],
    };
    if (o.callId !== undefined) send.callId = o.callId;
    if (o.cseq !== undefined) send.cseq = o.cseq;
    return (await (o.from ?? client).request(send)).res;
  }

  /** The registrar's find / qfind through x-nk-reg on a MESSAGE. */
  async function reg(op: string): Promise<unknown[]> {
    const { res } = await client.request({
      method: 'MESSAGE',
      ruri: 'sip:nksip',
      headers: [`x-nk-reg: ${op}`],
    });
    expect(res?.status, describeMessage(res)).toBe(200);
    return JSON.parse(headerOf(res as WireMessage, 'x-nk-reg-result') ?? 'null') as unknown[];
  }

  /** OPTIONS for `ruri` through the registrar's proxy: its final response. */
  async function options(ruri: string): Promise<WireMessage | undefined> {
    return (await client.request({ method: 'OPTIONS', ruri, headers: ['x-nk-id: tester'] })).res;
  }

  /**
   * OPTIONS for `ruri` that should reach `peer` (a UA the test plays on UDP): the peer
   * answers it as the UA would; the final response the client got.
   */
  async function optionsToUdpUa(ruri: string, peer: UdpPeer): Promise<WireMessage | undefined> {
    const from = peer.messages.length;
    const sent = await client.send({ method: 'OPTIONS', ruri, headers: ['x-nk-id: tester'] });
    const got = await peer.waitFor(
      (m) => m.method === 'OPTIONS' && headerOf(m, 'call-id') === sent.callId,
      3000,
      from,
    );
    if (got) {
      const port = Number(/^SIP\/2\.0\/UDP [^;]*:(\d+)/i.exec(headerOf(got, 'via') ?? '')?.[1]);
      await peer.send(Buffer.from(okFor(got, 'udpua'), 'latin1'), port);
    }
    return client.final(sent, 'OPTIONS', 3000);
  }

  describe('t15 gruu', () => {
    it('register: pub-gruu and temp-gruu issued, two UAs on one AOR, lookup by GRUU, 403 for a GRUU Contact', async () => {
      const aor = 'sip:gruu1@nksip';
      const r1 = await register(aor, `<${uaUri(0)}>;${instance(URN1)}`, { headers: ['Supported: gruu'] });
      expect(r1?.status, describeMessage(r1)).toBe(200);
      expect(headersOf(r1 as WireMessage, 'supported').join(',')).toMatch(/\bgruu\b/);
      const g1 = gruusOf(r1, uaUri(0));
      expect(g1.pub).toBe(`${aor};gr=${URN1}`);
      expect(g1.temp).toMatch(/^sip:[A-Za-z0-9_-]+@nksip;gr$/);
      const r2 = await register(aor, `<${uaUri(1)}>;${instance(URN2)}`, { headers: ['Supported: gruu'] });
      expect(r2?.status, describeMessage(r2)).toBe(200);
      const g2 = gruusOf(r2, uaUri(1));
      expect(g2.pub).toBe(`${aor};gr=${URN2}`);

      // the AOR finds both UAs, each GRUU only its own
      expect(await reg(`find ${aor}`)).toHaveLength(2);
      for (const [gruu, i] of [
        [g1.pub, 0],
        [g1.temp, 0],
        [g2.pub, 1],
        [g2.temp, 1],
      ] as const) {
        const found = await reg(`find ${gruu}`);
        expect([gruu, found.length, JSON.stringify(found).includes(uaUri(i))]).toEqual([gruu, 1, true]);
        // and a request for the GRUU reaches that UA alone
        const res = await options(gruu);
        expect([gruu, res?.status, nkIds(res)]).toEqual([gruu, 200, ['tester', 'registrar', `ua${i + 1}`]]);
      }
      // a GRUU of the AOR cannot be registered as its contact
      for (const gruu of [g1.pub, g1.temp]) {
        const bad = await register(aor, `<${gruu}>`, { headers: ['Supported: gruu'] });
        expect([gruu, bad?.status]).toEqual([gruu, 403]);
      }
      expect(await reg(`find ${aor}`)).toHaveLength(2);
    });

    it('temp_gruu: a new one on each REGISTER, valid while the Call-ID stays; a new Call-ID invalidates; unregister clears', async () => {
      const aor = 'sip:gruu2@nksip';
      const contact = `<${uaUri(0)}>;${instance(URN1)}`;
      const temps: string[] = [];
      for (let cseq = 1; cseq <= 3; cseq++) {
        const r = await register(aor, contact, {
          callId: `tg-a-${lang}`,
          cseq,
          headers: ['Supported: gruu'],
        });
        expect(r?.status, describeMessage(r)).toBe(200);
        temps.push(gruusOf(r, uaUri(0)).temp);
      }
      expect(new Set(temps).size).toBe(3);
      for (const t of temps)
        expect([t, nkIds(await options(t))]).toEqual([t, ['tester', 'registrar', 'ua1']]);

      const r = await register(aor, contact, {
        callId: `tg-b-${lang}`,
        cseq: 1,
        headers: ['Supported: gruu'],
      });
      const fresh = gruusOf(r, uaUri(0));
      for (const t of temps) {
        expect([t, (await options(t))?.status]).toEqual([t, 480]);
        expect(await reg(`find ${t}`)).toEqual([]);
      }
      expect((await options(fresh.temp))?.status).toBe(200);

      // unregister_all
      const gone = await register(aor, '*', { callId: `tg-b-${lang}`, cseq: 2, expires: 0 });
      expect(gone?.status, describeMessage(gone)).toBe(200);
      for (const g of [fresh.temp, fresh.pub]) expect([g, (await options(g))?.status]).toEqual([g, 480]);
    });
  });

  describe('t21 outbound', () => {
    it('register: several reg-ids get 400; instance and reg-id replace the binding; 439 when the first hop lacks outbound', async () => {
      const aor = 'sip:ob1@nksip';
      const ob = ['Supported: outbound'];
      const several = await register(
        aor,
        `<${uaUri(0)}>;${instance(URN1)};reg-id=1, <${uaUri(1)}>;${instance(URN1)};reg-id=2`,
        { headers: ob },
      );
      expect([several?.status, several?.reason]).toEqual([400, "Several 'reg-id' Options"]);

      const first = await register(aor, `<${uaUri(0)}>;${instance(URN1)};reg-id=1`, { headers: ob });
      expect(first?.status, describeMessage(first)).toBe(200);
      expect(headersOf(first as WireMessage, 'require')).toContain('outbound');
      expect(headersOf(first as WireMessage, 'supported').join(',')).toMatch(/\boutbound\b/);
      const second = await register(aor, `<${uaUri(1)}>;${instance(URN1)};reg-id=1`, {
        headers: ob,
        callId: `ob1-reboot-${lang}`,
      });
      expect(second?.status, describeMessage(second)).toBe(200);
      const found = await reg(`find ${aor}`);
      expect(found).toHaveLength(1);
      expect(JSON.stringify(found)).toContain(uaUri(1));

      // through a proxy (two Vias): no Path, or a first-hop Path without ob → 439
      const via = `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-edge-${lang}`;
      const viaProxy = ['Supported: outbound, path', via];
      for (const path of [[], ['Path: <sip:127.0.0.1:9;lr>']]) {
        const r = await register('sip:ob2@nksip', `<${uaUri(0)}>;${instance(URN2)};reg-id=1`, {
          headers: [...viaProxy, ...path],
        });
        expect([path, r?.status, r?.reason]).toEqual([path, 439, 'First Hop Lacks Outbound Support']);
      }
      // an edge proxy that keeps the flow (ob) is fine
      const okPath = await register('sip:ob2@nksip', `<${uaUri(0)}>;${instance(URN2)};reg-id=1`, {
        headers: [...viaProxy, 'Path: <sip:127.0.0.1:9;lr;ob>'],
      });
      expect(okPath?.status, describeMessage(okPath)).toBe(200);
      expect(headersOf(okPath as WireMessage, 'require')).toContain('outbound');
      expect(await reg('find sip:ob2@nksip')).toHaveLength(1);
    });

    it('flow: requests reuse the flow the REGISTER came on (UDP and TCP); once the connection is gone, 430', async () => {
      // UDP, no reg-id: the Contact is not routable, the flow is
      const udpUa = await UdpPeer.open('127.0.0.1');
      try {
        // the REGISTER from the UA's own socket: the flow the server keeps
        const sent = `REGISTER sip:nksip SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${udpUa.port};rport;branch=z9hG4bK-udpflow-${lang}\r\nMax-Forwards: 70\r\nFrom: <sip:obudp@nksip>;tag=u1\r\nTo: <sip:obudp@nksip>\r\nCall-ID: obudp-${lang}\r\nCSeq: 1 REGISTER\r\nContact: <sip:udpua@udpua.invalid>\r\nSupported: outbound\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n`;
        await udpUa.send(Buffer.from(sent, 'latin1'), appPort(registrar));
        const ok = await udpUa.waitFor(
          (m) => m.status === 200 && headerOf(m, 'call-id') === `obudp-${lang}`,
          3000,
        );
        expect(ok?.status, describeMessage(ok)).toBe(200);
        // no reg-id: no Require
        expect(headersOf(ok as WireMessage, 'require')).not.toContain('outbound');
        for (let i = 0; i < 2; i++) {
          const res = await optionsToUdpUa('sip:obudp@nksip', udpUa);
          expect([i, res?.status, nkIds(res)]).toEqual([i, 200, ['tester', 'registrar', 'udpua']]);
        }
      } finally {
        await udpUa.close();
      }

      // TCP with instance and reg-id
      const tcp = await TcpPeer.connect(appPort(registrar));
      try {
        await tcp.write(
          registerText({
            transport: 'TCP',
            sentBy: `127.0.0.1:${tcp.localPort}`,
            aor: 'sip:obtcp@nksip',
            contact: `<sip:tcpua@tcpua.invalid;transport=tcp>;${instance(URN3)};reg-id=1`,
            callId: `obtcp-${lang}`,
            headers: ['Supported: outbound'],
          }),
        );
        const ok = await tcp.waitFor((m) => m.status !== undefined && m.status >= 200, 3000);
        expect(ok?.status, describeMessage(ok)).toBe(200);
        expect(headersOf(ok as WireMessage, 'require')).toContain('outbound');
        for (let i = 0; i < 2; i++) {
          const from = tcp.messages.length;
          const sent = await client.send({
            method: 'OPTIONS',
            ruri: 'sip:obtcp@nksip',
            headers: ['x-nk-id: tester'],
          });
          const got = await tcp.waitFor((m) => m.method === 'OPTIONS', 3000, from);
          expect(got, `OPTIONS ${i} over the flow`).toBeDefined();
          await tcp.write(okFor(got as WireMessage, 'tcpua'));
          const res = await client.final(sent, 'OPTIONS', 3000);
          expect([i, res?.status, nkIds(res)]).toEqual([i, 200, ['tester', 'registrar', 'tcpua']]);
        }
      } finally {
        tcp.close();
      }
      // the connection is gone (given a moment for its FIN to reach the server): 430
      await sleep(300);
      const dead = await options('sip:obtcp@nksip');
      expect([dead?.status, dead?.reason]).toEqual([430, 'Flow Failed']);
    });
  });

  it('t21 proxy: an edge proxy keeps the flow (Path with a flow token and ob): requests follow it, 430 once it is gone; 439 when it is not the first hop', async () => {
    const tcp = await TcpPeer.connect(appPort(p1));
    try {
      await tcp.write(
        registerText({
          ruri: `sip:127.0.0.1:${appPort(registrar)}`,
          transport: 'TCP',
          sentBy: `127.0.0.1:${tcp.localPort}`,
          aor: 'sip:obedge@nksip',
          contact: `<sip:edgeua@edgeua.invalid;transport=tcp>;${instance(URN3)};reg-id=1`,
          callId: `obedge-${lang}`,
          headers: ['Supported: outbound, path', 'x-nk-path: true'],
        }),
      );
      const ok = await tcp.waitFor((m) => m.status !== undefined && m.status >= 200, 3000);
      expect(ok?.status, describeMessage(ok)).toBe(200);
      expect(headersOf(ok as WireMessage, 'require')).toContain('outbound');
      const path = headersOf(ok as WireMessage, 'path');
      expect(path).toHaveLength(1);
      expect(path[0]).toMatch(new RegExp(`^<sip:[^@]+@127\\.0\\.0\\.1:${appPort(p1)};lr;ob>$`));

      const sent = await client.send({
        method: 'OPTIONS',
        ruri: 'sip:obedge@nksip',
        headers: ['x-nk-id: tester'],
      });
      const got = await tcp.waitFor((m) => m.method === 'OPTIONS', 3000);
      expect(got, 'OPTIONS over the flow kept by p1').toBeDefined();
      await tcp.write(okFor(got as WireMessage, 'edgeua'));
      const res = await client.final(sent, 'OPTIONS', 3000);
      // p1's Path names a listener of this same server, whose flow the registrar's proxy
      // follows itself: the request goes straight over p1's connection to the UA
      expect([res?.status, nkIds(res)]).toEqual([200, ['tester', 'registrar', 'edgeua']]);
    } finally {
      tcp.close();
    }
    await sleep(300);
    const dead = await options('sip:obedge@nksip');
    expect([dead?.status, dead?.reason]).toEqual([430, 'Flow Failed']);

    // p1 behind another proxy (two Vias): its Path has no ob, and the registrar answers 439
    const behind = await SipClient.open(appPort(p1));
    try {
      const { res } = await behind.request({
        method: 'REGISTER',
        ruri: `sip:127.0.0.1:${appPort(registrar)}`,
        to: '<sip:obedge2@nksip>',
        contact: `<sip:x@127.0.0.1:9>;${instance(URN2)};reg-id=1`,
        headers: [
          'Expires: 300',
          'Supported: outbound, path',
          'x-nk-path: true',
          `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-before-p1-${lang}`,
        ],
      });
      expect([res?.status, res?.reason]).toEqual([439, 'First Hop Lacks Outbound Support']);
    } finally {
      await behind.close();
    }
  });

  describe('t23 websocket', () => {
    it('proxy: a UA registered over WSS with GRUU and outbound is reached through its GRUUs; its Contact is not routable', async () => {
      const ws = await WsUa.open(`wss://127.0.0.1:${wssPort}/ws`, certs.good.cert);
      const contact = 'sip:k3l4@df7jal23ls0d.invalid;transport=ws';
      try {
        const callId = `wsreg-${lang}`;
        ws.ws.send(
          registerText({
            transport: 'WSS',
            sentBy: 'df7jal23ls0d.invalid',
            aor: 'sip:wsuser@nksip',
            contact: `<${contact}>;${instance(URN3)};reg-id=1`,
            callId,
            headers: ['Supported: path, outbound, gruu'],
          }),
        );
        const ok = await ws.response(callId);
        expect(ok?.status, describeMessage(ok)).toBe(200);
        expect(headersOf(ok as WireMessage, 'require')).toContain('outbound');
        const g = gruusOf(ok, contact);
        expect(g.pub).toBe(`sip:wsuser@nksip;gr=${URN3}`);

        for (const gruu of [g.pub, g.temp]) {
          const res = await options(gruu);
          expect([gruu, res?.status, nkIds(res)]).toEqual([gruu, 200, ['tester', 'registrar', 'wsua']]);
        }
        expect(ws.requests('OPTIONS')).toHaveLength(2);
        // the Contact alone leads nowhere: it names no registered user and no reachable host
        const plain = await options(contact);
        expect(plain?.status).toBeGreaterThanOrEqual(400);
        expect(ws.requests('OPTIONS')).toHaveLength(2);
        // the browser went away: its flow, and so its GRUUs, fail (RFC 5626 §5.3)
        await ws.close();
        await sleep(300);
        const gone = await options(g.pub);
        expect([gone?.status, gone?.reason]).toEqual([430, 'Flow Failed']);
      } finally {
        await ws.close();
      }
    });
  });
});
