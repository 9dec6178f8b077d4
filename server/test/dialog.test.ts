// The dialog layer's pure core (core/dialog): dialogs created on both sides, route sets and
// targets, usages, forking and the table counts. Messages are wire text parsed back.
import { describe, expect, it } from 'vitest';
import { inDialogError, receiveInDialog } from '../src/core/dialog/check.js';
import { Dialog, type DialogUpdate } from '../src/core/dialog/dialog.js';
import { buildInDialogRequest } from '../src/core/dialog/request.js';
import { DialogTable } from '../src/core/dialog/table.js';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { formatUri } from '../src/sip/uri.js';
import { parse } from './support/transaction.js';

const ctx = (now = 1000) => ({ now });

interface ReqSpec {
  method?: string;
  uri?: string;
  callId?: string;
  from?: string;
  to?: string;
  cseq?: number;
  contact?: string | null;
  rr?: string[];
  extra?: string[];
}

/** A request as wire text, parsed. Defaults: Alice (tag a1) calls Bob. */
function req(s: ReqSpec = {}): SipRequest {
  const method = s.method ?? 'INVITE';
  const lines = [
    `${method} ${s.uri ?? 'sip:bob@biloxi.com'} SIP/2.0`,
    'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    ...(s.rr ?? []).map((r) => `Record-Route: ${r}`),
    `From: ${s.from ?? 'Alice <sip:alice@atlanta.com>;tag=a1'}`,
    `To: ${s.to ?? 'Bob <sip:bob@biloxi.com>'}`,
    `Call-ID: ${s.callId ?? 'c1@atlanta.com'}`,
    `CSeq: ${s.cseq ?? 100} ${method}`,
    ...(s.contact === null ? [] : [`Contact: ${s.contact ?? '<sip:alice@pc33.atlanta.com>'}`]),
    ...(s.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return parse(lines.join('\r\n')) as SipRequest;
}

/** A response to `r` through the wire, with To tag, Contact and Record-Route (copied by the peer). */
function resp(r: SipRequest, status: number, toTag: string, contact?: string, rr?: string[]): SipResponse {
  const m = makeResponse(r, status, { toTag });
  for (const v of rr ?? r.headerValues('record-route')) m.addHeader('record-route', v);
  if (contact) m.addHeader('contact', contact);
  return parse(serialize(m).toString('latin1')) as SipResponse;
}

/** A request as it goes on the wire and is parsed by the peer. */
function wire(r: SipRequest): SipRequest {
  return parse(serialize(r).toString('latin1')) as SipRequest;
}

const routes = (d: Dialog) => d.rawRouteSet;
const statuses = (u: DialogUpdate[]) =>
  u.map((x) =>
    x.type === 'invite_status' ? (typeof x.status === 'string' ? x.status : `stop:${x.status.stop}`) : x.type,
  );

// Alice → P1 → P2 → Bob. P1 record-routes first, P2 on top of it.
const RR = ['<sip:p2.biloxi.com;lr>', '<sip:p1.atlanta.com;lr>'];

describe('UAC dialogs', () => {
  it('are created early by a 1xx with a To tag and confirmed by the 2xx and our ACK', () => {
    const table = new DialogTable();
    const inv = req({ rr: [] });
    // a 100 never makes a dialog
    expect(table.uacResponse(inv, resp(inv, 100, 'x'), ctx()).dialog).toBeUndefined();
    const ringing = resp(inv, 180, 'b1', '<sip:bob@192.0.2.4>', RR);
    const s1 = table.uacResponse(inv, ringing, ctx(1000));
    const d = s1.dialog as Dialog;
    expect(s1.created).toBe(true);
    expect(statuses(s1.updates)).toEqual(['start', 'proceeding_uac']);
    expect(d.role).toBe('uac');
    expect(d.callId).toBe('c1@atlanta.com');
    expect(d.localTag).toBe('a1');
    expect(d.remoteTag).toBe('b1');
    expect(d.early).toBe(true);
    expect(d.secure).toBe(false);
    expect(d.localSeq).toBe(100);
    expect(d.remoteSeq).toBeUndefined(); // §12.1.2: empty until the peer sends a request
    expect(routes(d)).toEqual(['<sip:p1.atlanta.com;lr>', '<sip:p2.biloxi.com;lr>']);
    expect(formatUri(d.remoteTarget)).toBe('sip:bob@192.0.2.4');
    expect(formatUri(d.localTarget as never)).toBe('sip:alice@pc33.atlanta.com');
    expect(d.rawLocalUri).toBe('Alice <sip:alice@atlanta.com>;tag=a1');
    expect(d.rawRemoteUri).toBe('Bob <sip:bob@biloxi.com>;tag=b1');
    expect(d.inviteStatus).toBe('proceeding_uac');
    expect(d.created).toBe(1000);
    expect(table.counts()).toEqual({ total: 1, early: 1, confirmed: 0 });

    // the 2xx recomputes the route set and the target (§13.2.2.4), then freezes the route set
    const rr2 = ['<sip:p3.biloxi.com;lr>', ...RR];
    const ok = resp(inv, 200, 'b1', '<sip:bob@192.0.2.5>', rr2);
    const s2 = table.uacResponse(inv, ok, ctx(2000));
    expect(s2.dialog).toBe(d);
    expect(s2.created).toBe(false);
    expect(statuses(s2.updates)).toEqual(['target_update', 'accepted_uac']);
    expect(d.early).toBe(false);
    expect(d.routeSetFrozen).toBe(true);
    expect(routes(d)).toEqual([
      '<sip:p1.atlanta.com;lr>',
      '<sip:p2.biloxi.com;lr>',
      '<sip:p3.biloxi.com;lr>',
    ]);
    expect(formatUri(d.remoteTarget)).toBe('sip:bob@192.0.2.5');
    expect(d.invite?.answered).toBe(2000);
    expect(d.updated).toBe(2000);
    expect(table.counts()).toEqual({ total: 1, early: 0, confirmed: 1 });

    const ack = buildInDialogRequest(d, { method: 'ACK' }, 2100);
    expect(ack.req.cseq).toEqual({ seq: 100, method: 'ACK' });
    expect(statuses(ack.updates)).toEqual(['confirmed']);
    expect(d.inviteStatus).toBe('confirmed');
    expect(d.localSeq).toBe(100);
    // a retransmitted 2xx gets the same ACK again; it changes nothing else
    expect(d.ackToResend(ok)).toBe(ack.req);
    expect(table.uacResponse(inv, ok, ctx(2200)).updates).toEqual([]);
  });

  it('is secure for a sips Request-URI, with a sips remote target', () => {
    const inv = req({ uri: 'sips:bob@biloxi.com' });
    const { dialog } = Dialog.uac(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4;transport=tls>'), ctx());
    expect(dialog.secure).toBe(true);
    expect(formatUri(dialog.remoteTarget)).toBe('sips:bob@192.0.2.4;transport=tls');
    const notTls = Dialog.uac(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4>'), { now: 0, overTls: false });
    expect(notTls.dialog.secure).toBe(false);
  });

  it('drops our own Record-Route from the route set (NkSIP is_local)', () => {
    const inv = req();
    const r = resp(inv, 200, 'b1', '<sip:bob@192.0.2.4>', [...RR, '<sip:us.atlanta.com;lr>']);
    const { dialog } = Dialog.uac(inv, r, {
      now: 0,
      isLocal: (u) => formatUri(u).startsWith('sip:us.atlanta.com'),
    });
    expect(routes(dialog)).toEqual(['<sip:p1.atlanta.com;lr>', '<sip:p2.biloxi.com;lr>']);
  });

  it('ends an unanswered INVITE with the NkSIP reason and leaves the table', () => {
    const table = new DialogTable();
    const inv = req();
    const d = table.uacResponse(inv, resp(inv, 180, 'b1', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    const s = table.uacResponse(inv, resp(inv, 486, 'b1'), ctx());
    expect(statuses(s.updates)).toEqual(['stop:busy', 'stop']);
    expect(d.ended).toBe(true);
    expect(table.size).toBe(0);
    const inv2 = req({ callId: 'c2' });
    table.uacResponse(inv2, resp(inv2, 183, 'b1', '<sip:bob@192.0.2.4>'), ctx());
    expect(statuses(table.uacResponse(inv2, resp(inv2, 487, 'b1'), ctx()).updates)).toEqual([
      'stop:cancelled',
      'stop',
    ]);
    expect(table.size).toBe(0);
  });
});

describe('UAS dialogs', () => {
  it('are created by our 1xx with a To tag, confirmed by our 2xx and the ACK', () => {
    const table = new DialogTable();
    const inv = req({ rr: RR, cseq: 314159 });
    const ringing = makeResponse(inv, 180, { toTag: 'b1' }).addHeader('contact', '<sip:bob@192.0.2.4>');
    const s1 = table.uasResponse(inv, ringing, ctx(500));
    const d = s1.dialog as Dialog;
    expect(statuses(s1.updates)).toEqual(['start', 'proceeding_uas']);
    expect(d.role).toBe('uas');
    expect(d.localTag).toBe('b1');
    expect(d.remoteTag).toBe('a1');
    expect(d.early).toBe(true);
    expect(d.remoteSeq).toBe(314159);
    expect(d.localSeq).toBeUndefined();
    expect(routes(d)).toEqual(RR); // in order for the UAS (§12.1.1)
    expect(formatUri(d.remoteTarget)).toBe('sip:alice@pc33.atlanta.com');
    expect(formatUri(d.localTarget as never)).toBe('sip:bob@192.0.2.4');
    expect(d.rawLocalUri).toBe('Bob <sip:bob@biloxi.com>;tag=b1');
    expect(d.rawRemoteUri).toBe('Alice <sip:alice@atlanta.com>;tag=a1');
    expect(table.findUas(req({ to: 'Bob <sip:bob@biloxi.com>;tag=b1', method: 'BYE' }))).toBe(d);

    const ok = makeResponse(inv, 200, { toTag: 'b1' }).addHeader('contact', '<sip:bob@192.0.2.4>');
    expect(statuses(table.uasResponse(inv, ok, ctx(600)).updates)).toEqual(['accepted_uas']);
    expect(d.early).toBe(false);
    expect(d.routeSetFrozen).toBe(true);
  });

  it('is created for a SUBSCRIBE 2xx with a subscription usage', () => {
    const table = new DialogTable();
    const sub = req({ method: 'SUBSCRIBE', extra: ['Event: presence;id=7'] });
    const s = table.uasResponse(sub, makeResponse(sub, 202, { toTag: 'n1' }), ctx());
    const d = s.dialog as Dialog;
    expect(d.invite).toBeUndefined();
    expect([...d.subscriptions.values()]).toEqual([{ event: 'presence', id: '7' }]);
    expect(d.early).toBe(false);
    // a 1xx to a SUBSCRIBE makes no dialog
    const sub2 = req({ method: 'SUBSCRIBE', callId: 'c9', extra: ['Event: presence'] });
    expect(table.uasResponse(sub2, makeResponse(sub2, 180, { toTag: 'n2' }), ctx()).dialog).toBeUndefined();
    expect(statuses(d.removeSubscription({ event: 'presence', id: '7' }))).toEqual(['stop']);
  });

  it('a NOTIFY before the SUBSCRIBE 2xx creates the dialog the 2xx then finds', () => {
    const table = new DialogTable();
    const sub = req({ method: 'SUBSCRIBE', cseq: 40, extra: ['Event: presence'] });
    const notify = req({
      method: 'NOTIFY',
      cseq: 1,
      from: 'Bob <sip:bob@biloxi.com>;tag=n1',
      to: 'Alice <sip:alice@atlanta.com>;tag=a1',
      contact: '<sip:bob@192.0.2.4>',
      extra: ['Event: presence', 'Subscription-State: active'],
    });
    const d = table.uasResponse(notify, makeResponse(notify, 200), ctx()).dialog as Dialog;
    expect(d.localTag).toBe('a1');
    expect(d.remoteTag).toBe('n1');
    const s = table.uacResponse(sub, resp(sub, 202, 'n1', '<sip:bob@192.0.2.4>'), ctx());
    expect(s.dialog).toBe(d);
    expect(s.created).toBe(false);
    expect(d.localSeq).toBe(40);
    expect(buildInDialogRequest(d, { method: 'SUBSCRIBE' }, 0).req.cseq.seq).toBe(41);
    expect(table.size).toBe(1);
  });
});

describe('usages (RFC 5057)', () => {
  function confirmedUac(table: DialogTable): { d: Dialog; inv: SipRequest } {
    const inv = req();
    const d = table.uacResponse(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    buildInDialogRequest(d, { method: 'ACK' }, 0);
    return { d, inv };
  }

  it('a BYE ends the INVITE usage; the dialog lives on while a subscription does', () => {
    const table = new DialogTable();
    const { d } = confirmedUac(table);
    const sub = buildInDialogRequest(
      d,
      { method: 'SUBSCRIBE', headers: [{ op: 'add', name: 'Event', value: 'dialog' }] },
      0,
    );
    table.uacResponse(sub.req, resp(sub.req, 200, 'b1', '<sip:bob@192.0.2.4>'), ctx());
    expect([...d.subscriptions.keys()]).toEqual(['dialog;']);
    const bye = buildInDialogRequest(d, { method: 'BYE' }, 0);
    expect(statuses(bye.updates)).toEqual(['bye']);
    const s = table.uacResponse(bye.req, resp(bye.req, 200, 'b1'), ctx());
    expect(statuses(s.updates)).toEqual(['stop:caller_bye']);
    expect(table.size).toBe(1);
    expect(
      statuses(table.settle(d, d.removeSubscription({ event: 'dialog', id: undefined })).updates),
    ).toEqual(['stop']);
    expect(table.size).toBe(0);
  });

  it('a dialog-terminating response (404) ends every usage; 481 the INVITE usage', () => {
    const table = new DialogTable();
    const { d } = confirmedUac(table);
    d.addSubscription({ event: 'presence', id: undefined });
    const info = buildInDialogRequest(d, { method: 'INFO' }, 0);
    expect(statuses(table.uacResponse(info.req, resp(info.req, 404, 'b1'), ctx()).updates)).toEqual([
      'stop:404',
      'stop',
    ]);
    expect(table.size).toBe(0);

    const t2 = new DialogTable();
    const { d: d2 } = confirmedUac(t2);
    const opt = buildInDialogRequest(d2, { method: 'OPTIONS' }, 0);
    expect(statuses(t2.uacResponse(opt.req, resp(opt.req, 481, 'b1'), ctx()).updates)).toEqual([
      'stop:481',
      'stop',
    ]);
    expect(t2.size).toBe(0);
  });

  it('a callee BYE stops with callee_bye; stop() forces the end', () => {
    const table = new DialogTable();
    const inv = req({ cseq: 1 });
    const d = table.uasResponse(inv, makeResponse(inv, 200, { toTag: 'b1' }), ctx()).dialog as Dialog;
    const bye = buildInDialogRequest(d, { method: 'BYE' }, 0); // we are the callee
    expect(bye.req.fromTag).toBe('b1');
    const s = table.uacResponse(bye.req, resp(bye.req, 200, 'a1'), ctx());
    expect(s.dialog).toBe(d);
    expect(statuses(s.updates)).toEqual(['stop:callee_bye', 'stop']);
    expect(table.size).toBe(0);
    const other = Dialog.uas(
      req({ callId: 'z' }),
      makeResponse(req({ callId: 'z' }), 200, { toTag: 't' }),
      ctx(),
    );
    expect(statuses(other.dialog.stop())).toEqual(['stop:forced', 'stop']);
    expect(other.dialog.stop()).toEqual([]);
  });
});

describe('forking', () => {
  it('keeps one early dialog per remote tag; the 2xx confirms one, the other is stopped', () => {
    const table = new DialogTable();
    const inv = req();
    const b1 = table.uacResponse(inv, resp(inv, 180, 'b1', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    const b2 = table.uacResponse(inv, resp(inv, 183, 'b2', '<sip:bob@192.0.2.5>'), ctx()).dialog as Dialog;
    expect(b1).not.toBe(b2);
    expect(table.forRequest('c1@atlanta.com', 'a1')).toEqual([b1, b2]);
    expect(table.counts()).toEqual({ total: 2, early: 2, confirmed: 0 });

    table.uacResponse(inv, resp(inv, 200, 'b2', '<sip:bob@192.0.2.5>'), ctx());
    expect(b2.inviteStatus).toBe('accepted_uac');
    expect(b1.inviteStatus).toBe('proceeding_uac');
    expect(table.earlySiblings(b2)).toEqual([b1]);
    // the INVITE transaction ends: the branches still early are gone
    for (const e of table.earlySiblings(b2)) table.settle(e, e.stop('timeout'));
    expect(table.counts()).toEqual({ total: 1, early: 0, confirmed: 1 });
  });

  it('a second 2xx makes a second dialog, which gets an ACK and a BYE', () => {
    const table = new DialogTable();
    const inv = req();
    const a = table.uacResponse(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    const extra = table.uacResponse(inv, resp(inv, 200, 'b2', '<sip:bob@192.0.2.5>'), ctx());
    const b = extra.dialog as Dialog;
    expect(extra.created).toBe(true);
    expect(table.size).toBe(2);
    const ack = buildInDialogRequest(b, { method: 'ACK' }, 0);
    expect(ack.req.uri).toBe('sip:bob@192.0.2.5');
    expect(ack.req.toTag).toBe('b2');
    const bye = buildInDialogRequest(b, { method: 'BYE' }, 0);
    expect(bye.req.cseq).toEqual({ seq: 101, method: 'BYE' });
    table.uacResponse(bye.req, resp(bye.req, 200, 'b2'), ctx());
    expect(table.all()).toEqual([a]);
  });
});

describe('handles and counts', () => {
  it('handles are opaque, unique and find their dialog', () => {
    const table = new DialogTable();
    const handles = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const inv = req({ callId: `call-${i}` });
      const d = table.uacResponse(inv, resp(inv, 200, `t${i}`, '<sip:bob@192.0.2.4>'), ctx())
        .dialog as Dialog;
      expect(d.handle).toMatch(/^D_[A-Za-z0-9_-]{16}$/);
      expect(d.handle).not.toContain(`call-${i}`);
      handles.add(d.handle);
      expect(table.handle(d.handle)).toBe(d);
    }
    expect(handles.size).toBe(200);
    expect(table.byCallId('call-7')).toHaveLength(1);
    expect(() => table.add(table.all()[0] as Dialog)).toThrow();
  });

  it('counts return to zero after full calls both ways and after removal', () => {
    const table = new DialogTable();
    for (let i = 0; i < 50; i++) {
      // as UAC: INVITE 180 200 ACK, BYE 200
      const inv = req({ callId: `uac-${i}` });
      table.uacResponse(inv, resp(inv, 180, 'b', '<sip:bob@192.0.2.4>'), ctx());
      const d = table.uacResponse(inv, resp(inv, 200, 'b', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
      buildInDialogRequest(d, { method: 'ACK' }, 0);
      const bye = buildInDialogRequest(d, { method: 'BYE' }, 0);
      table.uacResponse(bye.req, resp(bye.req, 200, 'b'), ctx());
      // as UAS: the peer calls, we answer, it hangs up
      const inc = req({ callId: `uas-${i}` });
      const u = table.uasResponse(inc, makeResponse(inc, 200, { toTag: 'u' }), ctx()).dialog as Dialog;
      const peerBye = req({
        method: 'BYE',
        callId: `uas-${i}`,
        cseq: 101,
        to: 'Bob <sip:bob@biloxi.com>;tag=u',
      });
      expect(u.requestReceived(peerBye, 0)).toEqual([{ type: 'invite_status', status: 'bye' }]);
      table.uasResponse(peerBye, makeResponse(peerBye, 200), ctx());
    }
    expect(table.counts()).toEqual({ total: 0, early: 0, confirmed: 0 });
    const inv = req({ callId: 'left' });
    const d = table.uacResponse(inv, resp(inv, 180, 'b', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    expect(table.size).toBe(1);
    expect(table.remove(d)).toBe(true);
    expect(table.remove(d)).toBe(false);
    expect(table.size).toBe(0);
    expect(table.handle(d.handle)).toBeUndefined();
  });
});

describe('in-dialog requests (§12.2.1.1)', () => {
  function uacDialog(rr: string[]): Dialog {
    const inv = req();
    const d = Dialog.uac(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4;transport=tcp>', rr), ctx()).dialog;
    buildInDialogRequest(d, { method: 'ACK' }, 0);
    return d;
  }

  it('loose routing: Request-URI is the remote target, Route the route set', () => {
    const d = uacDialog(RR);
    const b = buildInDialogRequest(d, { method: 'BYE', reason: 'SIP;cause=408;text="Dialog Timeout"' }, 5);
    const bye = wire(b.req);
    expect(b.strict).toBe(false);
    expect(formatUri(b.nextHop)).toBe('sip:p1.atlanta.com;lr');
    expect(bye.uri).toBe('sip:bob@192.0.2.4;transport=tcp');
    expect(bye.headerValues('route')).toEqual(['<sip:p1.atlanta.com;lr>', '<sip:p2.biloxi.com;lr>']);
    expect(bye.header('from')).toBe('Alice <sip:alice@atlanta.com>;tag=a1');
    expect(bye.header('to')).toBe('Bob <sip:bob@biloxi.com>;tag=b1');
    expect(bye.callId).toBe('c1@atlanta.com');
    expect(bye.cseq).toEqual({ seq: 101, method: 'BYE' });
    expect(bye.topVia?.params.find(([n]) => n === 'branch')?.[1]).toMatch(/^z9hG4bK/);
    expect(bye.hasHeader('contact')).toBe(false); // no Contact in a BYE
    expect(bye.header('reason')).toBe('SIP;cause=408;text="Dialog Timeout"');
    expect(bye.maxForwards).toBe(70);
    expect(d.updated).toBe(5);
  });

  it('without a route set the request goes straight to the remote target', () => {
    const d = uacDialog([]);
    const b = buildInDialogRequest(d, { method: 'INFO' }, 0);
    expect(b.req.hasHeader('route')).toBe(false);
    expect(formatUri(b.nextHop)).toBe('sip:bob@192.0.2.4;transport=tcp');
    expect(b.req.header('via')).toMatch(/^SIP\/2\.0\/TCP /);
  });

  it('strict routing: the first route becomes the Request-URI, the remote target the last Route', () => {
    const d = uacDialog(['<sip:p2.biloxi.com;lr>', '<sip:p1.atlanta.com;method=INVITE>']);
    const b = buildInDialogRequest(d, { method: 'INFO' }, 0);
    expect(b.strict).toBe(true);
    expect(b.req.uri).toBe('sip:p1.atlanta.com'); // parameters a Request-URI may not carry dropped
    expect(formatUri(b.nextHop)).toBe('sip:p1.atlanta.com;method=INVITE');
    expect(wire(b.req).headerValues('route')).toEqual([
      '<sip:p2.biloxi.com;lr>',
      '<sip:bob@192.0.2.4;transport=tcp>',
    ]);
  });

  it('the UAS side routes through the route set in order and picks a first CSeq', () => {
    const inv = req({ rr: RR, cseq: 7 });
    const d = Dialog.uas(
      inv,
      makeResponse(inv, 200, { toTag: 'b1' }).addHeader('contact', '<sip:bob@192.0.2.4>'),
      ctx(),
    ).dialog;
    // no ACK yet: our re-INVITE would overlap the answered INVITE
    expect(() => buildInDialogRequest(d, { method: 'INVITE' }, 0)).toThrow(/in progress/);
    const b = buildInDialogRequest(d, { method: 'UPDATE' }, 0);
    expect(b.req.uri).toBe('sip:alice@pc33.atlanta.com');
    expect(b.req.headerValues('route')).toEqual(RR);
    expect(b.req.header('from')).toBe('Bob <sip:bob@biloxi.com>;tag=b1');
    expect(b.req.header('to')).toBe('Alice <sip:alice@atlanta.com>;tag=a1');
    expect(b.req.header('contact')).toBe('<sip:bob@192.0.2.4>'); // the local target
    const first = b.req.cseq.seq;
    expect(d.localSeq).toBe(first);
    expect(first).toBeGreaterThan(0);
    expect(buildInDialogRequest(d, { method: 'INFO' }, 0).req.cseq.seq).toBe(first + 1);
  });

  it('CSeq: one above the local sequence, forced values kept as the highest, ACK reuses the INVITE', () => {
    const d = uacDialog([]);
    expect(buildInDialogRequest(d, { method: 'OPTIONS' }, 0).req.cseq.seq).toBe(101);
    expect(buildInDialogRequest(d, { method: 'OPTIONS', cseq: 9999 }, 0).req.cseq.seq).toBe(9999);
    expect(d.localSeq).toBe(9999);
    expect(buildInDialogRequest(d, { method: 'OPTIONS', cseq: 9998 }, 0).req.cseq.seq).toBe(9998);
    expect(d.localSeq).toBe(9999);
    const reinv = buildInDialogRequest(d, { method: 'INVITE' }, 0);
    expect(reinv.req.cseq.seq).toBe(10000);
    expect(() =>
      buildInDialogRequest(
        d,
        { method: 'OPTIONS', headers: [{ op: 'replace', name: 'CSeq', value: '1 OPTIONS' }] },
        0,
      ),
    ).toThrow(/CSeq/);
    table200(reinv.req, d);
    const ack = buildInDialogRequest(d, { method: 'ACK' }, 0);
    expect(ack.req.cseq).toEqual({ seq: 10000, method: 'ACK' });
    expect(d.localSeq).toBe(10000);
  });

  it('header operations and credentials: as out of dialog; the ACK copies the INVITE credentials', () => {
    const inv = req({ extra: ['Proxy-Authorization: Digest username="alice", realm="atlanta.com"'] });
    const d = Dialog.uac(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4>'), ctx()).dialog;
    const ack = buildInDialogRequest(
      d,
      { method: 'ACK', body: Buffer.from('v=0\r\n'), contentType: 'application/sdp' },
      0,
    );
    expect(ack.req.header('proxy-authorization')).toBe('Digest username="alice", realm="atlanta.com"');
    expect(ack.req.header('content-type')).toBe('application/sdp');
    const info = buildInDialogRequest(
      d,
      { method: 'INFO', headers: [{ op: 'add', name: 'X-Test', value: 'yes' }] },
      0,
    );
    expect(info.req.header('x-test')).toBe('yes');
    expect(() =>
      buildInDialogRequest(d, { method: 'INFO', headers: [{ op: 'add', name: 'Via', value: 'x' }] }, 0),
    ).toThrow();
    expect(() => buildInDialogRequest(d, { method: 'CANCEL' }, 0)).toThrow(/cancel/);
  });
});

/** Feeds a 200 to our request `r` in `d` (Contact unchanged). */
function table200(r: SipRequest, d: Dialog): DialogUpdate[] {
  return d.uacResponse(r, resp(r, 200, d.remoteTag, `<${formatUri(d.remoteTarget)}>`), 0);
}

describe('UAS checks of in-dialog requests', () => {
  /** A confirmed dialog where we are the UAS (Bob, tag b1) and Alice sent INVITE with CSeq 10. */
  function setup(): { table: DialogTable; d: Dialog } {
    const table = new DialogTable();
    const inv = req({ cseq: 10, rr: RR });
    const ok = makeResponse(inv, 200, { toTag: 'b1' }).addHeader('contact', '<sip:bob@192.0.2.4>');
    const d = table.uasResponse(inv, ok, ctx()).dialog as Dialog;
    const r = receiveInDialog(table, req({ method: 'ACK', cseq: 10, to: TO_B1 }), { now: 1 });
    expect(r).toMatchObject({ kind: 'ack', result: 'confirmed' });
    return { table, d };
  }
  const TO_B1 = 'Bob <sip:bob@biloxi.com>;tag=b1';
  const opts = { now: 2, retryAfter: () => 4 };

  it('an unknown dialog gets 481; an ACK for none is dropped; no To tag or CANCEL is not ours', () => {
    const { table } = setup();
    const r = receiveInDialog(table, req({ method: 'INFO', to: 'Bob <sip:bob@biloxi.com>;tag=zz' }), opts);
    expect(r).toMatchObject({ kind: 'reply', reply: { status: 481 }, dialog: undefined });
    expect(receiveInDialog(table, req({ method: 'BYE', callId: 'other', to: TO_B1 }), opts)).toMatchObject({
      kind: 'reply',
      reply: { status: 481 },
    });
    expect(receiveInDialog(table, req({ method: 'ACK', to: 'B <sip:b@b>;tag=zz' }), opts).kind).toBe('drop');
    expect(receiveInDialog(table, req({ method: 'OPTIONS' }), opts).kind).toBe('none');
    expect(receiveInDialog(table, req({ method: 'CANCEL', to: TO_B1 }), opts).kind).toBe('none');
    const notify = req({ method: 'NOTIFY', to: 'A <sip:a@a>;tag=sub1', extra: ['Event: refer'] });
    expect(receiveInDialog(table, notify, { ...opts, isExpectedNotify: () => true })).toMatchObject({
      kind: 'process',
      dialog: undefined,
    });
    expect(receiveInDialog(table, notify, opts).kind).toBe('reply');
    expect(table.size).toBe(1);
  });

  it('CSeq: lower than the last → 500 Old CSeq in Dialog; ACK and retransmitted ACK unchecked', () => {
    const { table, d } = setup();
    expect(d.remoteSeq).toBe(10);
    expect(receiveInDialog(table, req({ method: 'OPTIONS', cseq: 9999, to: TO_B1 }), opts).kind).toBe(
      'process',
    );
    expect(d.remoteSeq).toBe(9999);
    const old = receiveInDialog(table, req({ method: 'OPTIONS', cseq: 9998, to: TO_B1 }), opts);
    expect(old).toMatchObject({ kind: 'reply', reply: { status: 500, reason: 'Old CSeq in Dialog' } });
    expect(d.remoteSeq).toBe(9999);
    // RFC 3261 §12.2.2 and NkSIP reject only lower numbers
    expect(receiveInDialog(table, req({ method: 'INFO', cseq: 9999, to: TO_B1 }), opts).kind).toBe('process');
    expect(receiveInDialog(table, req({ method: 'ACK', cseq: 10, to: TO_B1 }), opts)).toMatchObject({
      kind: 'ack',
      result: 'retransmission',
    });
  });

  it('the remote sequence of a UAC dialog is set by the first request of the peer', () => {
    const table = new DialogTable();
    const inv = req();
    const d = table.uacResponse(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    const fromBob = req({
      method: 'OPTIONS',
      cseq: 5,
      from: 'Bob <sip:bob@biloxi.com>;tag=b1',
      to: 'Alice <sip:alice@atlanta.com>;tag=a1',
    });
    expect(receiveInDialog(table, fromBob, opts)).toMatchObject({ kind: 'process', dialog: d });
    expect(d.remoteSeq).toBe(5);
  });

  it('a re-INVITE refreshes the remote target; the confirmed route set stays', () => {
    const { table, d } = setup();
    const reinv = req({
      cseq: 11,
      to: TO_B1,
      contact: '<sip:alice@198.51.100.9>',
      rr: ['<sip:new.proxy;lr>'],
    });
    const r = receiveInDialog(table, reinv, opts);
    expect(r.kind === 'process' && statuses(r.updates)).toEqual(['proceeding_uas']);
    const ok = makeResponse(reinv, 200).addHeader('contact', '<sip:bob@192.0.2.4>');
    expect(statuses(table.uasResponse(reinv, ok, ctx()).updates)).toEqual(['target_update', 'accepted_uas']);
    expect(formatUri(d.remoteTarget)).toBe('sip:alice@198.51.100.9');
    expect(routes(d)).toEqual(RR);
    // an OPTIONS with a Contact is no target refresh
    const o = req({ method: 'OPTIONS', cseq: 12, to: TO_B1, contact: '<sip:alice@203.0.113.1>' });
    receiveInDialog(table, o, opts);
    table.uasResponse(o, makeResponse(o, 200), ctx());
    expect(formatUri(d.remoteTarget)).toBe('sip:alice@198.51.100.9');
    // UPDATE is one (RFC 3311)
    const u = req({ method: 'UPDATE', cseq: 13, to: TO_B1, contact: '<sip:alice@203.0.113.2>' });
    receiveInDialog(table, u, opts);
    expect(statuses(table.uasResponse(u, makeResponse(u, 200), ctx()).updates)).toEqual(['target_update']);
    expect(formatUri(d.remoteTarget)).toBe('sip:alice@203.0.113.2');
  });

  it('as UAC: a re-INVITE 2xx refreshes the target, not the route set; a NOTIFY 2xx freezes it', () => {
    const table = new DialogTable();
    const inv = req();
    const d = table.uacResponse(inv, resp(inv, 200, 'b1', '<sip:bob@192.0.2.4>', RR), ctx()).dialog as Dialog;
    buildInDialogRequest(d, { method: 'ACK' }, 0);
    const re = buildInDialogRequest(d, { method: 'INVITE' }, 0).req;
    table.uacResponse(re, resp(re, 200, 'b1', '<sip:bob@192.0.2.99>', ['<sip:other;lr>']), ctx());
    expect(formatUri(d.remoteTarget)).toBe('sip:bob@192.0.2.99');
    expect(routes(d)).toEqual(['<sip:p1.atlanta.com;lr>', '<sip:p2.biloxi.com;lr>']);
    // a rejected re-INVITE leaves the dialog confirmed
    buildInDialogRequest(d, { method: 'ACK' }, 0);
    const re2 = buildInDialogRequest(d, { method: 'INVITE' }, 0).req;
    expect(statuses(table.uacResponse(re2, resp(re2, 488, 'b1'), ctx()).updates)).toEqual(['confirmed']);
    expect(table.size).toBe(1);

    // SUBSCRIBE dialog: the route set comes from the NOTIFY (RFC 6665), then it is frozen
    const sub = req({ method: 'SUBSCRIBE', callId: 's1', extra: ['Event: presence'] });
    const sd = table.uacResponse(sub, resp(sub, 202, 'n1', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    expect(sd.routeSetFrozen).toBe(false);
    const notify = req({
      method: 'NOTIFY',
      callId: 's1',
      cseq: 1,
      from: 'Bob <sip:bob@biloxi.com>;tag=n1',
      to: 'Alice <sip:alice@atlanta.com>;tag=a1',
      contact: '<sip:bob@192.0.2.50>',
      rr: ['<sip:px;lr>'],
      extra: ['Event: presence', 'Subscription-State: active'],
    });
    expect(receiveInDialog(table, notify, opts)).toMatchObject({ kind: 'process', dialog: sd });
    expect(statuses(table.uasResponse(notify, makeResponse(notify, 200), ctx()).updates)).toEqual([
      'target_update',
    ]);
    expect(routes(sd)).toEqual(['<sip:px;lr>']);
    expect(formatUri(sd.remoteTarget)).toBe('sip:bob@192.0.2.50');
    expect(sd.routeSetFrozen).toBe(true);
  });

  it('a re-INVITE while the previous one is in progress: 500 Processing Previous INVITE, 491 on glare', () => {
    const { table, d } = setup();
    const first = req({ cseq: 11, to: TO_B1 });
    expect(receiveInDialog(table, first, opts).kind).toBe('process');
    const second = receiveInDialog(table, req({ cseq: 12, to: TO_B1 }), opts);
    expect(second).toMatchObject({
      kind: 'reply',
      reply: { status: 500, reason: 'Processing Previous INVITE', headers: [['Retry-After', '4']] },
    });
    table.uasResponse(first, makeResponse(first, 200), ctx());
    expect(receiveInDialog(table, req({ cseq: 13, to: TO_B1 }), opts)).toMatchObject({
      reply: { status: 500 },
    });
    receiveInDialog(table, req({ method: 'ACK', cseq: 11, to: TO_B1 }), opts);
    expect(d.inviteStatus).toBe('confirmed');

    // glare: our re-INVITE is out, theirs arrives → 491; our second one → request_pending
    const ours = buildInDialogRequest(d, { method: 'INVITE' }, 0);
    expect(receiveInDialog(table, req({ cseq: 14, to: TO_B1 }), opts)).toMatchObject({
      reply: { status: 491 },
    });
    expect(() => buildInDialogRequest(d, { method: 'INVITE' }, 0)).toThrow(
      expect.objectContaining({ kind: 'request_pending' }),
    );
    expect(() => buildInDialogRequest(d, { method: 'ACK' }, 0)).toThrow(
      expect.objectContaining({ kind: 'invalid_dialog' }),
    );
    // the peer's 491 ends our attempt: the dialog is confirmed again and takes their INVITE
    expect(statuses(d.uacResponse(ours.req, resp(ours.req, 491, 'a1'), 0))).toEqual(['confirmed']);
    expect(receiveInDialog(table, req({ cseq: 15, to: TO_B1 }), opts).kind).toBe('process');
    // after a BYE, a re-INVITE is for no dialog
    const { table: t2, d: d2 } = setup();
    receiveInDialog(t2, req({ method: 'BYE', cseq: 11, to: TO_B1 }), opts);
    expect(d2.inviteStatus).toBe('bye');
    expect(receiveInDialog(t2, req({ cseq: 12, to: TO_B1 }), opts)).toMatchObject({ reply: { status: 481 } });
    expect(() => buildInDialogRequest(d2, { method: 'INFO' }, 0)).toThrow(
      expect.objectContaining({ kind: 'unknown_dialog' }),
    );
  });

  it('inDialogError is pure', () => {
    const { d } = setup();
    const before = d.remoteSeq;
    expect(inDialogError(d, req({ method: 'INFO', cseq: 1, to: TO_B1 }))).toMatchObject({ status: 500 });
    expect(inDialogError(d, req({ method: 'INFO', cseq: 50, to: TO_B1 }))).toBeUndefined();
    expect(d.remoteSeq).toBe(before);
  });
});

describe('the table by Call-ID', () => {
  it('finds a fork’s dialogs among other calls, and forgets a call once its dialogs left', () => {
    const table = new DialogTable();
    const inv = req({ callId: 'fork@atlanta.com' });
    const other = req({ callId: 'other@atlanta.com' });
    const b1 = table.uacResponse(inv, resp(inv, 180, 'b1', '<sip:bob@192.0.2.4>'), ctx()).dialog as Dialog;
    table.uacResponse(other, resp(other, 180, 'c1', '<sip:carol@192.0.2.6>'), ctx());
    const b2 = table.uacResponse(inv, resp(inv, 183, 'b2', '<sip:bob@192.0.2.5>'), ctx()).dialog as Dialog;
    expect(table.forRequest('fork@atlanta.com', 'a1')).toEqual([b1, b2]);
    expect(table.forRequest('fork@atlanta.com', 'x9')).toEqual([]);
    expect(table.earlySiblings(b1)).toEqual([b2]);
    expect(table.byCallId('other@atlanta.com').map((d) => d.remoteTag)).toEqual(['c1']);
    expect(table.remove(b1)).toBe(true);
    expect(table.byCallId('fork@atlanta.com')).toEqual([b2]);
    expect(table.remove(b2)).toBe(true);
    expect(table.byCallId('fork@atlanta.com')).toEqual([]);
    expect(table.remove(b2)).toBe(false);
    expect(table.size).toBe(1);
  });
});
