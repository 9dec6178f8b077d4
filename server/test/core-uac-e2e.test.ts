// End to end on loopback: a UacCore over one real TransportManager sends to a UasCore (NkSIP
// defaults plus a test app) over another, UDP and TCP, with real timers; every wait bounded.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler } from '../src/core/app.js';
import { PROCESS } from '../src/core/decision.js';
import { defaultApp } from '../src/core/default-app.js';
import type { Reply } from '../src/core/reply.js';
import {
  type InDialogOptions,
  type InDialogSpec,
  UacCore,
  type UacErrorKind,
  type UacListener,
  type UacRequestSpec,
} from '../src/core/uac.js';
import { UasCore } from '../src/core/uas.js';
import type { UasProfile } from '../src/core/uas-checks.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { realClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import { TransportManager } from '../src/transport/manager.js';
import { cleanup, cleanups, until, within } from './transport-helpers.js';

interface Outcome {
  provisionals: number[];
  final: SipResponse;
  /** The dialog handle the final carried. */
  dialog: string | undefined;
}

let a: { uac: UacCore; layer: TransactionLayer; port: number; transport: TransportManager };
let b: { port: number; acks: SipRequest[]; cancelled: SipRequest[]; methods: SipRequest[]; uas: UasCore };

async function start(): Promise<void> {
  // B: the UAS, NkSIP's defaults plus INVITEs that ring forever (`hold`) or are answered (`answer`)
  const tb = new TransportManager();
  cleanups.push(() => tb.close());
  const portB = await tb.listenGroup([
    { transport: 'udp', address: '127.0.0.1', port: 0 },
    { transport: 'tcp', address: '127.0.0.1', port: 0 },
  ]);
  const layerB = new TransactionLayer({ transport: tb, clock: realClock });
  cleanups.push(() => layerB.close());
  const profile = (): UasProfile => ({
    allow: DEFAULTS.allow,
    supported: ['path'],
    contact: `<sip:127.0.0.1:${portB}>`,
  });
  const defaults = defaultApp(profile);
  const acks: SipRequest[] = [];
  const cancelled: SipRequest[] = [];
  const methods: SipRequest[] = [];
  const app: AppHandler = {
    route: () => PROCESS,
    method: (req, source): Reply | Promise<Reply> => {
      methods.push(req);
      if (req.method === 'INVITE' && req.ruri.scheme === 'sip' && 'user' in req.ruri) {
        if (req.ruri.user === 'hold') return new Promise<Reply>(() => {});
        if (req.ruri.user === 'answer')
          return { status: 200, headers: [['Contact', `<sip:b@127.0.0.1:${portB}>`]] };
      }
      return defaults.method(req, source);
    },
    ack: (ack) => void acks.push(ack),
    cancelled: (invite) => void cancelled.push(invite),
  };
  const uas = new UasCore({ transport: tb, layer: layerB, profile, app });
  tb.onMessage((inc) => uas.receive(inc));
  b = { port: portB, acks, cancelled, methods, uas };

  // A: the UAC
  const ta = new TransportManager();
  cleanups.push(() => ta.close());
  const portA = await ta.listenGroup([
    { transport: 'udp', address: '127.0.0.1', port: 0 },
    { transport: 'tcp', address: '127.0.0.1', port: 0 },
  ]);
  const layerA = new TransactionLayer({ transport: ta, clock: realClock });
  cleanups.push(() => layerA.close());
  ta.onMessage((inc) => layerA.receive(inc));
  const uac = new UacCore({
    layer: layerA,
    transport: ta,
    defaults: { from: '"Alice" <sip:alice@127.0.0.1>', route: [], allow: DEFAULTS.allow, supported: 'path' },
    resolve: (host) =>
      host === 'b.test' ? Promise.resolve('127.0.0.1') : Promise.reject(new Error(`unknown ${host}`)),
  });
  a = { uac, layer: layerA, port: portA, transport: ta };
}

/** Sends and waits (bounded) for the final response. */
function request(spec: UacRequestSpec, onSent?: (handle: string) => void): Promise<Outcome> {
  return outcome(spec.method, (listener) => {
    const h = a.uac.send(spec, listener);
    if (h && onSent) onSent(h.handle);
  });
}

/** Sends in a dialog and waits (bounded) for the final response. */
function inDialog(dialog: string, spec: InDialogSpec, opts?: InDialogOptions): Promise<Outcome> {
  return outcome(spec.method, (listener) => void a.uac.sendInDialog(dialog, spec, listener, opts));
}

function outcome(method: string, send: (l: UacListener) => void): Promise<Outcome> {
  const provisionals: number[] = [];
  const done = new Promise<Outcome>((resolve, reject) => {
    send({
      provisional: (r) => void provisionals.push(r.status),
      final: (r, dialog) => resolve({ provisionals, final: r, dialog }),
      error: (kind: UacErrorKind, message) => reject(new Error(`${kind}: ${message}`)),
    });
  });
  return within(done, 5000, `final response to ${method}`);
}

beforeEach(start);
afterEach(cleanup);

describe('UAC → UAS over loopback', () => {
  it('OPTIONS over UDP → 200 with the UAS Allow', async () => {
    const { final } = await request({ method: 'OPTIONS', uri: `sip:127.0.0.1:${b.port}` });
    expect(final.status).toBe(200);
    expect(final.header('allow')).toBe(DEFAULTS.allow);
    expect(final.toTag).toBeDefined();
    expect(a.uac.stats().pending).toBe(0);
    const got = b.methods[0] as SipRequest;
    // the transport wrote our real sent-by into the Via
    expect(got.topVia?.host).toBe('127.0.0.1');
    expect(got.topVia?.port).toBe(a.port);
  });

  it('OPTIONS over TCP, to a name resolved by the injected resolver → 200', async () => {
    const { final } = await request({ method: 'OPTIONS', uri: `sip:b.test:${b.port};transport=tcp` });
    expect(final.status).toBe(200);
    expect(b.methods[0]?.topVia?.transport).toBe('TCP');
  });

  it('MESSAGE → 603 (NkSIP default)', async () => {
    const { final } = await request({
      method: 'MESSAGE',
      uri: `sip:bob@127.0.0.1:${b.port}`,
      body: Buffer.from('hi'),
      contentType: 'text/plain',
      expires: 60,
    });
    expect(final.status).toBe(603);
    expect(b.methods[0]?.body.toString()).toBe('hi');
    expect(b.methods[0]?.hasHeader('date')).toBe(true);
  });

  it('INVITE → 100 then 603, with our Contact naming the listener', async () => {
    const { provisionals, final } = await request({ method: 'INVITE', uri: `sip:bob@127.0.0.1:${b.port}` });
    expect(provisionals).toEqual([100]);
    expect(final.status).toBe(603);
    expect(b.methods[0]?.headerValues('contact')).toEqual([`<sip:alice@127.0.0.1:${a.port}>`]);
    expect(a.uac.stats().pending).toBe(0);
  });

  it('INVITE answered 200 with auto2xxAck: the UAS app gets the ACK', async () => {
    const { final } = await request({
      method: 'INVITE',
      uri: `sip:answer@127.0.0.1:${b.port}`,
      auto2xxAck: true,
    });
    expect(final.status).toBe(200);
    await until(() => b.acks.length === 1, 'the ACK at the UAS');
    const ack = b.acks[0] as SipRequest;
    expect(ack.uri).toBe(`sip:b@127.0.0.1:${b.port}`);
    expect(ack.cseq.seq).toBe(final.cseq.seq);
    expect(ack.toTag).toBe(final.toTag);
  });

  it('INVITE 200 → a dialog on both sides; BYE in it → 200 and both tables empty', async () => {
    const { final, dialog } = await request({
      method: 'INVITE',
      uri: `sip:answer@127.0.0.1:${b.port}`,
      auto2xxAck: true,
    });
    expect(final.status).toBe(200);
    expect(dialog).toMatch(/./);
    expect(a.uac.dialogs.handle(dialog as string)?.inviteStatus).toBe('confirmed');
    await until(() => b.acks.length === 1, 'the ACK at the UAS');
    expect(b.uas.dialogs.counts()).toEqual({ total: 1, early: 0, confirmed: 1 });
    const bye = await inDialog(dialog as string, { method: 'BYE' });
    expect(bye.final.status).toBe(200);
    expect(bye.dialog).toBe(dialog);
    const got = b.methods.find((m) => m.method === 'BYE') as SipRequest;
    expect(got.uri).toBe(`sip:b@127.0.0.1:${b.port}`);
    expect(got.toTag).toBe(final.toTag);
    expect(got.fromTag).toBe(final.fromTag);
    expect(got.cseq.seq).toBe(final.cseq.seq + 1);
    expect(a.uac.dialogs.counts().total).toBe(0);
    expect(b.uas.dialogs.counts().total).toBe(0);
    expect(a.uac.stats().pending).toBe(0);
  });

  it('INVITE 200 without auto2xxAck: the ACK is sent in the dialog; INFO then gets its 200', async () => {
    const { final, dialog } = await request({ method: 'INVITE', uri: `sip:answer@127.0.0.1:${b.port}` });
    expect(final.status).toBe(200);
    const d = dialog as string;
    expect(a.uac.dialogs.handle(d)?.inviteStatus).toBe('accepted_uac');
    const ack = await inDialog(d, { method: 'ACK' });
    expect(ack.final).toBe(final);
    await until(() => b.acks.length === 1, 'the ACK at the UAS');
    expect(b.acks[0]?.cseq.seq).toBe(final.cseq.seq);
    expect(a.uac.dialogs.handle(d)?.inviteStatus).toBe('confirmed');
    // a second ACK has no 2xx left to acknowledge
    await expect(inDialog(d, { method: 'ACK' })).rejects.toThrow(/unknown_dialog/);
    const info = await inDialog(d, { method: 'INFO' });
    expect(info.final.status).toBe(200);
    expect(info.dialog).toBe(d);
    expect((await inDialog(d, { method: 'BYE' })).final.status).toBe(200);
    expect(a.uac.dialogs.size).toBe(0);
    expect(b.uas.dialogs.size).toBe(0);
  });

  it('an unknown dialog handle → unknown_dialog', async () => {
    await expect(inDialog('D_nope', { method: 'BYE' })).rejects.toThrow(/unknown_dialog/);
    await expect(inDialog('D_nope', { method: 'ACK' })).rejects.toThrow(/unknown_dialog/);
  });

  it('an INVITE the app holds is CANCELled → 487', async () => {
    let handle = '';
    const outcome = request({ method: 'INVITE', uri: `sip:hold@127.0.0.1:${b.port}` }, (h) => {
      handle = h;
      // before any provisional: held until the 100 Trying
      expect(a.uac.cancel(h)).toBe(true);
    });
    const { provisionals, final } = await outcome;
    expect(handle).toMatch(/^R_/);
    expect(provisionals).toEqual([100]);
    expect(final.status).toBe(487);
    expect(b.cancelled).toHaveLength(1);
    expect(a.uac.stats().pending).toBe(0);
  });

  it('INVITE with expires is cancelled automatically → 487', async () => {
    const { final } = await request({ method: 'INVITE', uri: `sip:hold@127.0.0.1:${b.port}`, expires: 1 });
    expect(final.status).toBe(487);
    expect(b.cancelled).toHaveLength(1);
  });

  it('TransportManager.localContact names the listener a request would leave from', () => {
    const udp = a.transport.localContact({ transport: 'udp', address: '127.0.0.1', port: b.port });
    expect(udp).toEqual({ host: '127.0.0.1', port: a.port, transport: 'udp' });
    const tcp = a.transport.localContact({ transport: 'tcp', address: '127.0.0.1', port: b.port });
    expect(tcp).toEqual({ host: '127.0.0.1', port: a.port, transport: 'tcp' });
    expect(() => a.transport.localContact({ transport: 'udp', address: '::1', port: 5060 })).toThrow(/IPv6/);
  });

  it('nobody listening over TCP → service_unavailable', async () => {
    // port 1 on loopback: connection refused
    await expect(request({ method: 'OPTIONS', uri: 'sip:127.0.0.1:1;transport=tcp' })).rejects.toThrow(
      /service_unavailable/,
    );
    expect(a.uac.stats().pending).toBe(0);
  });
});
