// Route decisions taken by the conformance app (sip_route, reference/nksip.md §4): process (then
// the method callback answers), reply and reply_stateless from route, and proxy — a full call
// from a sipp UAC through the server to a sipp UAS, stateful with Record-Route and stateless.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf, headersOf } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, nkIds, SipClient, sipp, sippSettle } from './harness.js';

const languages = conformanceLanguages();

describe.each(languages)('%s conformance app: route decisions', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;
  let sipPort: number;

  beforeAll(async () => {
    server = await children.server();
    sipPort = server.port('udp');
    app = await children.app(lang, server);
    client = await SipClient.open(sipPort);
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  it('process: the route callback lets the request through and the method callback answers', async () => {
    const { sent, res } = await client.request({ method: 'OPTIONS', headers: ['x-nk-id: tester'] });
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(nkIds(res)).toEqual(['tester', app.name]);
    expect(app.find('callback', { kind: 'route', callId: sent.callId })).toHaveLength(1);
    expect(app.find('callback', { kind: 'options', callId: sent.callId })).toHaveLength(1);
  });

  it('process: the method callback chooses the status (x-nk-op busy on INVITE: 486)', async () => {
    const { sent, res } = await client.request({ method: 'INVITE', headers: ['x-nk-op: busy'] });
    expect(res?.status, describeMessage(res)).toBe(486);
    expect(nkIds(res)).toEqual([app.name]);
    if (res) await client.ack(sent, res);
    // the app's event line and the response race to this process: wait for the line
    await app.waitEvent((e) => e.ev === 'callback' && e.kind === 'invite' && e.callId === sent.callId, 2000);
    expect(app.find('callback', { kind: 'invite', callId: sent.callId })).toHaveLength(1);
  });

  it.each([
    ['reply-stateful', 'reply'],
    ['reply-stateless', 'reply_stateless'],
  ])('%s: the route callback answers (%s) and no method callback runs', async (op) => {
    const { sent, res } = await client.request({ method: 'OPTIONS', headers: [`x-nk-op: ${op}`] });
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(nkIds(res)).toEqual([app.name]);
    // a reply from route has no Contact/Allow of the OPTIONS default: the app's own 200
    expect(app.find('callback', { kind: 'route', callId: sent.callId })).toHaveLength(1);
    expect(app.find('callback', { kind: 'options', callId: sent.callId })).toHaveLength(0);
  });

  it('reply: a stateless reply to an INVITE from route (x-nk-op reply-stateless)', async () => {
    const { sent, res } = await client.request({ method: 'INVITE', headers: ['x-nk-op: reply-stateless'] });
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(app.find('callback', { kind: 'invite', callId: sent.callId })).toHaveLength(0);
    if (res) await client.ack(sent, res);
  });

  it('proxy (stateful, Record-Route): a full sipp call INVITE/100/180/200/ACK/BYE/200 through the app', async () => {
    const uas = children.track(await sipp({ scenario: 'uas-call.xml', timeoutSec: 8 }));
    await sippSettle();
    const uac = children.track(
      await sipp({
        scenario: 'uac-proxy.xml',
        target: `127.0.0.1:${sipPort}`,
        timeoutSec: 8,
        keys: { proxy: `sip:127.0.0.1:${uas.port}`, mode: 'stateful', rr: 'x-nk-rr: true' },
        extra: ['-s', 'callee', '-trace_msg'],
      }),
    );
    const [uacCode, uasCode] = await Promise.all([uac.exited, uas.exited]);
    expect(uacCode, `UAC:\n${uac.output()}`).toBe(0);
    expect(uasCode, `UAS:\n${uas.output()}`).toBe(0);
    // the UAC learnt a route set through the server and sent its BYE along it
    const log = uac.messages();
    const starts = sipMessages(log).map((m) => m.split('\n')[0]?.trim());
    for (const line of ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']) {
      expect(starts, log.slice(-3000)).toContain(line);
    }
    const ok200 = sipMessages(log).find((m) => /^SIP\/2\.0 200/.test(m) && /CSeq:\s*1 INVITE/i.test(m));
    expect(ok200, log.slice(-3000)).toMatch(
      new RegExp(`Record-Route:[^\\r\\n]*127\\.0\\.0\\.1:${sipPort}`, 'i'),
    );
    const bye = sipMessages(log).find((m) => /^BYE /.test(m));
    expect(bye, log.slice(-3000)).toMatch(new RegExp(`\\nRoute:[^\\r\\n]*127\\.0\\.0\\.1:${sipPort}`, 'i'));
    // the app took the routing decision for the INVITE, the ACK and the BYE
    const routed = app.find('callback', { kind: 'route' }).map((e) => e.method);
    expect(routed).toEqual(expect.arrayContaining(['INVITE', 'ACK', 'BYE']));
  });

  it('proxy (stateless): a full sipp call through the app proxying statelessly', async () => {
    const before = app.find('callback', { kind: 'route' }).length;
    const uas = children.track(await sipp({ scenario: 'uas-call.xml', timeoutSec: 8 }));
    await sippSettle();
    const uac = children.track(
      await sipp({
        scenario: 'uac-proxy.xml',
        target: `127.0.0.1:${sipPort}`,
        timeoutSec: 8,
        keys: { proxy: `sip:127.0.0.1:${uas.port}`, mode: 'stateless', rr: 'x-nk-norr: true' },
        extra: ['-s', 'callee'],
      }),
    );
    const [uacCode, uasCode] = await Promise.all([uac.exited, uas.exited]);
    expect(uacCode, `UAC:\n${uac.output()}`).toBe(0);
    expect(uasCode, `UAS:\n${uas.output()}`).toBe(0);
    const routed = app
      .find('callback', { kind: 'route' })
      .slice(before)
      .map((e) => e.method);
    expect(routed).toEqual(expect.arrayContaining(['INVITE', 'ACK', 'BYE']));
  });

  it('proxy: a non-2xx final answer from the target comes back through the app (180, 486)', async () => {
    const uas = children.track(await sipp({ scenario: 'uas-busy.xml', timeoutSec: 5 }));
    await sippSettle();
    const { sent, res } = await client.request(
      { method: 'INVITE', headers: [`x-nk-proxy: sip:127.0.0.1:${uas.port}`, 'x-nk-id: tester'] },
      4000,
    );
    expect(res?.status, describeMessage(res)).toBe(486);
    expect(client.responses(sent, 'INVITE').map((m) => m.status)).toContain(180);
    if (!res) return;
    await client.ack(sent, res);
    expect(await uas.exited, uas.output()).toBe(0);
    // one Via (ours): the proxy took its own off
    expect(headersOf(res, 'via')).toHaveLength(1);
    expect(headerOf(res, 'call-id')).toBe(sent.callId);
  });
});

/** The SIP messages of a sipp -trace_msg log, each from its start line. */
function sipMessages(log: string): string[] {
  return log
    .split(/-{10,}[^\n]*\n/)
    .map((m) => m.replace(/^[^\n]*message[^\n]*\n/i, '').trim())
    .filter(Boolean);
}
