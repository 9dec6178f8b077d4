// NkSIP's proxy and registrar scenarios (reference/nksip.md §7: t08 register, t10 proxy, t11
// fork, t18 path) played by several conformance app instances: `server1` takes over the
// server's listeners with the registrar plugin and routes to registered contacts
// (NKSIP_ROUTE=registrar), `ua1`..`ua3` are UAs on listeners of their own answering as the
// x-nk-op-<name> headers say, `p1` is an outbound proxy adding Path (NKSIP_ROUTE=forward).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf, headersOf, parseWire, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp, resultHeader, type UacResult } from './apps.js';
import { Children, describeMessage, nkIds, type Sent, SipClient, sipp, sippSettle } from './harness.js';

const languages = conformanceLanguages();

/** The UDP port of an app's own listener, from its ready line. */
function appPort(app: RunningApp): number {
  const ready = app.find('ready')[0];
  const l = (ready?.listeners as string[] | undefined)?.find((x) => x.startsWith('udp:'));
  if (!l) throw new Error(`${app.name}: no UDP listener in ${JSON.stringify(ready)}`);
  return Number(l.split(':').at(-1));
}

/** One REGISTER over TCP (a raw socket) and its final response. */
async function registerTcp(port: number, aor: string, contact: string): Promise<WireMessage | undefined> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  const local = sock.localPort;
  const msg = [
    `REGISTER sip:127.0.0.1:${port};transport=tcp SIP/2.0`,
    `Via: SIP/2.0/TCP 127.0.0.1:${local};branch=z9hG4bK-tcp-${Date.now()}`,
    'Max-Forwards: 70',
    `From: <${aor}>;tag=tcp1`,
    `To: <${aor}>`,
    `Call-ID: tcp-${process.pid}-${Date.now()}`,
    'CSeq: 1 REGISTER',
    `Contact: ${contact}`,
    'Expires: 300',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  let buf = '';
  const done = new Promise<WireMessage | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 3000);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (const part of buf.split('\r\n\r\n')) {
        if (/^SIP\/2\.0 [2-6]/.test(part)) {
          clearTimeout(timer);
          resolve(parseWire(Buffer.from(`${part}\r\n\r\n`, 'latin1')));
        }
      }
    });
  });
  sock.write(msg);
  const res = await done;
  sock.destroy();
  return res;
}

describe.each(languages)('%s conformance apps: registrar, proxy, fork, path', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let server1: RunningApp;
  const ua: RunningApp[] = [];
  let p1: RunningApp;
  let client: SipClient;
  let sipPort: number;
  const uaUri = (i: number, user = `ua${i + 1}`) => `<sip:${user}@127.0.0.1:${appPort(ua[i] as RunningApp)}>`;

  beforeAll(async () => {
    server = await children.server();
    sipPort = server.port('udp');
    server1 = await children.app(lang, server, {
      name: 'server1',
      env: { NKSIP_PLUGINS: 'registrar', NKSIP_ROUTE: 'registrar' },
    });
    for (const name of ['ua1', 'ua2', 'ua3']) {
      ua.push(await children.app(lang, server, { name, listen: ['sip:127.0.0.1:0'] }));
    }
    p1 = await children.app(lang, server, {
      name: 'p1',
      listen: ['sip:127.0.0.1:0'],
      env: { NKSIP_ROUTE: 'forward' },
    });
    client = await SipClient.open(sipPort);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  /** REGISTER of `aor` with these Contact values; the final response. */
  async function register(
    aor: string,
    contacts: string[],
    extra: Partial<Parameters<SipClient['send']>[0]> = {},
  ) {
    const { res } = await client.request({
      method: 'REGISTER',
      ruri: `sip:127.0.0.1:${sipPort}`,
      to: `<${aor}>`,
      contact: contacts.length > 0 ? contacts.join(', ') : null,
      ...extra,
      headers: ['Expires: 300', ...(extra.headers ?? [])],
    });
    return res;
  }

  /** The app's registrar, through x-nk-reg on a MESSAGE. */
  async function reg(op: string, port = sipPort): Promise<unknown> {
    const { res } = await client.request({
      method: 'MESSAGE',
      ruri: `sip:127.0.0.1:${port}`,
      headers: [`x-nk-reg: ${op}`],
    });
    expect(res?.status, describeMessage(res)).toBe(200);
    return JSON.parse(headerOf(res as WireMessage, 'x-nk-reg-result') ?? 'null');
  }

  /** A dialog command (`dialog`, `dialogs`) to an app and its result. */
  function ask(app: RunningApp, cmd: Record<string, unknown>): Promise<UacResult | undefined> {
    return app.result(app.command(cmd));
  }

  /** The dialog as the app's server keeps it; fails the test when unknown. */
  async function info(app: RunningApp, handle: string): Promise<Info> {
    const got = (await ask(app, { cmd: 'dialog', dialog: handle }))?.info as Info | null | undefined;
    if (!got) throw new Error(`${app.name}: no dialog ${handle}`);
    return got;
  }

  /** Dialog events an app printed for one handle, as `status[:inviteStatus][:stopReason]`. */
  function dialogTrail(app: RunningApp, handle: string): string[] {
    return app
      .find('dialog', { dialog: handle })
      .map((e) =>
        [e.status, e.inviteStatus, e.stopReason].filter((v) => v !== '' && v !== undefined).join(':'),
      );
  }

  async function invite(user: string, headers: string[], timeoutMs = 4000) {
    const r = await client.request({ method: 'INVITE', ruri: `sip:${user}@nksip`, headers }, timeoutMs);
    if (r.res) await client.ack(r.sent, r.res);
    return r;
  }

  describe('t08 register', () => {
    it('register1: 200 lists the bindings with expires; 423, old CSeq, Contact * and the maximum; delete', async () => {
      const aor = 'sip:reg1@nksip';
      const callId = `reg1-${Date.now()}`;
      const ok = await register(aor, [uaUri(0)], { callId, cseq: 5 });
      expect(ok?.status, describeMessage(ok)).toBe(200);
      expect(headerOf(ok as WireMessage, 'contact')).toBe(`${uaUri(0)};expires=300`);
      expect(headerOf(ok as WireMessage, 'date')).toMatch(/GMT$/);
      const brief = await register(aor, [`${uaUri(0)};expires=10`]);
      expect([brief?.status, headerOf(brief as WireMessage, 'min-expires')]).toEqual([423, '60']);
      const old = await register(aor, [uaUri(0)], { callId, cseq: 4 });
      expect([old?.status, old?.reason]).toEqual([400, 'Rejected Old CSeq']);
      const star = await register(aor, ['*']);
      expect(star?.status).toBe(400); // Contact: * needs Expires: 0
      const long = await register(aor, [`${uaUri(1)};expires=999999`]);
      expect(headersOf(long as WireMessage, 'contact').join(',')).toContain(`${uaUri(1)};expires=86400`);
      expect(await reg(`find ${aor}`)).toHaveLength(2);
      expect(await reg(`delete ${aor}`)).toBe(true);
      expect(await reg(`find ${aor}`)).toEqual([]);
      expect(await reg(`delete ${aor}`)).toBe(false);
    });

    it('register2: UDP and TCP, q values grouped by qfind, a per-contact expires=0 removes one', async () => {
      const aor = 'sip:reg2@nksip';
      const tcp = await registerTcp(server.port('tcp'), aor, '<sip:reg2@127.0.0.1:5999;transport=tcp>;q=0.5');
      expect(tcp?.status, describeMessage(tcp)).toBe(200);
      const udp = await register(aor, ['<sip:a@127.0.0.1:5991>;q=0.1', '<sip:b@127.0.0.1:5992>;q=0.5']);
      expect(udp?.status).toBe(200);
      expect(await reg(`qfind ${aor}`)).toEqual([
        ['sip:b@127.0.0.1:5992', 'sip:reg2@127.0.0.1:5999;transport=tcp'],
        ['sip:a@127.0.0.1:5991'],
      ]);
      const gone = await register(aor, ['<sip:b@127.0.0.1:5992>;expires=0']);
      expect(headersOf(gone as WireMessage, 'contact').join(',')).not.toContain('5992');
      expect(await reg(`find ${aor}`)).toHaveLength(2);
      expect(await reg(`delete ${aor}`)).toBe(true);
    });
  });

  describe.each(['stateful', 'stateless'])('t10 proxy (%s)', (mode) => {
    const modeHeaders = mode === 'stateless' ? ['x-nk-proxy-mode: stateless'] : [];

    it('invalid: Proxy-Require 420, Max-Forwards 0 → 483 (OPTIONS: 200 "Max Forwards"), nobody registered 480', async () => {
      expect((await register('sip:t10@nksip', [uaUri(0)]))?.status).toBe(200);
      const pr = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:t10@nksip',
        headers: [...modeHeaders, 'Proxy-Require: foo'],
      });
      expect([pr.res?.status, headerOf(pr.res as WireMessage, 'unsupported')]).toEqual([420, 'foo']);
      const mf = await client.request({
        method: 'INVITE',
        ruri: 'sip:t10@nksip',
        headers: modeHeaders,
        maxForwards: 0,
      });
      expect(mf.res?.status).toBe(483);
      if (mf.res) await client.ack(mf.sent, mf.res);
      const mfo = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:t10@nksip',
        headers: modeHeaders,
        maxForwards: 0,
      });
      expect([mfo.res?.status, mfo.res?.reason]).toEqual([200, 'Max Forwards']);
      const nobody = await invite('nobody', modeHeaders);
      expect(nobody.res?.status).toBe(480);
      const ok = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:t10@nksip',
        headers: [...modeHeaders, 'x-nk-id: tester'],
      });
      expect(nkIds(ok.res)).toEqual(['tester', 'server1', 'ua1']);
    });

    it('invite: 180/486 and 180/200 relayed; with Record-Route the BYE goes through the proxy', async () => {
      expect((await register('sip:t10i@nksip', [uaUri(1)]))?.status).toBe(200);
      const busy = await invite('t10i', [...modeHeaders, 'x-nk-op: busy', 'x-nk-prov: true']);
      expect(busy.res?.status).toBe(486);
      expect(client.responses(busy.sent, 'INVITE').map((m) => m.status)).toContain(180);
      const call = await invite('t10i', [
        ...modeHeaders,
        'x-nk-op: ok',
        'x-nk-prov: true',
        'x-nk-rr: true',
        'x-nk-id: tester',
      ]);
      const res = call.res as WireMessage;
      expect(res.status, describeMessage(res)).toBe(200);
      expect(nkIds(res)).toEqual(['tester', 'server1', 'ua2']);
      expect(headersOf(res, 'record-route').join(',')).toContain(`127.0.0.1:${sipPort}`);
      const before = server1.find('callback', { kind: 'route', callId: call.sent.callId }).length;
      const bye = await client.bye(call.sent, res, [`Route: ${headersOf(res, 'record-route')[0]}`]);
      const byeRes = await client.final(bye, 'BYE', 3000);
      expect(byeRes?.status).toBe(200);
      // the proxy saw the ACK and the BYE (they followed the Record-Route)
      await server1.waitEvent(
        (e) => e.kind === 'route' && e.method === 'BYE' && e.callId === call.sent.callId,
        2000,
      );
      expect(server1.find('callback', { kind: 'route', callId: call.sent.callId }).length).toBeGreaterThan(
        before,
      );
      const byeAtUa = await ua[1]?.waitEvent((e) => e.kind === 'bye' && e.callId === call.sent.callId, 2000);
      expect(byeAtUa).toBeDefined();
    });

    it('transport: UDP in, TCP out to a contact registered with transport=tcp', async () => {
      expect(
        (
          await register('sip:t10t@nksip', [
            `<sip:ua3@127.0.0.1:${appPort(ua[2] as RunningApp)};transport=tcp>`,
          ])
        )?.status,
      ).toBe(200);
      const r = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:t10t@nksip',
        headers: [...modeHeaders, 'x-nk-id: tester'],
      });
      expect(r.res?.status, describeMessage(r.res)).toBe(200);
      expect(nkIds(r.res)).toEqual(['tester', 'server1', 'ua3']);
    });
  });

  describe('t10 proxy: opts and servers', () => {
    it('opts: headers added and removed, a Route inserted, the client Routes cleared', async () => {
      expect((await register('sip:opts@nksip', [uaUri(0)]))?.status).toBe(200);
      const r = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:opts@nksip',
        headers: [
          'x-nk-op: reply-request',
          'x-nk-add: X-Hello: world',
          'x-nk-remove: Subject',
          'Subject: hi',
        ],
      });
      expect(r.res?.status, describeMessage(r.res)).toBe(200);
      const seen = (r.res?.body ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
      expect(seen).toContain('x-hello: world');
      expect(seen).not.toContain('subject:');
      expect(seen).not.toContain('x-nk-add');
      // a Route to p1 inserted: the request goes server1 → p1 → ua1
      const viaP1 = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:opts@nksip',
        headers: [`x-nk-route: <sip:127.0.0.1:${appPort(p1)};lr>`, 'x-nk-id: tester'],
      });
      expect(nkIds(viaP1.res)).toEqual(['tester', 'server1', 'p1', 'ua1']);
      // the client's own Route (ours, then a dead hop) cleared: ua1 still answers
      const dead = `Route: <sip:127.0.0.1:${sipPort};lr>, <sip:127.0.0.1:9;lr>`;
      const cleared = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:opts@nksip',
        headers: [dead, 'x-nk-clear-route: 1'],
      });
      expect(cleared.res?.status, describeMessage(cleared.res)).toBe(200);
    });

    it('servers: two proxies; with Record-Route the BYE goes through both, without it straight to the UA', async () => {
      expect((await register('sip:srv@nksip', [uaUri(1)]))?.status).toBe(200);
      const p1Port = appPort(p1);
      const c1 = await SipClient.open(p1Port);
      try {
        const toServer1 = `x-nk-route: <sip:127.0.0.1:${sipPort};lr>`;
        // with Record-Route at both proxies
        const a = await c1.request({
          method: 'INVITE',
          ruri: 'sip:srv@nksip',
          headers: [toServer1, 'x-nk-rr: true', 'x-nk-id: tester'],
        });
        const ra = a.res as WireMessage;
        expect(ra.status, describeMessage(ra)).toBe(200);
        expect(nkIds(ra)).toEqual(['tester', 'p1', 'server1', 'ua2']);
        const rr = headersOf(ra, 'record-route')
          .flatMap((v) => v.split(','))
          .map((v) => v.trim());
        expect(rr, describeMessage(ra)).toEqual([
          `<sip:127.0.0.1:${sipPort};lr>`,
          `<sip:127.0.0.1:${p1Port};lr>`,
        ]);
        await c1.ack(a.sent, ra);
        const bye = await c1.bye(a.sent, ra, [`Route: ${[...rr].reverse().join(', ')}`]);
        expect((await c1.final(bye, 'BYE', 3000))?.status).toBe(200);
        for (const proxy of [p1, server1]) {
          const seen = await proxy.waitEvent(
            (e) => e.kind === 'route' && e.method === 'BYE' && e.callId === a.sent.callId,
            2000,
          );
          expect(seen, proxy.name).toBeDefined();
        }
        // without: the dialog's requests go straight to ua2
        const b = await c1.request({ method: 'INVITE', ruri: 'sip:srv@nksip', headers: [toServer1] });
        const rb = b.res as WireMessage;
        expect(rb.status).toBe(200);
        expect(headersOf(rb, 'record-route')).toEqual([]);
        const direct = await SipClient.open(appPort(ua[1] as RunningApp));
        try {
          await direct.ack(b.sent, rb);
          const bye2 = await direct.bye(b.sent, rb);
          expect((await direct.final(bye2, 'BYE', 3000))?.status).toBe(200);
        } finally {
          await direct.close();
        }
        expect(
          await ua[1]?.waitEvent((e) => e.kind === 'bye' && e.callId === b.sent.callId, 2000),
        ).toBeDefined();
        expect(p1.find('callback', { kind: 'route', method: 'BYE', callId: b.sent.callId })).toEqual([]);
        expect(server1.find('callback', { kind: 'route', method: 'BYE', callId: b.sent.callId })).toEqual([]);
      } finally {
        await c1.close();
      }
    });
  });

  describe('t10 proxy: servers with a strict router (NkSIP strict_proxy)', () => {
    it('a dialog through a strict router and a loose proxy: route sets without and with lr, in-dialog requests both ways', async () => {
      expect((await register('sip:t10s@nksip', [uaUri(1)]))?.status).toBe(200);
      // ps: an RFC 2543 strict router on a listener of its own, in front of server1
      const ps = await children.app(lang, server, {
        name: 'ps',
        listen: ['sip:127.0.0.1:0'],
        env: { NKSIP_ROUTE: 'strict' },
      });
      const strictRr = `<sip:127.0.0.1:${appPort(ps)}>`;
      const looseRr = `<sip:127.0.0.1:${sipPort};lr>`;
      const ua1 = ua[0] as RunningApp;
      const ua2 = ua[1] as RunningApp;
      const inv = await ua1.request('INVITE', 'sip:t10s@nksip', {
        route: [`<sip:127.0.0.1:${appPort(ps)};lr>`],
        headers: [
          ['x-nk-rr', 'true'],
          ['x-nk-route', looseRr],
          ['x-nk-id', 'ua1'],
        ],
      });
      expect(inv?.code, JSON.stringify(inv)).toBe(200);
      expect(resultHeader(inv, 'x-nk-id')).toBe('ua1,ps,server1,ua2');
      const callId = inv?.callId as string;
      const d1 = inv?.dialog as string;
      expect((await ua1.request('ACK', { dialog: d1 }))?.code).toBe(200);
      const ack2 = await ua2.waitEvent((e) => e.kind === 'ack' && e.callId === callId, 3000);
      const d2 = ack2?.dialog as string;
      expect(d2).toMatch(/^D_/);
      const i1 = await info(ua1, d1);
      const i2 = await info(ua2, d2);
      // the strict router's Record-Route has no lr: the caller strict-routes (§12.2.1.1)
      expect(i1.routeSet).toEqual([strictRr, looseRr]);
      expect(i2.routeSet).toEqual([looseRr, strictRr]);

      /** An in-dialog OPTIONS answered with the request as the other UA received it. */
      const through = async (from: RunningApp, dialog: string) => {
        const r = await from.request(
          'OPTIONS',
          { dialog },
          {
            headers: [
              ['x-nk-op', 'reply-request'],
              ['x-nk-id', from.name],
            ],
          },
        );
        expect(r?.code, JSON.stringify(r)).toBe(200);
        return { ids: resultHeader(r, 'x-nk-id'), seen: parseWire(Buffer.from(r?.body ?? '', 'latin1')) };
      };
      // caller → strict router (its R-URI) → loose proxy (R-URI restored from the last Route) → callee
      const fwd = await through(ua1, d1);
      expect(fwd.ids).toBe('ua1,ps,server1,ua2');
      expect(fwd.seen.startLine).toBe(`OPTIONS ${i1.remoteTarget} SIP/2.0`);
      expect(headersOf(fwd.seen, 'route')).toEqual([]);
      // callee → loose proxy (strict next hop: §16.6 step 6) → strict router (top Route) → caller
      const back = await through(ua2, d2);
      expect(back.ids).toBe('ua2,server1,ps,ua1');
      expect(back.seen.startLine).toBe(`OPTIONS ${i2.remoteTarget} SIP/2.0`);
      expect(headersOf(back.seen, 'route')).toEqual([]);
      for (const m of ['ACK', 'OPTIONS']) {
        expect(
          ps.find('callback', { kind: 'route', method: m, callId }).length,
          `${m} at ps`,
        ).toBeGreaterThan(0);
      }

      expect((await ua2.request('BYE', { dialog: d2 }))?.code).toBe(200);
      expect(await ua1.waitEvent((e) => e.kind === 'bye' && e.callId === callId, 3000)).toBeDefined();
      expect(ps.find('callback', { kind: 'route', method: 'BYE', callId })).toHaveLength(1);
    });
  });

  describe('t10 proxy: dialog (stateful)', () => {
    it('the record-routing proxy keeps the dialog: route sets at every hop, in-dialog requests both ways, removed after BYE', async () => {
      expect((await register('sip:t10d@nksip', [uaUri(1)]))?.status).toBe(200);
      const rr = `<sip:127.0.0.1:${sipPort};lr>`;
      const ua1 = ua[0] as RunningApp;
      const ua2 = ua[1] as RunningApp;
      const mark = server1.events.length;
      const inv = await ua1.request('INVITE', 'sip:t10d@nksip', {
        route: [rr],
        headers: [
          ['x-nk-rr', 'true'],
          ['x-nk-prov', 'true'],
        ],
      });
      expect(inv?.code, JSON.stringify(inv)).toBe(200);
      const callId = inv?.callId as string;
      const d1 = inv?.dialog as string;
      expect((await ua1.request('ACK', { dialog: d1 }))?.code).toBe(200);
      const ack2 = await ua2.waitEvent((e) => e.kind === 'ack' && e.callId === callId, 3000);
      const d2 = ack2?.dialog as string;
      expect(d2).toMatch(/^D_/);

      // the proxy's dialog (the one server1 is told of): the caller's view of it, with its own
      // Record-Route as the route set; the server lists it with the endpoints' dialogs
      const start = await server1.waitEvent((e) => e.ev === 'dialog' && e.status === 'start', 3000, mark);
      const handle = start?.dialog as string;
      expect(handle).toMatch(/^D_/);
      const atProxy = async () =>
        (((await ask(server1, { cmd: 'dialogs', callId }))?.infos ?? []) as Info[]).filter(
          (i) => i.handle === handle,
        );
      const [pd] = await atProxy();
      expect(pd, 'the proxy dialog').toBeDefined();
      expect(pd?.role).toBe('uac');
      expect([d1, d2]).not.toContain(handle);
      const i1 = await info(ua1, d1);
      const i2 = await info(ua2, d2);
      expect(pd?.localTag).toBe(i1.localTag);
      expect(pd?.remoteTag).toBe(i2.localTag);
      expect(pd?.inviteStatus).toBe('confirmed');
      expect(pd?.remoteTarget).toBe(i1.remoteTarget);
      expect(pd?.routeSet).toEqual([rr]);
      expect(i1.routeSet).toEqual([rr]);
      expect(i2.routeSet).toEqual([rr]);

      // the callee's in-dialog OPTIONS goes through the proxy too
      const before = server1.find('callback', { kind: 'route', callId }).length;
      const opts = await ua2.request('OPTIONS', { dialog: d2 }, { headers: [['x-nk-id', 'ua2']] });
      expect(opts?.code).toBe(200);
      expect(resultHeader(opts, 'x-nk-id')).toBe('ua2,server1,ua1');
      expect(server1.find('callback', { kind: 'route', callId }).length).toBe(before + 1);
      expect((await atProxy())[0]?.remoteSeq).toBe((await info(ua2, d2)).localSeq);

      expect((await ua1.request('BYE', { dialog: d1 }))?.code).toBe(200);
      await server1.waitEvent((e) => e.ev === 'dialog' && e.dialog === handle && e.status === 'stop', 3000);
      expect(await atProxy()).toEqual([]);
      expect(dialogTrail(server1, handle)).toEqual([
        'start',
        'inviteStatus:proceeding_uac',
        'inviteStatus:accepted_uac',
        'inviteStatus:confirmed',
        'inviteStatus:bye',
        'inviteStatus:stop:caller_bye',
        'stop',
      ]);
    });
  });

  describe('t11 fork', () => {
    let fork: string[];
    beforeAll(async () => {
      // regs: q 0.3 first, then 0.2 and 0.2 in parallel
      fork = [`${uaUri(0)};q=0.3`, `${uaUri(1)};q=0.2`, `${uaUri(2)};q=0.2`];
      expect((await register('sip:fork@nksip', fork))?.status).toBe(200);
      expect(await reg('qfind sip:fork@nksip')).toEqual([
        [uaUri(0).slice(1, -1)],
        [uaUri(1).slice(1, -1), uaUri(2).slice(1, -1)],
      ]);
    });
    const invitesAt = (i: number, sent: Sent) =>
      ua[i]?.find('callback', { kind: 'invite', callId: sent.callId }).length;

    it('basic: every group tried, the best response wins (3xx over 4xx, 503 → 500 not chosen)', async () => {
      const r = await invite('fork', ['x-nk-op-ua1: 486', 'x-nk-op-ua2: 503', 'x-nk-op-ua3: 300']);
      expect(r.res?.status, describeMessage(r.res)).toBe(300);
      expect([invitesAt(0, r.sent), invitesAt(1, r.sent), invitesAt(2, r.sent)]).toEqual([1, 1, 1]);
      const r2 = await invite('fork', ['x-nk-op-ua1: 486', 'x-nk-op-ua2: 503', 'x-nk-op-ua3: 415']);
      expect(r2.res?.status).toBe(415);
    });

    it('a 6xx in the first group ends the fork: later groups never see the INVITE', async () => {
      const r = await invite('fork', ['x-nk-op-ua1: 603']);
      expect(r.res?.status).toBe(603);
      expect([invitesAt(1, r.sent), invitesAt(2, r.sent)]).toEqual([0, 0]);
    });

    it('a 200 wins, the other pending branch is CANCELled', async () => {
      const r = await invite('fork', [
        'x-nk-op-ua1: 480',
        'x-nk-op-ua2: pending',
        'x-nk-op-ua3: ok',
        'x-nk-sleep-ua3: 300',
        'x-nk-id: tester',
      ]);
      expect(r.res?.status, describeMessage(r.res)).toBe(200);
      expect(nkIds(r.res)).toEqual(['tester', 'server1', 'ua3']);
      const cancelled = await ua[1]?.waitEvent(
        (e) => e.kind === 'cancel' && e.callId === r.sent.callId,
        3000,
      );
      expect(cancelled).toBeDefined();
      const bye = await client.bye(r.sent, r.res as WireMessage);
      expect((await client.final(bye, 'BYE', 3000))?.status).toBe(200);
    });

    it('invite1: a CANCEL of a forked INVITE reaches every ringing branch; 487 comes back', async () => {
      // ua2 and ua3 in parallel (one q)
      expect((await register('sip:fork2@nksip', [uaUri(1), uaUri(2)]))?.status).toBe(200);
      const sent = await client.send({
        method: 'INVITE',
        ruri: 'sip:fork2@nksip',
        headers: ['x-nk-op: pending'],
      });
      // both of the second group ring (two early dialogs) before the CANCEL
      for (const i of [1, 2]) {
        expect(
          await ua[i]?.waitEvent((e) => e.kind === 'invite' && e.callId === sent.callId, 3000),
        ).toBeDefined();
      }
      await client.peer.waitFor((m) => m.status === 180 && headerOf(m, 'call-id') === sent.callId, 3000);
      await client.cancel(sent);
      const res = await client.final(sent, 'INVITE', 5000);
      expect(res?.status, describeMessage(res)).toBe(487);
      if (res) await client.ack(sent, res);
      for (const i of [1, 2]) {
        expect(
          await ua[i]?.waitEvent((e) => e.kind === 'cancel' && e.callId === sent.callId, 3000),
        ).toBeDefined();
      }
    });

    it('redirect: a 302 goes back to the caller; with follow_redirects the fork tries its Contacts', async () => {
      expect((await register('sip:redir@nksip', [uaUri(0)]))?.status).toBe(200);
      const contact = `<sip:vm2@127.0.0.1:${appPort(ua[2] as RunningApp)}>`;
      const headers = ['x-nk-op-ua1: 302', `x-nk-contact: ${contact}`, 'x-nk-op-vm2: 570'];
      const plain = await invite('redir', headers);
      expect(plain.res?.status).toBe(302);
      expect(headerOf(plain.res as WireMessage, 'contact')).toBe(contact);
      const followed = await invite('redir', [...headers, 'x-nk-redirect: true']);
      expect(followed.res?.status, describeMessage(followed.res)).toBe(570);
      expect(invitesAt(2, followed.sent)).toBe(1);
    });

    it('branch events: the app sees each branch final and forks again to a new target', async () => {
      const r = await invite('fork', [
        'x-nk-op-ua1: 486',
        'x-nk-op-ua2: 404',
        'x-nk-op-ua3: 480',
        `x-nk-branch: fork sip:vm@127.0.0.1:${appPort(ua[0] as RunningApp)}`,
        'x-nk-op-vm: ok',
        'x-nk-id: tester',
      ]);
      // ua1 answers again, as `vm` this time: the new branch the app asked for
      expect(r.res?.status, describeMessage(r.res)).toBe(200);
      expect(nkIds(r.res)).toEqual(['tester', 'server1', 'ua1']);
      const told = server1.find('branch', { callId: r.sent.callId }).map((e) => [e.uri, e.code]);
      expect(told).toContainEqual([uaUri(0).slice(1, -1), 486]);
      expect(invitesAt(0, r.sent)).toBe(2);
      if (r.res) {
        const bye = await client.bye(r.sent, r.res);
        await client.final(bye, 'BYE', 3000);
      }
    });
  });

  describe('t11 fork: invite2 and multiple_200 (a caller app behind the proxies)', () => {
    let caller: RunningApp;
    let rr: string;
    beforeAll(async () => {
      caller = await children.app(lang, server, { name: 'caller', listen: ['sip:127.0.0.1:0'] });
      rr = `<sip:127.0.0.1:${sipPort};lr>`;
    }, 30_000);

    /** Each dialog an app was told of since event `mark`, as its trail (see `dialogTrail`). */
    function trailsSince(app: RunningApp, mark: number): string[][] {
      const handles = new Set(
        app.events
          .slice(mark)
          .filter((e) => e.ev === 'dialog')
          .map((e) => e.dialog as string),
      );
      return [...handles].map((h) => dialogTrail(app, h));
    }

    /** Every dialog the server keeps for a Call-ID (endpoints' and the proxy's). */
    async function dialogsOf(callId: string): Promise<Info[]> {
      return ((await ask(server1, { cmd: 'dialogs', callId }))?.infos ?? []) as Info[];
    }

    /** Waits until the server keeps no dialog of the Call-ID (bounded); returns what is left. */
    async function noDialogsLeft(callId: string): Promise<Info[]> {
      const deadline = Date.now() + 5000;
      let left = await dialogsOf(callId);
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        left = await dialogsOf(callId);
      }
      return left;
    }

    it('invite2: several 180s then one 200; 503 and 415 not forwarded; losing dialogs removed at every hop; in-dialog OPTIONS', async () => {
      // the three UAs in one parallel group
      expect((await register('sip:inv2@nksip', [uaUri(0), uaUri(1), uaUri(2)]))?.status).toBe(200);
      const marks = [caller, server1, ...ua].map((a) => a.events.length);
      const id = caller.send('INVITE', 'sip:inv2@nksip', {
        route: [rr],
        auto2xxAck: true,
        headers: [
          ['x-nk-rr', 'true'],
          ['x-nk-prov', 'true'],
          ['x-nk-op-ua1', '503'],
          ['x-nk-op-ua2', '415'],
          ['x-nk-sleep-ua3', '500'],
        ],
      });
      const res = await caller.result(id);
      expect(res?.code, JSON.stringify(res)).toBe(200);
      expect(resultHeader(res, 'x-nk-id')).toBe('server1,ua3');
      const callId = res?.callId as string;
      // a 180 from each UA: three early dialogs at the caller; no 503 or 415 reached it
      const ringing = caller.provisionals(id).filter((p) => p.code === 180);
      expect(new Set(ringing.map((p) => p.dialog)).size).toBe(3);
      expect(caller.find('result', { id }).map((r) => r.code)).toEqual([200]);
      const ack3 = await ua[2]?.waitEvent((e) => e.kind === 'ack' && e.callId === callId, 3000);
      expect(ack3).toBeDefined();

      // dialog states at every hop: one confirmed dialog each at the caller, the proxy, ua3
      const open = await dialogsOf(callId);
      expect(open.map((d) => d.inviteStatus)).toEqual(['confirmed', 'confirmed', 'confirmed']);
      const confirmed = [
        'start',
        'inviteStatus:proceeding_uac',
        'inviteStatus:accepted_uac',
        'inviteStatus:confirmed',
      ];
      const proceeding = ['start', 'inviteStatus:proceeding_uac'];
      expect(trailsSince(server1, marks[1] as number).sort()).toEqual(
        [
          confirmed,
          [...proceeding, 'inviteStatus:stop:415', 'stop'],
          [...proceeding, 'inviteStatus:stop:service_unavailable', 'stop'],
        ].sort(),
      );
      expect(trailsSince(ua[0] as RunningApp, marks[2] as number)).toEqual([
        ['start', 'inviteStatus:proceeding_uas', 'inviteStatus:stop:service_unavailable', 'stop'],
      ]);
      expect(trailsSince(ua[1] as RunningApp, marks[3] as number)).toEqual([
        ['start', 'inviteStatus:proceeding_uas', 'inviteStatus:stop:415', 'stop'],
      ]);
      const callerTrails = trailsSince(caller, marks[0] as number);
      expect(callerTrails).toHaveLength(3);
      expect(callerTrails.filter((t) => t.at(-1) === 'stop')).toHaveLength(2);
      expect(callerTrails.filter((t) => t.at(-1) === 'inviteStatus:confirmed')).toHaveLength(1);

      // an in-dialog OPTIONS follows the route set through the proxy to the winner
      const dialog = res?.dialog as string;
      const opts = await caller.request('OPTIONS', { dialog });
      expect(opts?.code).toBe(200);
      expect(resultHeader(opts, 'x-nk-id')).toBe('server1,ua3');
      expect((await caller.request('BYE', { dialog }))?.code).toBe(200);
      expect(await noDialogsLeft(callId)).toEqual([]);
    });
  });

  describe('t11 fork: multiple_200', () => {
    // A server of its own that sends no 100 Trying: a proxy may CANCEL a branch only after a
    // provisional (§9.1), so the UAs answering at once both get their 200 through instead of
    // racing the CANCEL the first 200 triggers; ua3 rings and is CANCELled.
    let srv: RunningServer;
    let proxy: RunningApp;
    let caller: RunningApp;
    const uas: RunningApp[] = [];
    let rr: string;
    let regClient: SipClient;
    beforeAll(async () => {
      srv = await children.server({ no100: true });
      proxy = await children.app(lang, srv, {
        name: 'server1',
        env: { NKSIP_PLUGINS: 'registrar', NKSIP_ROUTE: 'registrar' },
      });
      caller = await children.app(lang, srv, { name: 'caller', listen: ['sip:127.0.0.1:0'] });
      for (const name of ['ua1', 'ua2', 'ua3']) {
        uas.push(await children.app(lang, srv, { name, listen: ['sip:127.0.0.1:0'] }));
      }
      rr = `<sip:127.0.0.1:${srv.port('udp')};lr>`;
      regClient = await SipClient.open(srv.port('udp'));
    }, 60_000);

    afterAll(async () => {
      await regClient?.close();
    });

    const uri = (i: number) => `sip:ua${i + 1}@127.0.0.1:${appPort(uas[i] as RunningApp)}`;

    async function registerAt(aor: string, contacts: string[]): Promise<number | undefined> {
      const { res } = await regClient.request({
        method: 'REGISTER',
        ruri: `sip:127.0.0.1:${srv.port('udp')}`,
        to: `<${aor}>`,
        contact: contacts.map((c) => `<${c}>`).join(', '),
        headers: ['Expires: 300'],
      });
      return res?.status;
    }

    async function dialogsAt(callId: string): Promise<Info[]> {
      return ((await ask(proxy, { cmd: 'dialogs', callId }))?.infos ?? []) as Info[];
    }

    /** Polls (bounded) until the server keeps `n` dialogs of the Call-ID; returns them. */
    async function untilDialogs(callId: string, n: number): Promise<Info[]> {
      const deadline = Date.now() + 5000;
      let open = await dialogsAt(callId);
      while (open.length !== n && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        open = await dialogsAt(callId);
      }
      return open;
    }

    for (const mode of ['stateful', 'stateless'] as const) {
      it(`${mode} record-routing proxy: every 2xx reaches the caller, which ACKs and BYEs the extra${mode === 'stateful' ? '; the proxy CANCELs the ringing branch' : ''}`, async () => {
        const aor = `sip:m200${mode}@nksip`;
        let headers: [string, string][];
        if (mode === 'stateful') {
          // ua1 and ua2 answer at once, ua3 rings until CANCELled
          expect(await registerAt(aor, [uri(0), uri(1), uri(2)])).toBe(200);
          headers = [
            ['x-nk-rr', 'true'],
            ['x-nk-op-ua3', 'pending'],
          ];
        } else {
          // server1 forwards statelessly (with Record-Route) to ua3, which forks to ua1 and ua2;
          // ua3 gets neither the mode nor x-nk-rr (it would process in-dialog requests itself)
          expect(await registerAt(aor, [uri(2)])).toBe(200);
          headers = [
            ['x-nk-rr', 'true'],
            ['x-nk-proxy-mode', 'stateless'],
            ['x-nk-remove', 'x-nk-proxy-mode'],
            ['x-nk-remove', 'x-nk-rr'],
            ['x-nk-add', `x-nk-proxy: <${uri(0)}>,<${uri(1)}>`],
          ];
        }
        const res = await caller.request('INVITE', aor, { route: [rr], auto2xxAck: true, headers });
        expect(res?.code, JSON.stringify(res)).toBe(200);
        const callId = res?.callId as string;
        const ids = resultHeader(res, 'x-nk-id')?.split(',') ?? [];
        const winner = ids.at(-1) === 'ua1' ? 0 : 1;
        expect(ids.at(-1)).toBe(`ua${winner + 1}`);
        // both 2xx were ACKed; the extra one got a BYE from the caller, the winner none
        for (const app of [uas[0], uas[1]] as RunningApp[]) {
          expect(
            await app.waitEvent((e) => e.kind === 'ack' && e.callId === callId, 3000),
            `${app.name} ACKed`,
          ).toBeDefined();
        }
        const other = uas[1 - winner] as RunningApp;
        expect(await other.waitEvent((e) => e.kind === 'bye' && e.callId === callId, 3000)).toBeDefined();
        if (mode === 'stateful') {
          expect(
            await uas[2]?.waitEvent((e) => e.kind === 'cancel' && e.callId === callId, 3000),
          ).toBeDefined();
        }
        // left: the caller's dialog and the winner's, plus the stateful proxy's own
        const want = mode === 'stateful' ? 3 : 2;
        const open = await untilDialogs(callId, want);
        expect(open.map((d) => d.inviteStatus)).toEqual(Array(want).fill('confirmed'));
        expect((uas[winner] as RunningApp).find('callback', { kind: 'bye', callId })).toEqual([]);
        expect((await caller.request('BYE', { dialog: res?.dialog as string }))?.code).toBe(200);
        expect(await untilDialogs(callId, 0)).toEqual([]);
      });
    }
  });

  describe('t20 proxy: session timers at a proxy whose app runs the timers plugin', () => {
    let pt: RunningApp;
    let c: SipClient;
    beforeAll(async () => {
      pt = await children.app(lang, server, {
        name: 'pt',
        listen: ['sip:127.0.0.1:0'],
        env: { NKSIP_ROUTE: 'forward' },
        timers: { se: 1000, minSe: 200 },
      });
      c = await SipClient.open(appPort(pt));
    }, 30_000);

    afterAll(async () => {
      await c?.close();
    });

    it('422 below its Min-SE; on the way to the UA a longer Session-Expires is lowered and Min-SE raised', async () => {
      const ua1 = uaUri(0).slice(1, -1);
      const small = await c.request({ method: 'INVITE', ruri: ua1, headers: ['Session-Expires: 150'] });
      expect([small.res?.status, headerOf(small.res as WireMessage, 'min-se')]).toEqual([422, '200']);
      if (small.res) await c.ack(small.sent, small.res);
      expect(ua[0]?.find('callback', { kind: 'invite', callId: small.sent.callId })).toEqual([]);

      const ok = await c.request({
        method: 'INVITE',
        ruri: ua1,
        headers: [
          'Session-Expires: 5000;refresher=uac',
          'Min-SE: 100',
          'Supported: timer',
          'x-nk-op: reply-request',
        ],
      });
      const res = ok.res as WireMessage;
      expect(res?.status, describeMessage(res)).toBe(200);
      const seen = (res.body ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
      expect(seen).toMatch(/\r\nsession-expires: 1000;refresher=uac\r\n/);
      expect(seen).toMatch(/\r\nmin-se: 200\r\n/);
      await c.ack(ok.sent, res);
      const bye = await c.bye(ok.sent, res);
      expect((await c.final(bye, 'BYE', 3000))?.status).toBe(200);
    });

    it('a 2xx from a UAS without session timers gets Session-Expires;refresher=uac and Require: timer for a caller that supports them', async () => {
      const uas = children.track(await sipp({ scenario: 'uas-call.xml', timeoutSec: 8 }));
      await sippSettle();
      const call = await c.request({
        method: 'INVITE',
        ruri: `sip:uas@127.0.0.1:${uas.port}`,
        headers: ['Supported: timer'],
      });
      const res = call.res as WireMessage;
      expect(res?.status, describeMessage(res)).toBe(200);
      // uas-call.xml answers with neither: the proxy added them
      expect(headerOf(res, 'session-expires')).toBe('1000;refresher=uac');
      expect(headersOf(res, 'require')).toContain('timer');
      await c.ack(call.sent, res);
      const bye = await c.bye(call.sent, res);
      expect((await c.final(bye, 'BYE', 3000))?.status).toBe(200);
      expect(await uas.exited).toBe(0);
    });
  });

  describe('t18 path', () => {
    it('421 without Supported: path at the proxy, 420 at the registrar; the stored Path is followed', async () => {
      const p1Port = appPort(p1);
      const direct = (headers: string[]) =>
        client.request({
          method: 'REGISTER',
          ruri: `sip:127.0.0.1:${sipPort}`,
          to: '<sip:path1@nksip>',
          contact: uaUri(0),
          headers: ['Expires: 300', 'x-nk-path: true', ...headers],
        });
      // the first hop is p1: send there
      const c1 = await SipClient.open(p1Port);
      try {
        const send = (headers: string[]) =>
          c1.request({
            method: 'REGISTER',
            ruri: `sip:127.0.0.1:${sipPort}`,
            to: '<sip:path1@nksip>',
            contact: uaUri(0),
            headers: ['Expires: 300', 'x-nk-path: true', ...headers],
          });
        const r421 = (await send([])).res;
        expect([r421?.status, headerOf(r421 as WireMessage, 'require')]).toEqual([421, 'path']);
        const ok = (await send(['Supported: path'])).res;
        expect(ok?.status, describeMessage(ok)).toBe(200);
        expect(headerOf(ok as WireMessage, 'path')).toBe(`<sip:127.0.0.1:${p1Port};lr>`);
      } finally {
        await c1.close();
      }
      // straight to the registrar with a Path and no Supported: path → 420
      const r420 = (await direct([`Path: <sip:127.0.0.1:${p1Port};lr>`])).res;
      expect([r420?.status, headerOf(r420 as WireMessage, 'unsupported')]).toEqual([420, 'path']);
      // a request for the AOR goes registrar → p1 (the Path) → ua1
      const r = await client.request({
        method: 'OPTIONS',
        ruri: 'sip:path1@nksip',
        headers: ['x-nk-id: tester'],
      });
      expect(r.res?.status, describeMessage(r.res)).toBe(200);
      expect(nkIds(r.res)).toEqual(['tester', 'server1', 'p1', 'ua1']);
    });
  });
});

type Info = {
  handle: string;
  role: string;
  localTag: string;
  remoteTag: string;
  localSeq?: number;
  remoteSeq?: number;
  remoteTarget: string;
  routeSet: string[];
  inviteStatus?: string;
};
