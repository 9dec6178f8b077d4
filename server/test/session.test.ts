// Offer/answer tracking (core/session.ts) inside dialogs of both sides: INVITE/2xx, INVITE
// without offer answered in the ACK, reliable 1xx/PRACK, UPDATE, rejected offers, unreliable
// previews, malformed SDP, and the session stop when the INVITE usage ends.
import { describe, expect, it } from 'vitest';
import { inDialogError } from '../src/core/dialog/check.js';
import type { Dialog, DialogUpdate } from '../src/core/dialog/dialog.js';
import { buildInDialogRequest } from '../src/core/dialog/request.js';
import { DialogTable } from '../src/core/dialog/table.js';
import { malformedSdp, type SessionUpdate } from '../src/core/session.js';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { parse } from './support/transaction.js';

const sdp = (v: number, port = 4000) =>
  `v=0\r\no=a 1 ${v} IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;

function invite(body?: string, extra: string[] = []): SipRequest {
  const b = body ?? '';
  const lines = [
    'INVITE sip:bob@biloxi.com SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK1',
    'Max-Forwards: 70',
    'From: <sip:alice@atlanta.com>;tag=a1',
    'To: <sip:bob@biloxi.com>',
    'Call-ID: s1@atlanta.com',
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@10.0.0.1>',
    ...extra,
    ...(b ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${b.length}`,
    '',
    b,
  ];
  return parse(lines.join('\r\n')) as SipRequest;
}

function answer(r: SipRequest, status: number, body?: string, extra: [string, string][] = []): SipResponse {
  const m = makeResponse(r, status, {
    toTag: 'b1',
    headers: [['Contact', '<sip:bob@10.0.0.2>'], ...extra],
    ...(body ? { body: Buffer.from(body), contentType: 'application/sdp' } : {}),
  });
  return parse(serialize(m).toString('latin1')) as SipResponse;
}

const sessions = (u: DialogUpdate[]): SessionUpdate[] =>
  u.flatMap((x) => (x.type === 'session' ? [x.update] : []));
const brief = (u: DialogUpdate[]) =>
  sessions(u).map((s) =>
    s.type === 'stop'
      ? 'stop'
      : `${s.type}:${s.local.toString().match(/o=a 1 (\d+)/)?.[1]}/${s.remote.toString().match(/o=a 1 (\d+)/)?.[1]}`,
  );

const RELIABLE: [string, string][] = [
  ['Require', '100rel'],
  ['RSeq', '1'],
];

describe('offer/answer in dialogs', () => {
  it('UAS: offer in the INVITE, answer in the 2xx; stop when the usage ends', () => {
    const t = new DialogTable();
    const inv = invite(sdp(1));
    const s1 = t.uasResponse(inv, answer(inv, 180, sdp(9)), { now: 1 });
    // an unreliable 1xx with SDP is a preview, not the answer
    expect(brief(s1.updates)).toEqual([]);
    const d = s1.dialog as Dialog;
    expect(d.session.offerPending('remote')).toBe(true);
    const s2 = t.uasResponse(inv, answer(inv, 200, sdp(2)), { now: 2 });
    expect(brief(s2.updates)).toEqual(['start:2/1']);
    expect(d.session.local?.toString()).toBe(sdp(2));
    expect(d.session.remote?.toString()).toBe(sdp(1));
    expect(d.session.offerPending()).toBe(false);
    expect(brief(d.stop('forced'))).toEqual(['stop']);
  });

  it('UAC: INVITE without offer, offer in the 2xx, answer in the ACK', () => {
    const t = new DialogTable();
    const inv = invite();
    const s1 = t.uacResponse(inv, answer(inv, 200, sdp(5)), { now: 1 });
    const d = s1.dialog as Dialog;
    expect(brief(s1.updates)).toEqual([]);
    expect(d.session.offerPending('remote')).toBe(true);
    const ack = buildInDialogRequest(
      d,
      { method: 'ACK', body: Buffer.from(sdp(6)), contentType: 'application/sdp' },
      3,
    );
    expect(brief(ack.updates)).toEqual(['start:6/5']);
  });

  it('reliable 1xx answers, PRACK offers, its 2xx answers; a re-INVITE updates', () => {
    const t = new DialogTable();
    const inv = invite(sdp(1), ['Supported: 100rel']);
    const s1 = t.uasResponse(inv, answer(inv, 183, sdp(2), RELIABLE), { now: 1 });
    const d = s1.dialog as Dialog;
    expect(brief(s1.updates)).toEqual(['start:2/1']);
    // the 2xx repeating the answer is no new exchange
    // a PRACK with a new offer from the peer, answered in its 2xx
    const prack = parse(
      serialize(invite(sdp(3)))
        .toString('latin1')
        .replace('INVITE sip:', 'PRACK sip:')
        .replace('CSeq: 1 INVITE', 'CSeq: 2 PRACK')
        .replace('To: <sip:bob@biloxi.com>', 'To: <sip:bob@biloxi.com>;tag=b1'),
    ) as SipRequest;
    expect(brief(d.requestReceived(prack, 2))).toEqual([]);
    expect(d.session.offerPending('remote')).toBe(true);
    expect(brief(t.uasResponse(prack, answer(prack, 200, sdp(4)), { now: 3 }).updates)).toEqual([
      'update:4/3',
    ]);
    expect(brief(t.uasResponse(inv, answer(inv, 200, sdp(2)), { now: 4 }).updates)).toEqual([]);
  });

  it('a rejected UPDATE withdraws its offer; the next one completes', () => {
    const t = new DialogTable();
    const inv = invite(sdp(1));
    const d = t.uacResponse(inv, answer(inv, 200, sdp(2)), { now: 1 }).dialog as Dialog;
    buildInDialogRequest(d, { method: 'ACK' }, 2);
    const upd = () =>
      buildInDialogRequest(
        d,
        { method: 'UPDATE', body: Buffer.from(sdp(7)), contentType: 'application/sdp' },
        3,
      ).req;
    const u1 = upd();
    expect(d.session.offerPending('local')).toBe(true);
    expect(brief(t.uacResponse(u1, answer(u1, 488), { now: 4 }).updates)).toEqual([]);
    expect(d.session.offerPending()).toBe(false);
    const u2 = upd();
    expect(brief(t.uacResponse(u2, answer(u2, 200, sdp(8)), { now: 5 }).updates)).toEqual(['update:7/8']);
  });

  it('an INVITE without offer: offer in the reliable 1xx, answer in the PRACK', () => {
    const t = new DialogTable();
    const inv = invite(undefined, ['Require: 100rel']);
    const d = t.uacResponse(inv, answer(inv, 180, sdp(3), RELIABLE), { now: 1 }).dialog as Dialog;
    expect(d.session.offerPending('remote')).toBe(true);
    const prack = buildInDialogRequest(
      d,
      {
        method: 'PRACK',
        body: Buffer.from(sdp(4)),
        contentType: 'application/sdp',
        headers: [{ op: 'add', name: 'RAck', value: '1 1 INVITE' }],
      },
      2,
    );
    expect(brief(prack.updates)).toEqual(['start:4/3']);
    // the 2xx repeats the 1xx's offer: no new exchange
    expect(brief(t.uacResponse(inv, answer(inv, 200, sdp(3)), { now: 3 }).updates)).toEqual([]);
  });

  it('UAS: an UPDATE offer while an offer is pending gets 491 (ours) or 500 with Retry-After (theirs)', () => {
    const t = new DialogTable();
    const inv = invite(sdp(1));
    const d = t.uasResponse(inv, answer(inv, 200, sdp(2)), { now: 1 }).dialog as Dialog;
    const update = (body: string | undefined, cseq: number) =>
      parse(
        serialize(invite(body))
          .toString('latin1')
          .replace('INVITE sip:', 'UPDATE sip:')
          .replace('CSeq: 1 INVITE', `CSeq: ${cseq} UPDATE`)
          .replace('To: <sip:bob@biloxi.com>', 'To: <sip:bob@biloxi.com>;tag=b1'),
      ) as SipRequest;
    expect(inDialogError(d, update(sdp(3), 2))).toBeUndefined();
    // the peer's UPDATE offer is taken and not yet answered
    d.requestReceived(update(sdp(3), 2), 2);
    expect(inDialogError(d, update(sdp(4), 3), () => 7)).toMatchObject({
      status: 500,
      headers: [['Retry-After', '7']],
    });
    // an UPDATE without SDP (a target refresh) is fine
    expect(inDialogError(d, update(undefined, 3))).toBeUndefined();
    d.session.offer = { by: 'local', sdp: Buffer.from(sdp(5)), method: 'UPDATE', cseq: 9 };
    expect(inDialogError(d, update(sdp(4), 3))).toMatchObject({ status: 491 });
  });

  it('malformed SDP is found in INVITE, UPDATE and PRACK only', () => {
    expect(malformedSdp(invite('v=0\r\nnonsense\r\n'))).toBe('Malformed SDP');
    expect(malformedSdp(invite(sdp(1)))).toBeUndefined();
    expect(malformedSdp(invite())).toBeUndefined();
  });
});
