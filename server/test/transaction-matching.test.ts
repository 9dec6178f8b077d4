import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeResponse } from '../src/sip/build.js';
import { harness, incoming, parse, request, source } from './support/transaction.js';

describe('server matching, RFC 3261 branches (§17.2.3)', () => {
  it('needs branch, sent-by and method to match', () => {
    const { layer, requests } = harness();
    layer.receive(incoming(request({ branch: 'z9hG4bKaaa' })));
    layer.receive(incoming(request({ branch: 'z9hG4bKaaa' }))); // retransmission
    layer.receive(incoming(request({ branch: 'z9hG4bKaaa', sentBy: 'other.example.com' })));
    layer.receive(incoming(request({ branch: 'z9hG4bKaaa', sentBy: 'PC33.Atlanta.COM:5060' }))); // host case
    layer.receive(incoming(request({ branch: 'z9hG4bKaaa', sentBy: 'pc33.atlanta.com:5070' })));
    layer.receive(incoming(request({ branch: 'z9hG4bKaaa', method: 'OPTIONS' })));
    expect(requests.map((r) => `${r.req.method} ${r.req.topVia?.host}:${r.req.topVia?.port}`)).toEqual([
      'INVITE pc33.atlanta.com:5060',
      'INVITE other.example.com:undefined',
      'INVITE pc33.atlanta.com:5070',
      'OPTIONS pc33.atlanta.com:5060',
    ]);
    expect(layer.stats().server).toBe(4);
    expect(layer.pending()).toBe(4);
    layer.close();
    expect(layer.stats().server).toBe(0);
    expect(layer.pending()).toBe(0);
  });

  it('passes an ACK matching no transaction to onAck', () => {
    const { layer, acks, requests } = harness();
    layer.receive(incoming(request({ method: 'ACK', toTag: 'x' })));
    expect(acks).toHaveLength(1);
    expect(acks[0]!.txn).toBeUndefined();
    expect(requests).toHaveLength(0);
    expect(layer.stats().server).toBe(0);
  });
});

describe('CANCEL', () => {
  it('is its own non-INVITE transaction and finds its INVITE by branch (§9.2)', () => {
    const { clock, transport, layer, requests, acks } = harness();
    const inv = request({ branch: 'z9hG4bKcan' });
    layer.receive(incoming(inv));
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bKcan' });
    layer.receive(incoming(cancel));
    expect(requests.map((r) => r.req.method)).toEqual(['INVITE', 'CANCEL']);
    const inviteTxn = requests[0]!.txn;
    const cancelTxn = requests[1]!.txn;
    expect(cancelTxn).not.toBe(inviteTxn);
    expect(layer.findInviteForCancel(cancel)).toBe(inviteTxn);
    expect(layer.findInviteForCancel(request({ method: 'CANCEL', branch: 'z9hG4bKnope' }))).toBeUndefined();
    expect(
      layer.findInviteForCancel(
        request({ method: 'CANCEL', branch: 'z9hG4bKcan', sentBy: 'evil.example.com' }),
      ),
    ).toBeUndefined();

    // what the core does with it: 200 to the CANCEL, 487 to the INVITE
    cancelTxn.respond(makeResponse(cancel, 200, { toTag: 'c' }));
    inviteTxn.respond(makeResponse(inv, 487, { toTag: 'c' }));
    expect(transport.responses(487)).toHaveLength(1);
    layer.receive(incoming(request({ method: 'ACK', branch: 'z9hG4bKcan', toTag: 'c' })));
    expect(inviteTxn.state).toBe('confirmed');
    expect(acks).toHaveLength(0);
    // CANCEL retransmission gets the 200 again, not a new transaction
    layer.receive(incoming(request({ method: 'CANCEL', branch: 'z9hG4bKcan' })));
    expect(transport.responses(200)).toHaveLength(2);
    expect(requests).toHaveLength(2);
    clock.advance(32_000);
    expect(layer.stats()).toEqual({ client: 0, server: 0 });
    expect(clock.pending).toBe(0);
  });

  it('finds its INVITE by the RFC 2543 rules without a cookie branch', () => {
    const { layer, requests } = harness();
    const inv = request({ branch: null });
    layer.receive(incoming(inv));
    const txn = requests[0]!.txn;
    expect(layer.findInviteForCancel(request({ method: 'CANCEL', branch: null }))).toBe(txn);
    expect(
      layer.findInviteForCancel(request({ method: 'CANCEL', branch: null, fromTag: 'other' })),
    ).toBeUndefined();
    expect(layer.findInviteForCancel(request({ method: 'CANCEL', branch: null, cseq: 1 }))).toBeUndefined();
    expect(
      layer.findInviteForCancel(request({ method: 'CANCEL', branch: null, uri: 'sip:carol@chicago.com' })),
    ).toBe(undefined);
    expect(
      layer.findInviteForCancel(request({ method: 'CANCEL', branch: null, toTag: 'x' })),
    ).toBeUndefined();
    expect(
      layer.findInviteForCancel(request({ method: 'CANCEL', branch: null, sentBy: 'proxy.example.com' })),
    ).toBeUndefined();
    expect(
      layer.findInviteForCancel(request({ method: 'CANCEL', branch: null, callId: 'zzz' })),
    ).toBeUndefined();
    layer.close();
  });

  it('targets nothing once the INVITE transaction is gone', () => {
    const { clock, layer, requests } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    requests[0]!.txn.respond(makeResponse(inv, 200));
    clock.advance(32_000);
    expect(layer.findInviteForCancel(request({ method: 'CANCEL' }))).toBeUndefined();
  });
});

describe('RFC 2543 matching (no magic cookie)', () => {
  it('matches retransmissions on R-URI, tags, Call-ID, CSeq and top Via', () => {
    const { transport, layer, requests } = harness();
    layer.receive(incoming(request({ branch: null })));
    layer.receive(incoming(request({ branch: null })));
    expect(requests).toHaveLength(1);
    expect(transport.responses(100)).toHaveLength(2);
    layer.receive(incoming(request({ branch: null, cseq: 2 })));
    layer.receive(incoming(request({ branch: null, callId: 'other' })));
    layer.receive(incoming(request({ branch: null, uri: 'sip:bob@192.0.2.4' })));
    layer.receive(incoming(request({ branch: '1', sentBy: 'h2.example.com' })));
    expect(requests).toHaveLength(5);
    layer.close();
  });

  it('treats a bare z9hG4bK branch as no branch (RFC 4475 badbranch)', () => {
    const { layer, requests } = harness();
    layer.receive(incoming(request({ method: 'OPTIONS', branch: 'z9hG4bK', callId: 'one' })));
    layer.receive(incoming(request({ method: 'OPTIONS', branch: 'z9hG4bK', callId: 'two' })));
    layer.receive(incoming(request({ method: 'OPTIONS', branch: 'z9hG4bK', callId: 'two' })));
    expect(requests.map((r) => r.req.callId)).toEqual(['one', 'two']);
    layer.close();
  });

  it('handles the torture-corpus badbranch message as a new, separate transaction', () => {
    const text = readFileSync(
      new URL('../../test/fixtures/sip-torture/badbranch.dat', import.meta.url),
      'latin1',
    );
    const { layer, requests } = harness();
    layer.receive(incoming(parse(text)));
    layer.receive(incoming(parse(text))); // its retransmission
    layer.receive(incoming(parse(text.replace('CSeq: 8', 'CSeq: 9')))); // same Via, next request
    expect(requests.map((r) => r.req.cseq.seq)).toEqual([8, 9]);
    layer.close();
  });

  it('passes the ACK for a 2xx with its Accepted transaction by the 2xx’s tag, the 2xx itself not kept', () => {
    const { layer, requests, acks } = harness();
    const inv = request({ branch: null });
    layer.receive(incoming(inv));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(inv, 200, { toTag: 'uas' }));
    expect(txn.state).toBe('accepted');
    expect(txn.lastResponse).toBeUndefined(); // a proxy's would hold the callee's whole 200
    layer.receive(incoming(request({ method: 'ACK', branch: null, toTag: 'wrong' })));
    layer.receive(incoming(request({ method: 'ACK', branch: null, toTag: 'uas' })));
    expect(acks.map((a) => a.txn)).toEqual([undefined, txn]);
    layer.close();
  });

  it('absorbs the ACK for a non-2xx only with the To tag of the response', () => {
    const { clock, layer, requests, acks } = harness();
    const inv = request({ branch: null });
    layer.receive(incoming(inv));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(inv, 404, { toTag: 'uas' }));
    layer.receive(incoming(request({ method: 'ACK', branch: null, toTag: 'wrong' })));
    expect(acks).toHaveLength(1);
    expect(txn.state).toBe('completed');
    layer.receive(incoming(request({ method: 'ACK', branch: null, toTag: 'uas' })));
    expect(txn.state).toBe('confirmed');
    expect(acks).toHaveLength(1);
    clock.advance(5000);
    expect(layer.stats().server).toBe(0);
  });

  it('matches the ACK of a re-INVITE (To tag in the request) and passes 2xx ACKs in Accepted', () => {
    const { clock, layer, requests, acks } = harness();
    const reinv = request({ branch: null, toTag: 'dlg', cseq: 2 });
    layer.receive(incoming(reinv));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(reinv, 200));
    layer.receive(incoming(request({ method: 'ACK', branch: null, toTag: 'dlg', cseq: 2 })));
    expect(acks).toHaveLength(1);
    expect(acks[0]!.txn).toBe(txn);
    expect(txn.state).toBe('accepted');
    clock.advance(32_000);
    expect(layer.stats().server).toBe(0);
  });
});

describe('merged requests (§8.2.2.2)', () => {
  const copy = (branch: string, extra: Partial<Parameters<typeof request>[0]> = {}) =>
    request({ branch, sentBy: `${branch}.example.com`, ...extra });

  it('reports a copy arriving on another branch (default) so a UAS core can answer 482', () => {
    const { transport, layer, requests } = harness();
    layer.receive(incoming(copy('z9hG4bKfirst')));
    layer.receive(incoming(copy('z9hG4bKsecond')));
    expect(requests).toHaveLength(2);
    expect(requests[0]!.txn.mergedWith).toBeUndefined();
    expect(requests[1]!.txn.mergedWith).toBe(requests[0]!.txn);
    expect(transport.responses(482)).toHaveLength(0);
    layer.close();
  });

  it('reject mode answers 482 through a transaction of its own; the TU never sees it', () => {
    const { clock, transport, layer, requests, acks } = harness({ mergedRequests: 'reject' });
    layer.receive(incoming(copy('z9hG4bKfirst')));
    const second = copy('z9hG4bKsecond');
    layer.receive(incoming(second));
    expect(requests).toHaveLength(1);
    const loop = transport.responses(482);
    expect(loop).toHaveLength(1);
    expect(loop[0]!.reason).toBe('Loop Detected');
    expect(transport.responses(100)).toHaveLength(1); // only the first got a 100
    layer.receive(incoming(copy('z9hG4bKsecond'))); // its retransmission: 482 again, statefully
    expect(transport.responses(482)).toHaveLength(2);
    layer.receive(incoming(copy('z9hG4bKsecond', { method: 'ACK', toTag: loop[0]!.toTag })));
    expect(acks).toHaveLength(0);
    expect(layer.stats().server).toBe(2);
    requests[0]!.txn.respond(makeResponse(requests[0]!.req, 486));
    clock.advance(32_000);
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('is not a merge: different CSeq, a To tag, a CANCEL, or after the first ended', () => {
    const { clock, layer, requests } = harness({ mergedRequests: 'reject' });
    layer.receive(incoming(copy('z9hG4bKa')));
    layer.receive(incoming(copy('z9hG4bKb', { cseq: 314160 })));
    layer.receive(incoming(copy('z9hG4bKc', { toTag: 'dlg' })));
    layer.receive(incoming(copy('z9hG4bKd', { method: 'CANCEL' })));
    layer.receive(incoming(copy('z9hG4bKe', { method: 'CANCEL' })));
    expect(requests.map((r) => r.txn.mergedWith)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    const first = requests[0]!;
    first.txn.respond(makeResponse(first.req, 200));
    for (const r of requests.slice(1)) r.txn.respond(makeResponse(r.req, 481));
    clock.advance(32_000);
    expect(layer.stats().server).toBe(0);
    layer.receive(incoming(copy('z9hG4bKf')));
    expect(requests).toHaveLength(6);
    expect(requests[5]!.txn.mergedWith).toBeUndefined();
    layer.close();
  });
});

describe('robustness', () => {
  it('a throwing TU callback neither breaks the layer nor escapes receive()', () => {
    const { transport, layer } = harness();
    layer.setUser({
      onRequest: () => {
        throw new Error('app bug');
      },
    });
    expect(() => layer.receive(incoming(request()))).not.toThrow();
    layer.receive(incoming(request()));
    expect(transport.responses(100)).toHaveLength(2); // the transaction exists and answers copies
    layer.close();
  });

  it('matches a request whose Via carries received and rport the transport added', () => {
    const { layer, requests } = harness();
    const first = request({ branch: 'z9hG4bKrp' });
    layer.receive(incoming(first, source()));
    const again = request({ branch: 'z9hG4bKrp' });
    again.setHeader('via', `${again.header('via')};received=192.0.2.10;rport=5060`);
    layer.receive(incoming(again, source()));
    expect(requests).toHaveLength(1);
    layer.close();
  });
});
