// UAS dialogs wired into the UAS core, over a real transaction layer on a fake clock: created
// by the responses the core sends, confirmed by the ACK, checked for in-dialog requests
// (481, old CSeq, overlapping INVITE), ended by BYE, a non-2xx final, the ACK timeout or the
// dialog timeout sweep — and the table back to zero afterwards.
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler, RequestContext } from '../src/core/app.js';
import { PROCESS, type RouteDecision } from '../src/core/decision.js';
import { defaultApp } from '../src/core/default-app.js';
import type { Dialog, DialogUpdate } from '../src/core/dialog/dialog.js';
import type { Reply } from '../src/core/reply.js';
import { DIALOG_TIMEOUT_REASON, UasCore, type UasCoreOptions } from '../src/core/uas.js';

type UasCoreHangUp = NonNullable<UasCoreOptions['hangUp']>;

import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { FakeClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import { request as baseRequest, FakeTransport, flush, source } from './support/transaction.js';

let seq = 0;
function request(spec: Parameters<typeof baseRequest>[0] = {}): SipRequest {
  seq++;
  return baseRequest({ branch: `z9hG4bKd${seq}`, ...spec });
}

interface Seen {
  method: string;
  dialog: string | undefined;
}

/** An app that records what reached it; `answer` decides the method replies (200 by default). */
function recorder(answer: (req: SipRequest) => Reply | Promise<Reply> = () => ({ status: 200 })) {
  const methods: Seen[] = [];
  const acks: Seen[] = [];
  const updates: { dialog: string; update: DialogUpdate }[] = [];
  let route: (req: SipRequest) => RouteDecision = () => PROCESS;
  const app: AppHandler = {
    route: (req) => route(req),
    method: (req, _source, _prov, ctx?: RequestContext) => {
      methods.push({ method: req.method, dialog: ctx?.dialog?.handle });
      return answer(req);
    },
    ack: (ack, _source, ctx) => void acks.push({ method: ack.method, dialog: ctx?.dialog?.handle }),
    dialogUpdate: (update, ctx) => void updates.push({ dialog: ctx.dialog.handle, update }),
  };
  return {
    app,
    methods,
    acks,
    updates,
    setRoute: (r: typeof route) => {
      route = r;
    },
  };
}

function setup(app?: AppHandler, dialogTimeoutMs?: number, hangUp?: UasCoreHangUp, timerCMs?: number) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const layer = new TransactionLayer({ transport, clock });
  const profile = () => ({ allow: DEFAULTS.allow, supported: ['path'], contact: '<sip:192.0.2.1:5060>' });
  const opts: ConstructorParameters<typeof UasCore>[0] = { transport, layer, profile, clock };
  if (app) opts.app = app;
  if (dialogTimeoutMs !== undefined) opts.dialogTimeoutMs = dialogTimeoutMs;
  if (hangUp) opts.hangUp = hangUp;
  if (timerCMs !== undefined) opts.timerCMs = timerCMs;
  const core = new UasCore(opts);
  const send = async (msg: SipRequest) => {
    core.receive({ msg, source: source(), size: 0 });
    await flush();
  };
  /** The final responses to requests with this CSeq method, in order. */
  const finals = (method?: string): SipResponse[] =>
    transport.responses().filter((r) => r.status >= 200 && (!method || r.cseq.method === method));
  const settle = async () => {
    await flush();
    for (let i = 0; i < 1000 && clock.nextDue() !== undefined; i++) {
      clock.advanceToNext();
      await flush();
    }
  };
  return { clock, transport, layer, core, send, finals, settle };
}

type T = ReturnType<typeof setup>;

/** INVITE (CSeq `cseq`) answered by the app; returns the call's identifiers and the To tag. */
async function invite(t: T, callId: string, cseq = 1) {
  await t.send(request({ method: 'INVITE', callId, cseq }));
  const resp = t.finals('INVITE').at(-1) as SipResponse;
  return { callId, tag: resp.toTag as string, resp };
}

function inDialog(callId: string, tag: string, method: string, cseq: number, branch?: string): SipRequest {
  const spec: Parameters<typeof baseRequest>[0] = { method, callId, toTag: tag, cseq };
  if (branch) spec.branch = branch;
  return request(spec);
}

function only(t: T): Dialog {
  const all = t.core.dialogs.all();
  expect(all).toHaveLength(1);
  return all[0] as Dialog;
}

describe('UAS dialogs: creation, ACK and BYE', () => {
  it('INVITE → 200 creates a dialog, confirmed by the ACK; the ack callback carries it', async () => {
    const r = recorder();
    const t = setup(r.app);
    const { callId, tag, resp } = await invite(t, 'd1');
    expect(resp.status).toBe(200);
    const d = only(t);
    expect(d.role).toBe('uas');
    expect(d.localTag).toBe(tag);
    expect(d.inviteStatus).toBe('accepted_uas');
    expect(t.core.dialogs.counts()).toEqual({ total: 1, early: 0, confirmed: 1 });
    // the initial INVITE is not in a dialog yet
    expect(r.methods).toEqual([{ method: 'INVITE', dialog: undefined }]);

    await t.send(inDialog(callId, tag, 'ACK', 1));
    expect(d.inviteStatus).toBe('confirmed');
    expect(r.acks).toEqual([{ method: 'ACK', dialog: d.handle }]);
    // a retransmitted ACK confirms nothing more and the app is not told twice
    await t.send(inDialog(callId, tag, 'ACK', 1));
    expect(r.acks).toHaveLength(1);
    expect(r.updates.map((u) => u.update)).toEqual([
      { type: 'start' },
      { type: 'invite_status', status: 'proceeding_uas' },
      { type: 'invite_status', status: 'accepted_uas' },
      { type: 'invite_status', status: 'confirmed' },
    ]);
    expect(new Set(r.updates.map((u) => u.dialog))).toEqual(new Set([d.handle]));
  });

  it('an in-dialog BYE reaches the app with the dialog, gets 200 and the dialog is gone', async () => {
    const r = recorder();
    const t = setup(r.app);
    const { callId, tag } = await invite(t, 'd2');
    await t.send(inDialog(callId, tag, 'ACK', 1));
    const d = only(t);
    await t.send(inDialog(callId, tag, 'BYE', 2));
    expect(t.finals('BYE').map((x) => x.status)).toEqual([200]);
    expect(r.methods.at(-1)).toEqual({ method: 'BYE', dialog: d.handle });
    expect(t.core.dialogs.counts()).toEqual({ total: 0, early: 0, confirmed: 0 });
    expect(t.core.dialogs.handle(d.handle)).toBeUndefined();
    expect(r.updates.slice(-2).map((u) => u.update)).toEqual([
      { type: 'invite_status', status: { stop: 'caller_bye' } },
      { type: 'stop' },
    ]);
    await t.settle();
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
  });

  it("NkSIP's defaults inside a known dialog: INFO 200, UPDATE 603, BYE 200", async () => {
    const defaults = defaultApp(() => ({ allow: DEFAULTS.allow, supported: ['path'] }));
    const t = setup({
      route: () => PROCESS,
      method: (req, src) => (req.method === 'INVITE' ? { status: 200 } : defaults.method(req, src)),
    });
    const { callId, tag } = await invite(t, 'd3');
    await t.send(inDialog(callId, tag, 'ACK', 1));
    await t.send(inDialog(callId, tag, 'INFO', 2));
    await t.send(inDialog(callId, tag, 'UPDATE', 3));
    await t.send(inDialog(callId, tag, 'BYE', 4));
    expect(t.finals().map((x) => [x.cseq.method, x.status])).toEqual([
      ['INVITE', 200],
      ['INFO', 200],
      ['UPDATE', 603],
      ['BYE', 200],
    ]);
    expect(t.core.dialogs.size).toBe(0);
    // outside any dialog the same methods get 481
    await t.send(request({ method: 'BYE', callId: 'nodlg' }));
    await t.send(request({ method: 'INFO', callId: 'nodlg2' }));
    expect(
      t
        .finals()
        .slice(-2)
        .map((x) => x.status),
    ).toEqual([481, 481]);
  });

  it('a BYE for an unknown dialog → 481 from the core; the app never sees it', async () => {
    const r = recorder();
    const t = setup(r.app);
    await t.send(inDialog('unknown', 'nosuchtag', 'BYE', 5));
    expect(t.finals().map((x) => x.status)).toEqual([481]);
    expect(r.methods).toEqual([]);
    expect(t.core.dialogs.size).toBe(0);
  });

  it('a BYE for an unknown dialog processed statelessly → 481 too, statelessly', async () => {
    const r = recorder();
    r.setRoute(() => ({ kind: 'process_stateless' }));
    const t = setup(r.app);
    await t.send(inDialog('unknown', 'nosuchtag', 'BYE', 5));
    expect(t.finals().map((x) => x.status)).toEqual([481]);
    expect(r.methods).toEqual([]);
    expect(t.layer.stats().server).toBe(0);
  });

  it('486 to the INVITE (after a 180) leaves no dialog', async () => {
    const r = recorder(() => ({ status: 486 }));
    const t = setup(r.app);
    let early: Dialog | undefined;
    const app: AppHandler = {
      ...r.app,
      method: (req, source, provisional) => {
        provisional?.({ status: 180 });
        early = t.core.dialogs.all()[0];
        return r.app.method(req, source, provisional);
      },
    };
    t.core.setApp(app);
    await t.send(request({ method: 'INVITE', callId: 'busy' }));
    expect(t.transport.responses().map((x) => x.status)).toEqual([100, 180, 486]);
    expect(early?.early).toBe(true);
    expect(t.core.dialogs.counts()).toEqual({ total: 0, early: 0, confirmed: 0 });
    expect(r.updates.slice(-2).map((u) => u.update)).toEqual([
      { type: 'invite_status', status: { stop: 'busy' } },
      { type: 'stop' },
    ]);
    // the peer ACKs the 486 (absorbed by the transaction); nothing is left
    const ack = request({ method: 'ACK', callId: 'busy', branch: `z9hG4bKd${seq}`, toTag: early?.localTag });
    await t.send(ack);
    await t.settle();
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
    expect(t.core.dialogs.size).toBe(0);
  });
});

describe('UAS dialogs: checks of in-dialog requests', () => {
  it('a CSeq lower than the last one → 500 "Old CSeq in Dialog"; the dialog carries on', async () => {
    const r = recorder();
    const t = setup(r.app);
    const { callId, tag } = await invite(t, 'old', 10);
    await t.send(inDialog(callId, tag, 'ACK', 10));
    await t.send(inDialog(callId, tag, 'INFO', 12));
    await t.send(inDialog(callId, tag, 'INFO', 11));
    // an out-of-order BYE must not end the dialog either
    await t.send(inDialog(callId, tag, 'BYE', 11));
    expect(t.finals().map((x) => [x.cseq.method, x.status, x.reason])).toEqual([
      ['INVITE', 200, 'OK'],
      ['INFO', 200, 'OK'],
      ['INFO', 500, 'Old CSeq in Dialog'],
      ['BYE', 500, 'Old CSeq in Dialog'],
    ]);
    const d = only(t);
    expect(d.inviteStatus).toBe('confirmed');
    expect(d.remoteSeq).toBe(12);
    expect(r.methods.map((m) => m.method)).toEqual(['INVITE', 'INFO']);
  });

  it('a re-INVITE while the previous INVITE waits for its ACK → 500 "Processing Previous INVITE"', async () => {
    const r = recorder();
    const t = setup(r.app);
    const { callId, tag } = await invite(t, 'overlap', 1);
    await t.send(inDialog(callId, tag, 'INVITE', 2));
    const last = t.finals('INVITE').at(-1) as SipResponse;
    expect([last.status, last.reason]).toEqual([500, 'Processing Previous INVITE']);
    const after = Number(last.header('retry-after'));
    expect(after).toBeGreaterThanOrEqual(0);
    expect(after).toBeLessThanOrEqual(10);
    // the 500 does not touch the dialog: the ACK still confirms the first INVITE
    await t.send(inDialog(callId, tag, 'ACK', 1));
    expect(only(t).inviteStatus).toBe('confirmed');
    // and once confirmed, a re-INVITE goes to the app with the dialog
    await t.send(inDialog(callId, tag, 'INVITE', 3));
    expect(r.methods.at(-1)).toEqual({ method: 'INVITE', dialog: only(t).handle });
    expect(t.finals('INVITE').at(-1)?.status).toBe(200);
  });

  it('a re-INVITE while the app still holds the previous one → 500 "Processing Previous INVITE"', async () => {
    const pending: ((r: Reply) => void)[] = [];
    const r = recorder((req) =>
      req.cseq.seq === 1 ? { status: 200 } : new Promise<Reply>((res) => pending.push(res)),
    );
    const t = setup(r.app);
    const { callId, tag } = await invite(t, 'held', 1);
    await t.send(inDialog(callId, tag, 'ACK', 1));
    await t.send(inDialog(callId, tag, 'INVITE', 2));
    await t.send(inDialog(callId, tag, 'INVITE', 3));
    expect(t.finals('INVITE').map((x) => [x.cseq.seq, x.status, x.reason])).toEqual([
      [1, 200, 'OK'],
      [3, 500, 'Processing Previous INVITE'],
    ]);
    pending[0]?.({ status: 488 });
    await flush();
    // a rejected re-INVITE leaves the session as it was
    expect(only(t).inviteStatus).toBe('confirmed');
  });
});

describe('UAS dialogs: timeouts', () => {
  it('the dialog timeout sweep stops an idle dialog and removes it', async () => {
    const r = recorder();
    const t = setup(r.app, 10_000);
    const { callId, tag } = await invite(t, 'idle');
    await t.send(inDialog(callId, tag, 'ACK', 1));
    const d = only(t);
    t.clock.advance(5_000);
    await t.send(inDialog(callId, tag, 'INFO', 2)); // activity: the timeout starts again
    t.clock.advance(9_000);
    expect(t.core.dialogs.size).toBe(1);
    t.clock.advance(2_000);
    expect(t.core.dialogs.size).toBe(0);
    expect(
      r.updates
        .filter((u) => u.dialog === d.handle)
        .slice(-2)
        .map((u) => u.update),
    ).toEqual([{ type: 'invite_status', status: { stop: 'timeout' } }, { type: 'stop' }]);
    // the sweep is not rearmed once the table is empty
    await t.settle();
    expect(t.clock.nextDue()).toBeUndefined();
  });

  it('a timed-out INVITE session is hung up with a Reason; a dialog in a non-INVITE usage only stops', async () => {
    const r = recorder();
    const hungUp: { dialog: string; reason: string; status: string | undefined }[] = [];
    const t = setup(r.app, 10_000, (d, reason) => {
      hungUp.push({ dialog: d.handle, reason, status: d.inviteStatus });
    });
    const { callId, tag } = await invite(t, 'to-bye');
    await t.send(inDialog(callId, tag, 'ACK', 1));
    const d = only(t);
    t.clock.advance(21_000);
    expect(t.core.dialogs.size).toBe(0);
    expect(hungUp).toEqual([{ dialog: d.handle, reason: DIALOG_TIMEOUT_REASON, status: 'confirmed' }]);
    expect(DIALOG_TIMEOUT_REASON).toBe('SIP;cause=408;text="Dialog Timeout"');
    expect(
      r.updates
        .filter((u) => u.dialog === d.handle)
        .slice(-3)
        .map((u) => u.update),
    ).toEqual([
      { type: 'invite_timeout' },
      { type: 'invite_status', status: { stop: 'timeout' } },
      { type: 'stop' },
    ]);
  });

  it('an INVITE whose Expires passes unanswered gets 487 from the core, a second later (RFC 3261 §13.3.1)', async () => {
    const r = recorder(() => new Promise<Reply>(() => undefined));
    const t = setup(r.app);
    await t.send(request({ method: 'INVITE', callId: 'exp-1', headers: ['Expires: 2'] }));
    t.clock.advance(2_900);
    await flush();
    expect(t.finals('INVITE')).toEqual([]);
    t.clock.advance(200);
    await flush();
    expect(t.finals('INVITE').map((f) => f.status)).toEqual([487]);
    // answered in time: the expiry is dropped with its timer
    const r2 = recorder(() => ({ status: 486 }));
    const t2 = setup(r2.app);
    await t2.send(request({ method: 'INVITE', callId: 'exp-2', headers: ['Expires: 2'] }));
    expect(t2.finals('INVITE').map((f) => f.status)).toEqual([486]);
    t2.clock.advance(4_000);
    await flush();
    // the 486 is retransmitted (Timer G, no ACK here); no 487 ever follows it
    expect(new Set(t2.finals('INVITE').map((f) => f.status))).toEqual(new Set([486]));
  });

  it('an INVITE the app holds past Timer C gets 408 "Timer C Timeout"; each provisional restarts it', async () => {
    const held: SipRequest[] = [];
    const app: AppHandler = {
      route: () => PROCESS,
      method: (req, _source, provisional) => {
        held.push(req);
        if (req.header('x-prov') !== undefined) provisional?.({ status: 180 });
        return new Promise<Reply>(() => undefined);
      },
    };
    const t = setup(app, undefined, undefined, 1_000);
    await t.send(request({ method: 'INVITE', callId: 'tc-1' }));
    t.clock.advance(999);
    await flush();
    expect(t.finals('INVITE')).toEqual([]);
    t.clock.advance(1);
    await flush();
    expect(t.finals('INVITE').map((f) => [f.status, f.reason])).toEqual([[408, 'Timer C Timeout']]);
    // a 180 sent at once: Timer C counts from it
    await t.send(request({ method: 'INVITE', callId: 'tc-2', headers: ['x-prov: 1'] }));
    const second = () => t.finals('INVITE').filter((f) => f.callId === 'tc-2');
    expect(t.transport.responses().filter((r) => r.callId === 'tc-2' && r.status === 180)).toHaveLength(1);
    t.clock.advance(999);
    await flush();
    expect(second()).toEqual([]);
    t.clock.advance(1);
    await flush();
    expect(new Set(second().map((f) => f.reason))).toEqual(new Set(['Timer C Timeout']));
    expect(held).toHaveLength(2);
    // the early dialog of the 180 ended with the 408
    await t.settle();
    expect(t.core.dialogs.size).toBe(0);
  });

  it('a non-INVITE the app holds past 64*T1 gets 408 "No-INVITE Timeout"; one answered in time does not', async () => {
    const t = setup(
      recorder((req) =>
        req.header('x-hold') !== undefined ? new Promise<Reply>(() => undefined) : { status: 200 },
      ).app,
    );
    await t.send(request({ method: 'OPTIONS', callId: 'ni-1', headers: ['x-hold: 1'] }));
    await t.send(request({ method: 'OPTIONS', callId: 'ni-2' }));
    t.clock.advance(64 * 500 - 1);
    await flush();
    expect(t.finals('OPTIONS').map((f) => [f.callId, f.status])).toEqual([['ni-2', 200]]);
    t.clock.advance(1);
    await flush();
    expect(t.finals('OPTIONS').map((f) => [f.callId, f.status, f.reason])).toEqual([
      ['ni-2', 200, 'OK'],
      ['ni-1', 408, 'No-INVITE Timeout'],
    ]);
  });

  it('one sweep timer whatever the number of dialogs', async () => {
    const t = setup(recorder().app, 100_000);
    for (const id of ['a', 'b', 'c']) {
      const { callId, tag } = await invite(t, `many-${id}`);
      await t.send(inDialog(callId, tag, 'ACK', 1));
    }
    expect(t.core.dialogs.size).toBe(3);
    // past Timer L the transactions are gone: the sweep is the only timer left
    t.clock.advance(40_000);
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
    expect(t.clock.pending).toBe(1);
    t.clock.advance(70_000);
    expect(t.core.dialogs.size).toBe(0);
  });

  it('a 2xx never ACKed: the dialog stops with ack_timeout after 64*T1', async () => {
    const r = recorder();
    const t = setup(r.app);
    await invite(t, 'noack');
    const d = only(t);
    t.clock.advance(64 * 500 - 1);
    expect(t.core.dialogs.size).toBe(1);
    t.clock.advance(1);
    await flush();
    expect(t.core.dialogs.size).toBe(0);
    expect(
      r.updates
        .filter((u) => u.dialog === d.handle)
        .slice(-2)
        .map((u) => u.update),
    ).toEqual([{ type: 'invite_status', status: { stop: 'ack_timeout' } }, { type: 'stop' }]);
    await t.settle();
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
  });

  it('over UDP the 2xx is resent, T1 doubling up to T2, until its ACK (RFC 3261 §13.3.1.4)', async () => {
    const t = setup(recorder().app);
    const { callId, tag } = await invite(t, 'resend');
    const oks = () => t.finals('INVITE').filter((f) => f.callId === callId && f.status === 200).length;
    expect(oks()).toBe(1);
    t.clock.advance(499);
    expect(oks()).toBe(1);
    t.clock.advance(1); // T1
    expect(oks()).toBe(2);
    t.clock.advance(1000); // 2*T1 later
    expect(oks()).toBe(3);
    t.clock.advance(2000 + 4000); // 4*T1, then T2
    expect(oks()).toBe(5);
    await t.send(inDialog(callId, tag, 'ACK', 1));
    t.clock.advance(20_000);
    expect(oks()).toBe(5);
    expect(only(t).inviteStatus).toBe('confirmed');
  });

  it('an ACKed dialog is not stopped by the ACK timer', async () => {
    const t = setup(recorder().app);
    const { callId, tag } = await invite(t, 'acked');
    await t.send(inDialog(callId, tag, 'ACK', 1));
    t.clock.advance(64 * 500 + 1000);
    expect(only(t).inviteStatus).toBe('confirmed');
    t.core.close();
    expect(t.clock.nextDue()).toBeUndefined();
  });
});
