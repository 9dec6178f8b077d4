// NkSIP t02_core (inline_test) basic and cancel: `client1` and `client2` register to
// `server1`, which plays the registrar and the record-routing proxy (NKSIP_PLUGINS=registrar,
// NKSIP_ROUTE=registrar); every request of the clients goes through it (its URI as their
// Route). The test drives the clients over stdin as NkSIP's test drives nksip_uac and checks,
// step by step, exactly which callbacks, dialog starts/stops and session starts/stops each
// party saw (NkSIP's tests_util:wait: the events of a step, in any order, and nothing else).
// (t02 auth is in auth.test.ts.)
//
// server1 keeps the dialogs it record-routes, as NkSIP's proxy does: it sees their dialog and
// session starts and stops. Where this differs from NkSIP: a CANCEL the proxy relays does not
// call server1's `cancel` (NkSIP calls sip_cancel there too). x-nk-id lists the path in the
// order it was taken.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { freePort } from '../support/sipp.js';
import { type AppEvent, conformanceLanguages, type RunningApp, resultHeader } from './apps.js';
import { Children } from './harness.js';

const languages = conformanceLanguages();

const SDP1 =
  'v=0\r\no=client1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=test 1234 RTP/AVP 0\r\na=rtpmap:0 codec1/8000\r\n';

/** What NkSIP's inline test reports of an event: the callback name, dialog_*, session_*. */
function label(e: AppEvent): string | undefined {
  if (e.ev === 'callback' && e.kind !== 'authorize') return e.kind as string;
  if (e.ev === 'dialog' && (e.status === 'start' || e.status === 'stop')) return `dialog_${e.status}`;
  if (e.ev === 'session' && (e.kind === 'start' || e.kind === 'stop')) return `session_${e.kind}`;
  return undefined;
}

describe.each(languages)('%s conformance apps: t02 core (registrar and proxy in between)', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let server1: RunningApp;
  let client1: RunningApp;
  let client2: RunningApp;
  let parties: RunningApp[];
  let route: string[];
  let registrar: string;
  // server1's own dialog and session events over the whole basic scenario
  const proxySeen: string[] = [];

  beforeAll(async () => {
    server = await children.server();
    registrar = `sip:127.0.0.1:${server.port('udp')}`;
    route = [`<${registrar};lr>`];
    server1 = await children.app(lang, server, {
      name: 'server1',
      env: { NKSIP_PLUGINS: 'registrar', NKSIP_ROUTE: 'registrar' },
    });
    client1 = await children.app(lang, server, {
      name: 'client1',
      listen: [`sip:127.0.0.1:${await freePort()}`],
    });
    client2 = await children.app(lang, server, {
      name: 'client2',
      listen: [`sip:127.0.0.1:${await freePort()}`],
    });
    parties = [server1, client1, client2];
  }, 60_000);

  afterAll(async () => {
    await children.stopAll();
  });

  /** The index each party's events have reached: a step's events are the ones after it. */
  const marks = () => parties.map((p) => p.events.length);

  /**
   * Waits until each party saw `want[name]` since `from` (as a multiset), then checks that
   * it saw exactly those (a late extra event would show up in the next step's check too).
   */
  async function step(from: number[], nksip: Record<string, string[]>): Promise<void> {
    // NkSIP's clients report no route callback (theirs just process)
    const seen = (i: number) =>
      (parties[i] as RunningApp).events
        .slice(from[i])
        .map(label)
        .filter((l): l is string => l !== undefined && (i === 0 || l !== 'route'));
    const atProxy = (l: string) => l.startsWith('dialog_') || l.startsWith('session_');
    const want = parties.map((p) => [...(nksip[p.name] ?? [])].sort());
    const deadline = Date.now() + 5000;
    for (const [i, p] of parties.entries()) {
      while (Date.now() < deadline && !contains(seen(i), want[i] as string[])) {
        await p.waitEvent(() => false, 50, p.events.length);
      }
    }
    proxySeen.push(...seen(0).filter(atProxy));
    const got = parties.map((_, i) => seen(i).sort());
    expect(Object.fromEntries(parties.map((p, i) => [p.name, got[i]]))).toEqual(
      Object.fromEntries(parties.map((p, i) => [p.name, want[i]])),
    );
  }

  function contains(have: string[], want: string[]): boolean {
    const left = [...have];
    for (const w of want) {
      const i = left.indexOf(w);
      if (i < 0) return false;
      left.splice(i, 1);
    }
    return true;
  }

  const via = {
    get route() {
      return route;
    },
  };
  const from = (name: string) => `<sip:${name}@nksip>`;

  it('basic: register, OPTIONS through the proxy, 480, INVITE/ACK, INFO, re-INVITE with SDP, BYE', async () => {
    let m = marks();
    for (const c of [client1, client2]) {
      const reg = await c.request('REGISTER', registrar, {
        from: from(c.name),
        to: from(c.name),
        makeContact: true,
      });
      expect(reg?.code, JSON.stringify(reg)).toBe(200);
    }
    await step(m, { server1: ['route', 'route'] });

    // OPTIONS: proxied to client2's registered contact, x-nk-id names the path
    m = marks();
    const opts = await client1.request('OPTIONS', 'sip:client2@nksip', { ...via, from: from('client1') });
    expect(opts?.code, JSON.stringify(opts)).toBe(200);
    expect(resultHeader(opts, 'x-nk-id')).toBe('server1,client2');
    await step(m, { server1: ['route'], client2: ['options'] });

    // nobody registered as client3
    m = marks();
    const none = await client2.request('OPTIONS', 'sip:client3@nksip', { ...via, from: from('client2') });
    expect(none?.code).toBe(480);
    await step(m, { server1: ['route'] });

    // INVITE without SDP through the record-routing proxy, ACK by hand
    m = marks();
    const invite = await client2.request('INVITE', 'sip:client1@nksip', {
      ...via,
      from: from('client2'),
      headers: [['x-nk-rr', 'true']],
    });
    expect(invite?.code, JSON.stringify(invite)).toBe(200);
    const dlg2 = invite?.dialog as string;
    expect((await client2.request('ACK', { dialog: dlg2 }))?.code).toBe(200);
    await step(m, {
      server1: ['route', 'dialog_start', 'route'],
      client1: ['invite', 'ack', 'dialog_start'],
      client2: ['dialog_start'],
    });
    const dlg1 = client1.find('callback', { kind: 'ack', callId: invite?.callId })[0]?.dialog as string;
    expect(dlg1).toMatch(/^D_/);

    m = marks();
    expect((await client2.request('INFO', { dialog: dlg2 }))?.code).toBe(200);
    await step(m, { server1: ['route'], client1: ['info'] });

    // the callee re-INVITEs with SDP: the sessions start (the caller answers with the same SDP)
    m = marks();
    const reinvite = await client1.request(
      'INVITE',
      { dialog: dlg1 },
      { body: SDP1, contentType: 'application/sdp', headers: [['x-nk-op', 'answer']] },
    );
    expect(reinvite?.code).toBe(200);
    expect((await client1.request('ACK', { dialog: dlg1 }))?.code).toBe(200);
    await step(m, {
      server1: ['route', 'route', 'session_start'],
      client1: ['session_start'],
      client2: ['reinvite', 'ack', 'session_start'],
    });

    m = marks();
    expect((await client1.request('BYE', { dialog: dlg1 }))?.code).toBe(200);
    await step(m, {
      server1: ['route', 'session_stop', 'dialog_stop'],
      client1: ['session_stop', 'dialog_stop'],
      client2: ['bye', 'session_stop', 'dialog_stop'],
    });
  });

  it('basic, at the proxy: server1 saw one dialog_start, session_start, session_stop and dialog_stop in all', () => {
    expect(proxySeen.sort()).toEqual(['dialog_start', 'dialog_stop', 'session_start', 'session_stop']);
  });

  it('cancel: an INVITE held by the callee is CANCELled: 180 then 487, sip_cancel called, the dialog starts and stops everywhere', async () => {
    const m = marks();
    const id = client1.send('INVITE', 'sip:client2@nksip', {
      ...via,
      from: from('client1'),
      headers: [['x-nk-op', 'pending']],
    });
    const ringing = await client1.waitEvent(
      (e) => e.ev === 'provisional' && e.id === id && e.code === 180,
      5000,
    );
    expect(ringing, '180 Ringing').toBeDefined();
    expect((await client1.cancel(id))?.code).toBe(200);
    const res = await client1.result(id);
    expect(res?.code).toBe(487);
    expect(client1.provisionals(id).map((p) => p.code)).toContain(180);
    await step(m, {
      server1: ['route'],
      client1: ['dialog_start', 'dialog_stop'],
      client2: ['invite', 'cancel', 'dialog_start', 'dialog_stop'],
    });
  });
});
