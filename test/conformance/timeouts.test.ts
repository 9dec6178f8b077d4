// NkSIP t03 timeout (uac_test) and t04 timeout (uas_test), with short timers: two servers,
// as NkSIP's two services with their own timers. `fast` runs T1 = 10 ms and Timer C = 1 s
// (Timer B/F = 64*T1 = 640 ms); `slow` the harness's T1 = 100 ms (6.4 s) and the default
// Timer C. A conformance app on each takes over its server's listeners; a UDP socket that
// reads and never answers plays the dead peer.
//
// t03 (the UAC times out): fast → dead port: 408 "Timer F Timeout" for OPTIONS and "Timer B
// Timeout" for INVITE; fast → slow app answering OPTIONS 2 s late: Timer F all the same;
// fast → slow app holding an INVITE with a 180: 408 "Timer C Timeout" (NkSIP accepts Timer B
// there too), and the callee sees the CANCEL.
// t04 (the UAS times out): slow → fast app holding an OPTIONS 2 s: 408 "No-INVITE Timeout";
// holding an INVITE 2 s (x-nk-op busy): 408 "Timer C Timeout".
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children } from './harness.js';

const languages = conformanceLanguages();

describe.each(languages)('%s conformance apps: t03 and t04 timeout', (lang) => {
  const children = new Children();
  let fastServer: RunningServer;
  let slowServer: RunningServer;
  let fast: RunningApp;
  let slow: RunningApp;
  let dead: Socket;
  let deadUri: string;
  let fastUri: string;
  let slowUri: string;

  beforeAll(async () => {
    fastServer = await children.server({ t1: 10, t4: 100, timerC: 1 });
    slowServer = await children.server();
    fast = await children.app(lang, fastServer, { name: 'fast' });
    slow = await children.app(lang, slowServer, { name: 'slow' });
    fastUri = `sip:fast@127.0.0.1:${fastServer.port('udp')}`;
    slowUri = `sip:slow@127.0.0.1:${slowServer.port('udp')}`;
    dead = createSocket('udp4');
    dead.on('message', () => undefined);
    const port = await new Promise<number>((resolve) =>
      dead.bind(0, '127.0.0.1', () => resolve(dead.address().port)),
    );
    deadUri = `sip:nobody@127.0.0.1:${port}`;
  });

  afterAll(async () => {
    dead?.close();
    await children.stopAll();
  });

  it('t03: 408 "Timer F Timeout" for OPTIONS and "Timer B Timeout" for INVITE to a dead peer', async () => {
    const options = await fast.request('OPTIONS', deadUri);
    expect([options?.code, options?.reason], JSON.stringify(options)).toEqual([408, 'Timer F Timeout']);
    const invite = await fast.request('INVITE', deadUri);
    expect([invite?.code, invite?.reason], JSON.stringify(invite)).toEqual([408, 'Timer B Timeout']);
  });

  it('t03: Timer F despite a UAS that answers, too late', async () => {
    const res = await fast.request('OPTIONS', slowUri, { headers: [['x-nk-sleep', '2000']] });
    expect([res?.code, res?.reason], JSON.stringify(res)).toEqual([408, 'Timer F Timeout']);
    // the slow app did get it
    expect(slow.find('callback', { kind: 'options', callId: res?.callId })).toHaveLength(1);
  });

  it('t03: an INVITE held by a provisional response ends by Timer C; the callee is CANCELled', async () => {
    const id = fast.send('INVITE', slowUri, {
      headers: [
        ['x-nk-op', 'ok'],
        ['x-nk-prov', 'true'],
        ['x-nk-sleep', '5000'],
      ],
    });
    const res = await fast.result(id);
    expect(res?.code, JSON.stringify(res)).toBe(408);
    // NkSIP's test accepts either (Timer B cannot fire once a 1xx came, here it is C)
    expect(res?.reason).toBe('Timer C Timeout');
    expect(fast.provisionals(id).map((p) => p.code)).toContain(180);
    const cancelled = await slow.waitEvent(
      (e) => e.ev === 'callback' && e.kind === 'cancel' && e.callId === res?.callId,
      5000,
    );
    expect(cancelled, 'the callee saw the CANCEL').toBeDefined();
  });

  it('t04: an app holding an OPTIONS past 64*T1 → 408 "No-INVITE Timeout"; an INVITE past Timer C → 408 "Timer C Timeout"', async () => {
    const options = await slow.request('OPTIONS', fastUri, { headers: [['x-nk-sleep', '2000']] });
    expect([options?.code, options?.reason], JSON.stringify(options)).toEqual([408, 'No-INVITE Timeout']);
    const invite = await slow.request('INVITE', fastUri, {
      headers: [
        ['x-nk-op', 'busy'],
        ['x-nk-sleep', '2000'],
      ],
    });
    expect([invite?.code, invite?.reason], JSON.stringify(invite)).toEqual([408, 'Timer C Timeout']);
    // both reached the app, which held them
    expect(fast.find('callback', { kind: 'options', callId: options?.callId })).toHaveLength(1);
    expect(fast.find('callback', { kind: 'invite', callId: invite?.callId })).toHaveLength(1);
  });
});
