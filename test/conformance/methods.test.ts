// Requests answered by the conformance app's method callbacks: OPTIONS, INVITE (with ACK and
// BYE), provisional answers first (x-nk-prov), delayed answers (x-nk-sleep), a CANCEL of an
// INVITE the app holds, and the exact statuses and headers the app puts in its answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, nkIds, SDP, SipClient } from './harness.js';

const languages = conformanceLanguages();

describe.each(languages)('%s conformance app: OPTIONS, INVITE and BYE answered by the app', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;

  beforeAll(async () => {
    server = await children.server();
    app = await children.app(lang, server, { name: 'confm' });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  it.each([
    ['ok', 200],
    ['busy', 486],
    ['decline', 603],
    ['404', 404],
    ['480', 480],
  ])('OPTIONS with x-nk-op %s: %i from the app, x-nk-id extended with its name', async (op, code) => {
    const { sent, res } = await client.request({
      method: 'OPTIONS',
      headers: [`x-nk-op: ${op}`, 'x-nk-id: a', 'x-nk-id: b'],
    });
    expect(res?.status, describeMessage(res)).toBe(code);
    expect(nkIds(res)).toEqual(['a', 'b', 'confm']);
    expect(app.find('callback', { kind: 'options', callId: sent.callId })).toHaveLength(1);
  });

  it('OPTIONS without x-nk-op: 200 from the app (not the server default)', async () => {
    const { res } = await client.request({ method: 'OPTIONS' });
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(nkIds(res)).toEqual(['confm']);
  });

  it('x-nk-op reply-request: a 200 whose message/sip body is the request the app saw', async () => {
    const { sent, res } = await client.request({
      method: 'OPTIONS',
      headers: ['x-nk-op: reply-request', 'x-conf-marker: m-1'],
    });
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(headerOf(res!, 'content-type')).toMatch(/^message\/sip/i);
    const body = res!.body.toString('latin1');
    expect(body).toMatch(/^OPTIONS sip:/);
    expect(body).toContain(sent.callId);
    expect(body).toMatch(/x-conf-marker: m-1/i);
  });

  it('unknown x-nk-op: 400 from the app', async () => {
    const { res } = await client.request({ method: 'OPTIONS', headers: ['x-nk-op: no-such-op'] });
    expect(res?.status, describeMessage(res)).toBe(400);
  });

  it('INVITE x-nk-op answer: 200 echoing the SDP; ACK and BYE reach the app; BYE answered 200', async () => {
    const { sent, res } = await client.request({
      method: 'INVITE',
      headers: ['x-nk-op: answer', 'x-nk-id: caller'],
      body: SDP,
    });
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(res!.body.toString('latin1')).toBe(SDP);
    expect(headerOf(res!, 'content-type')).toMatch(/^application\/sdp/i);
    expect(nkIds(res)).toEqual(['caller', 'confm']);
    expect(headerOf(res!, 'to')).toMatch(/;\s*tag=/);
    await client.ack(sent, res!);
    expect(
      await app.waitEvent((e) => e.ev === 'callback' && e.kind === 'ack' && e.callId === sent.callId, 2000),
    ).toBeDefined();

    const bye = await client.bye(sent, res!, ['x-nk-op: ok', 'x-nk-id: bye']);
    const byeRes = await client.final(bye, 'BYE', 3000);
    expect(byeRes?.status, describeMessage(byeRes)).toBe(200);
    expect(nkIds(byeRes)).toEqual(['bye', 'confm']);
    expect(app.find('callback', { kind: 'bye', callId: sent.callId })).toHaveLength(1);
  });

  it('in-dialog ACK and BYE carry the handle of the dialog the INVITE created', async () => {
    const { sent, res } = await client.request({ method: 'INVITE', headers: ['x-nk-op: answer'], body: SDP });
    expect(res?.status, describeMessage(res)).toBe(200);
    await client.ack(sent, res!);
    const bye = await client.bye(sent, res!);
    expect((await client.final(bye, 'BYE', 3000))?.status).toBe(200);
    const ack = await app.waitEvent(
      (e) => e.ev === 'callback' && e.kind === 'ack' && e.callId === sent.callId,
      2000,
    );
    const byeCb = app.find('callback', { kind: 'bye', callId: sent.callId })[0];
    expect(ack?.dialog).toBeTruthy();
    expect(byeCb?.dialog).toBe(ack?.dialog);
    expect(
      await app.waitEvent((e) => e.ev === 'dialog' && e.dialog === ack?.dialog, 1000),
      'no dialog event for the call',
    ).toBeDefined();
  });

  it('INVITE x-nk-op busy with x-nk-prov true: 180 Ringing first, then 486', async () => {
    const { sent, res } = await client.request({
      method: 'INVITE',
      headers: ['x-nk-op: busy', 'x-nk-prov: true'],
    });
    expect(res?.status, describeMessage(res)).toBe(486);
    expect(nkIds(res)).toEqual(['confm']);
    const codes = client.responses(sent, 'INVITE').map((m) => m.status);
    expect(codes.indexOf(180)).toBeGreaterThanOrEqual(0);
    expect(codes.indexOf(180)).toBeLessThan(codes.indexOf(486));
    await client.ack(sent, res!);
  });

  it('INVITE x-nk-prov 183 and x-nk-sleep 300: 183 at once, 603 about 300 ms later', async () => {
    const t0 = Date.now();
    const sent = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: decline', 'x-nk-prov: 183', 'x-nk-sleep: 300'],
    });
    const prov = await client.peer.waitFor(
      (m) => m.status === 183 && headerOf(m, 'call-id') === sent.callId,
      2000,
      sent.from,
    );
    expect(prov, 'no 183').toBeDefined();
    const tProv = Date.now() - t0;
    const res = await client.final(sent, 'INVITE', 3000);
    const tFinal = Date.now() - t0;
    expect(res?.status, describeMessage(res)).toBe(603);
    expect(tFinal - tProv).toBeGreaterThanOrEqual(200);
    await client.ack(sent, res!);
  });

  it('INVITE x-nk-sleep 400: the server says 100 Trying, the app answers 200 after the delay', async () => {
    const t0 = Date.now();
    const sent = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: ok', 'x-nk-sleep: 400'],
      body: SDP,
    });
    const res = await client.final(sent, 'INVITE', 3000);
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
    expect(client.responses(sent, 'INVITE')[0]?.status).toBe(100);
    await client.ack(sent, res!);
    const bye = await client.bye(sent, res!);
    expect((await client.final(bye, 'BYE', 3000))?.status).toBe(200);
  });

  it('CANCEL of an INVITE the app holds (x-nk-op pending): 200 for the CANCEL, 487 for the INVITE', async () => {
    const sent = await client.send({ method: 'INVITE', headers: ['x-nk-op: pending'] });
    const ringing = await client.peer.waitFor(
      (m) => m.status === 180 && headerOf(m, 'call-id') === sent.callId,
      2000,
      sent.from,
    );
    expect(ringing, 'no 180 from the app').toBeDefined();
    const cancel = await client.cancel(sent);
    const cancelRes = await client.final(cancel, 'CANCEL', 2000);
    expect(cancelRes?.status, describeMessage(cancelRes)).toBe(200);
    const res = await client.final(sent, 'INVITE', 2000);
    expect(res?.status, describeMessage(res)).toBe(487);
    await client.ack(sent, res!);
    expect(
      await app.waitEvent(
        (e) => e.ev === 'callback' && e.kind === 'cancel' && e.callId === sent.callId,
        2000,
      ),
      'the app was not told of the CANCEL',
    ).toBeDefined();
  });

  // NkSIP: "A BYE outside any dialog gets 481 automatically" (reference §4).
  it('BYE outside any dialog gets 481 from the server, no bye callback', async () => {
    const { sent, res } = await client.request({
      method: 'BYE',
      to: `<${client.defaultRuri()}>;tag=nonexistent`,
    });
    expect(res?.status, describeMessage(res)).toBe(481);
    expect(app.find('callback', { kind: 'bye', callId: sent.callId })).toHaveLength(0);
  });
});
