// NkSIP t03 uac (uac_test), the error returns left out of uac-errors.test.ts: too_many_calls,
// globally (`max_calls`, here the server's `maxCalls`) and per service (`sip_max_calls`, here
// the app's `max_calls`), and service_not_started (a request through an app that is not
// running: the SDK's notConnected). Beyond NkSIP's asserts: a new call over a limit that
// arrives from the network gets 503 "Too Many Calls"; a request of a call already live is
// still served; the call ends with its dialog and the count returns to zero.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, serverStats } from '../support/server-process.js';
import { headerOf } from '../support/sip-wire.js';
import { freePort } from '../support/sipp.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, SDP, SipClient } from './harness.js';

const languages = conformanceLanguages();

/** An error kind in any SDK's casing (tooManyCalls, TOO_MANY_CALLS, too_many_calls) → `toomanycalls`. */
const kind = (k: unknown) => String(k).replace(/_/g, '').toLowerCase();

/** The server's live calls (its `stats` on SIGUSR2). */
const liveCalls = async (server: RunningServer) => (await serverStats<{ calls: number }>(server)).calls;

describe.each(languages)('%s conformance app: t03 too_many_calls, server limit', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;

  beforeAll(async () => {
    server = await children.server({ maxCalls: 0 });
    app = await children.app(lang, server, { name: 'limited' });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  it('a request the app sends is refused with too_many_calls; one from the network gets 503', async () => {
    const r = await app.request('OPTIONS', `sip:127.0.0.1:${server.port('udp')}`);
    expect(kind(r?.error), JSON.stringify(r)).toBe('toomanycalls');
    expect(r?.code).toBeUndefined();
    const { res } = await client.request({ method: 'OPTIONS' });
    expect([res?.status, res?.reason]).toEqual([503, 'Too Many Calls']);
    // refused before any callback
    expect(app.find('callback', { kind: 'options' })).toEqual([]);
    expect(await liveCalls(server)).toBe(0);
  });
});

describe.each(languages)('%s conformance apps: t03 too_many_calls per app, service_not_started', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let zero: RunningApp;
  let one: RunningApp;
  let client: SipClient;
  let toZero: SipClient;
  let toOne: SipClient;
  let zeroPort: number;
  let onePort: number;
  let serverUri: string;

  beforeAll(async () => {
    server = await children.server();
    serverUri = `sip:127.0.0.1:${server.port('udp')}`;
    zeroPort = await freePort();
    onePort = await freePort();
    zero = await children.app(lang, server, {
      name: 'zero',
      listen: [`sip:127.0.0.1:${zeroPort}`],
      env: { NKSIP_MAX_CALLS: '0' },
    });
    one = await children.app(lang, server, {
      name: 'one',
      listen: [`sip:127.0.0.1:${onePort}`],
      env: { NKSIP_MAX_CALLS: '1' },
    });
    client = await SipClient.open(server.port('udp'));
    toZero = await SipClient.open(zeroPort);
    toOne = await SipClient.open(onePort);
  });

  afterAll(async () => {
    for (const c of [client, toZero, toOne]) await c?.close();
    await children.stopAll();
  });

  it('an app with max_calls 0 can neither send nor take a call; the others are not limited by it', async () => {
    const r = await zero.request('OPTIONS', serverUri);
    expect(kind(r?.error), JSON.stringify(r)).toBe('toomanycalls');
    const { res } = await toZero.request({ method: 'OPTIONS' });
    expect([res?.status, res?.reason]).toEqual([503, 'Too Many Calls']);
    expect(zero.find('callback', { kind: 'options' })).toEqual([]);
    // the server's own listener (the built-in app) has no such limit
    expect((await client.request({ method: 'OPTIONS' })).res?.status).toBe(200);
  });

  it('max_calls 1: a live dialog is the one call; its own requests pass, a new call does not until it ends', async () => {
    const { sent: invite, res: ok } = await toOne.request({ method: 'INVITE', body: SDP });
    expect(ok?.status).toBe(200);
    await toOne.ack(invite, ok as NonNullable<typeof ok>);
    // a new call, either way, is over the limit
    const other = await toOne.request({ method: 'OPTIONS' });
    expect([other.res?.status, other.res?.reason]).toEqual([503, 'Too Many Calls']);
    const sent = await one.request('OPTIONS', serverUri);
    expect(kind(sent?.error), JSON.stringify(sent)).toBe('toomanycalls');
    // a request in the live call is served
    const contact = /<([^>]+)>/.exec(headerOf(ok as NonNullable<typeof ok>, 'contact') ?? '')?.[1];
    const info = await toOne.request({
      method: 'INFO',
      ruri: contact ?? invite.ruri,
      callId: invite.callId,
      cseq: invite.cseq + 1,
      fromTag: invite.fromTag,
      to: headerOf(ok as NonNullable<typeof ok>, 'to'),
    });
    expect(info.res?.status).toBe(200);
    // the BYE ends the dialog and the call: new ones are taken again
    const bye = await toOne.send({
      method: 'BYE',
      ruri: contact ?? invite.ruri,
      callId: invite.callId,
      cseq: invite.cseq + 2,
      fromTag: invite.fromTag,
      to: headerOf(ok as NonNullable<typeof ok>, 'to'),
    });
    expect((await toOne.final(bye, 'BYE', 3000))?.status).toBe(200);
    expect((await toOne.request({ method: 'OPTIONS' })).res?.status).toBe(200);
    expect((await one.request('OPTIONS', serverUri))?.code).toBe(200);
    expect(await liveCalls(server)).toBe(0);
  });

  it('service_not_started: a request through an app that left the server fails at once (notConnected)', async () => {
    const gone = await children.app(lang, server, { name: 'gone' });
    const left = await gone.result(gone.command({ cmd: 'leave' }));
    expect(left?.left).toBe(true);
    const r = await gone.request('OPTIONS', serverUri, {}, 5000);
    expect(kind(r?.error), JSON.stringify(r)).toBe('notconnected');
    expect(r?.code).toBeUndefined();
  });
});
