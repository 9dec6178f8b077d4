import { describe, expect, it } from 'vitest';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import type { ServerInviteTransaction } from '../src/transaction/server-invite.js';
import type { ServerTxn } from '../src/transaction/types.js';
import { heldBy } from './support/heap.js';
import { flush, harness, incoming, parse, request, schedule, source } from './support/transaction.js';

const T1 = 500;

/** The ACK a UAC sends for a non-2xx final: same branch as the INVITE, the response's To tag. */
function ackFor(inv: SipRequest, toTag: string, branch?: string | null): SipRequest {
  return request({
    method: 'ACK',
    branch: branch === undefined ? (inv.topVia?.params.find((p) => p[0] === 'branch')?.[1] ?? null) : branch,
    viaTransport: inv.topVia?.transport,
    toTag,
    cseq: inv.cseq.seq,
  });
}

describe('server INVITE transaction', () => {
  it('sends 100 Trying at once, then passes the INVITE up once', () => {
    const { transport, layer, requests } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    expect(requests).toHaveLength(1);
    expect(requests[0]!.req).toBe(inv);
    expect(requests[0]!.txn.state).toBe('proceeding');
    const trying = transport.responses(100);
    expect(trying).toHaveLength(1);
    expect(trying[0]!.toTag).toBeUndefined();
    expect(transport.sent[0]).toMatchObject({ kind: 'response', to: source() });
    expect(layer.stats()).toEqual({ client: 0, server: 1 });
  });

  it('no100 suppresses the automatic 100', () => {
    const { transport, layer, requests } = harness({ no100: true });
    layer.receive(incoming(request()));
    expect(requests).toHaveLength(1);
    expect(transport.sent).toHaveLength(0);
  });

  it('answers retransmissions in Proceeding with the latest provisional', () => {
    const { transport, layer, requests } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    layer.receive(incoming(request()));
    expect(transport.responses(100)).toHaveLength(2);
    const { txn } = requests[0]!;
    expect(txn.respond(makeResponse(inv, 180, { toTag: 't' }))).toBe(true);
    layer.receive(incoming(request()));
    expect(transport.responses(180)).toHaveLength(2);
    expect(requests).toHaveLength(1);
  });

  it('non-2xx, unreliable: Timer G doubles up to T2, Timer H (64*T1) ends it and tells the TU', () => {
    const { clock, transport, layer, requests, failures } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(inv, 486, { toTag: 'busy' }));
    expect(txn.state).toBe('completed');
    const times = schedule(clock, () => transport.responses(486).length, 64 * T1 - 1);
    expect(times).toEqual([500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(failures).toHaveLength(0);
    clock.advance(1);
    expect(failures.map((f) => f.reason)).toEqual(['timer-h']);
    expect(failures[0]!.txn).toBe(txn);
    expect(txn.state).toBe('terminated');
    expect(layer.stats()).toEqual({ client: 0, server: 0 });
    expect(clock.pending).toBe(0);
  });

  it('resends the final for a retransmitted INVITE and discards later TU responses', () => {
    const { transport, layer, requests } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(inv, 404, { toTag: 'nf' }));
    layer.receive(incoming(request()));
    expect(transport.responses(404)).toHaveLength(2);
    expect(txn.respond(makeResponse(inv, 180))).toBe(false);
    expect(txn.respond(makeResponse(inv, 200))).toBe(false);
    expect(transport.responses(200)).toHaveLength(0);
  });

  it('absorbs the ACK (Confirmed), stops Timer G and ends on Timer I (T4)', () => {
    const { clock, transport, layer, requests, acks, failures } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(inv, 603, { toTag: 'dec' }));
    clock.advance(1000); // G fired once
    layer.receive(incoming(ackFor(inv, 'dec')));
    expect(txn.state).toBe('confirmed');
    expect(acks).toHaveLength(0);
    const sent = transport.responses(603).length;
    expect(sent).toBe(2);
    layer.receive(incoming(ackFor(inv, 'dec'))); // retransmitted ACK absorbed too
    layer.receive(incoming(request())); // and a late INVITE copy
    expect(acks).toHaveLength(0);
    expect(requests).toHaveLength(1);
    clock.advance(4999);
    expect(txn.state).toBe('confirmed');
    expect(transport.responses(603)).toHaveLength(sent);
    clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(failures).toHaveLength(0);
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('reliable: no Timer G, Timer H still 64*T1, Timer I zero', () => {
    const { clock, transport, layer, requests, failures } = harness();
    const inv = request({ viaTransport: 'TCP' });
    layer.receive(incoming(inv, source('tcp', 7)));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(inv, 480, { toTag: 'u' }));
    clock.advance(64 * T1 - 1);
    expect(transport.responses(480)).toHaveLength(1);
    expect(failures).toHaveLength(0);
    clock.advance(1);
    expect(failures.map((f) => f.reason)).toEqual(['timer-h']);

    const inv2 = request({ viaTransport: 'TCP', branch: 'z9hG4bKsecond', callId: 'c2' });
    layer.receive(incoming(inv2, source('tcp', 7)));
    const txn2 = requests[1]!.txn;
    txn2.respond(makeResponse(inv2, 480, { toTag: 'u2' }));
    layer.receive(incoming(ackFor(inv2, 'u2'), source('tcp', 7)));
    expect(txn2.state).toBe('terminated');
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('2xx: Accepted absorbs INVITE copies, sends the TU 2xx retransmissions, ends on Timer L', () => {
    const { clock, transport, layer, requests, acks } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    const { txn } = requests[0]!;
    const ok = makeResponse(inv, 200, { toTag: 'ok' });
    txn.respond(ok);
    expect(txn.state).toBe('accepted');
    layer.receive(incoming(request()));
    expect(transport.responses(200)).toHaveLength(1); // the UAS core retransmits, not us
    clock.advance(2 * T1);
    expect(transport.responses(200)).toHaveLength(1);
    expect(txn.respond(ok)).toBe(true); // core's Timer G-like retransmission
    expect(txn.respond(makeResponse(inv, 486))).toBe(false);
    expect(transport.responses(200)).toHaveLength(2);
    // the 2xx ACK is a new transaction (new branch): straight to the TU
    layer.receive(incoming(ackFor(inv, 'ok', 'z9hG4bKack2xx')));
    expect(acks).toHaveLength(1);
    expect(acks[0]!.txn).toBeUndefined();
    // a UA reusing the INVITE branch for it matches the Accepted transaction: passed too
    layer.receive(incoming(ackFor(inv, 'ok')));
    expect(acks).toHaveLength(2);
    expect(acks[1]!.txn).toBe(txn);
    expect(txn.state).toBe('accepted');
    clock.advance(64 * T1 - 2 * T1 - 1);
    expect(txn.state).toBe('accepted');
    clock.advance(1); // Timer L
    expect(txn.state).toBe('terminated');
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
    // after L a copy is a new request again
    layer.receive(incoming(request()));
    expect(requests).toHaveLength(2);
    layer.close();
  });

  it('Accepted keeps the INVITE compacted and nothing of the 2xx (a proxy relays a big one) for Timer L', () => {
    const { transport, layer, requests } = harness();
    const PAD = 256 * 1024;
    const { held, kept } = heldBy(() => {
      const txns: { txn: ServerTxn; inv: SipRequest }[] = [];
      for (let i = 0; i < 16; i++) {
        layer.receive(incoming(request({ branch: `z9hG4bKpad${i}`, callId: `pad-${i}@host` })));
        const { txn, req: inv } = requests[i]!;
        // the 2xx as it came from downstream: parsed, its To tag a slice of its text
        const ok = makeResponse(inv, 200, {
          toTag: `callee-tag-${i}-0123456789abcdef`,
          headers: [['X-Pad', 'p'.repeat(PAD)]],
        });
        txn.respond(parse(serialize(ok).toString('latin1')) as SipResponse);
        expect(txn.state).toBe('accepted');
        txns.push({ txn, inv });
      }
      transport.sent.length = 0;
      return txns;
    });
    // sixteen 2xx of 256 KiB went through; a To tag kept as sliced would keep each whole (4 MiB).
    // The bound leaves room for what a full collection leaves of the test's own allocations.
    expect(held).toBeLessThan(4 * PAD);
    for (const { txn, inv } of kept) {
      expect(txn.request).not.toBe(inv);
      expect(txn.request.callId).toBe(inv.callId);
      expect(txn.request.headers.some((h) => h.raw !== undefined)).toBe(false);
    }
    // what it still does with that: absorb copies, pass the ACK, match a CANCEL
    layer.receive(incoming(request({ branch: 'z9hG4bKpad3', callId: 'pad-3@host' })));
    expect(requests).toHaveLength(16);
    expect(transport.sent).toHaveLength(0);
    expect(
      layer.findInviteForCancel(request({ method: 'CANCEL', branch: 'z9hG4bKpad3', callId: 'pad-3@host' })),
    ).toBe(kept[3]?.txn);
    expect((kept[3]!.txn as ServerInviteTransaction).sentTag).toBe('callee-tag-3-0123456789abcdef');
  });

  it('Timer L is 64*T1 on reliable transports too', () => {
    const { clock, layer, requests } = harness();
    const inv = request({ viaTransport: 'TCP' });
    layer.receive(incoming(inv, source('tcp', 1)));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(inv, 200));
    clock.advance(64 * T1 - 1);
    expect(txn.state).toBe('accepted');
    clock.advance(1);
    expect(txn.state).toBe('terminated');
  });

  it('a transport error terminates it and informs the TU (but not in Accepted)', async () => {
    const { transport, layer, requests, failures } = harness();
    const inv = request();
    layer.receive(incoming(inv));
    const a = requests[0]!.txn;
    transport.fail = new Error('conn reset');
    a.respond(makeResponse(inv, 500));
    await flush();
    expect(a.state).toBe('terminated');
    expect(failures.map((f) => [f.reason, f.err?.message])).toEqual([['transport', 'conn reset']]);

    transport.fail = undefined;
    const inv2 = request({ branch: 'z9hG4bKacc', callId: 'acc' });
    layer.receive(incoming(inv2));
    const b = requests[1]!.txn;
    transport.fail = new Error('conn reset');
    b.respond(makeResponse(inv2, 200));
    await flush();
    expect(b.state).toBe('accepted');
    expect(failures).toHaveLength(2);
    layer.close();
    expect(layer.stats().server).toBe(0);
  });

  it('arms the lifetime only for a request the TU leaves unanswered (or throws on), from its arrival', () => {
    const { clock, transport, layer } = harness({ transTimeout: 60_000 });
    layer.setUser({
      onRequest: (req, txn) => {
        if (req.method === 'OPTIONS') txn.respond(makeResponse(req, 200));
        else throw new Error('the TU broke');
      },
    });
    layer.receive(incoming(request({ method: 'OPTIONS', viaTransport: 'TCP' }), source('tcp', 1)));
    expect(transport.responses(200)).toHaveLength(1);
    expect(clock.pending).toBe(0);
    layer.receive(incoming(request({ method: 'MESSAGE', branch: 'z9hG4bKmsg' })));
    expect(clock.pending).toBe(1);
    clock.advance(59_999);
    expect(transport.responses(408)).toHaveLength(0);
    clock.advance(1);
    expect(transport.responses(408)).toHaveLength(1);
    expect(layer.stats().server).toBe(0);
  });

  it('answers 408 Transaction Timeout when the TU never answers within the lifetime', () => {
    const { clock, transport, layer, failures } = harness({ transTimeout: 60_000 });
    layer.receive(incoming(request()));
    clock.advance(59_999);
    expect(transport.responses(408)).toHaveLength(0);
    clock.advance(1);
    const r = transport.responses(408);
    expect(r).toHaveLength(1);
    expect(r[0]!.reason).toBe('Transaction Timeout');
    expect(failures.map((f) => f.reason)).toEqual(['lifetime']);
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });
});

describe('server non-INVITE transaction', () => {
  it('Trying absorbs copies; Proceeding and Completed resend the last response; Timer J (64*T1)', () => {
    const { clock, transport, layer, requests } = harness();
    const opt = request({ method: 'OPTIONS' });
    layer.receive(incoming(opt));
    const { txn } = requests[0]!;
    expect(txn.state).toBe('trying');
    layer.receive(incoming(request({ method: 'OPTIONS' })));
    expect(transport.sent).toHaveLength(0); // no automatic 100 and nothing to resend
    txn.respond(makeResponse(opt, 100));
    expect(txn.state).toBe('proceeding');
    layer.receive(incoming(request({ method: 'OPTIONS' })));
    expect(transport.responses(100)).toHaveLength(2);
    txn.respond(makeResponse(opt, 200, { toTag: 'o' }));
    expect(txn.state).toBe('completed');
    layer.receive(incoming(request({ method: 'OPTIONS' })));
    expect(transport.responses(200)).toHaveLength(2);
    expect(txn.respond(makeResponse(opt, 500))).toBe(false);
    expect(transport.responses(500)).toHaveLength(0);
    expect(requests).toHaveLength(1);
    clock.advance(64 * T1 - 1);
    expect(txn.state).toBe('completed');
    expect(transport.responses(200)).toHaveLength(2); // never retransmitted on its own
    clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('reliable: Timer J is zero', () => {
    const { clock, transport, layer, requests } = harness();
    const reg = request({ method: 'REGISTER', viaTransport: 'TCP' });
    layer.receive(incoming(reg, source('tcp', 3)));
    const { txn } = requests[0]!;
    txn.respond(makeResponse(reg, 200));
    expect(transport.responses(200)).toHaveLength(1);
    expect(txn.state).toBe('terminated');
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('answers a copy arriving on a new connection on that connection', () => {
    const { transport, layer, requests } = harness();
    const opt = request({ method: 'OPTIONS' });
    layer.receive(incoming(opt, source('udp')));
    requests[0]!.txn.respond(makeResponse(opt, 200));
    layer.receive(incoming(request({ method: 'OPTIONS' }), source('udp', 9)));
    expect(transport.sent.at(-1)?.to).toMatchObject({ connectionId: 9 });
  });
});

describe('completed non-INVITE transactions over UDP (compact records)', () => {
  const options = (i: number) => request({ method: 'OPTIONS', branch: `z9hG4bKrec${i}`, callId: `rec${i}` });

  it('each lives its own 64*T1 with one timer for all, answering its copies until then', () => {
    const { clock, transport, layer, requests } = harness();
    for (let i = 0; i < 3; i++) {
      layer.receive(incoming(options(i)));
      requests[i]!.txn.respond(makeResponse(requests[i]!.req, 200, { toTag: `t${i}` }));
      clock.advance(T1);
    }
    expect(layer.stats().server).toBe(3);
    expect(clock.pending).toBe(1);
    // the first ended 64*T1 after its answer, the others not yet
    clock.advance(64 * T1 - 3 * T1 - 1);
    expect(requests.map((r) => r.txn.state)).toEqual(['completed', 'completed', 'completed']);
    clock.advance(1);
    expect(requests.map((r) => r.txn.state)).toEqual(['terminated', 'completed', 'completed']);
    layer.receive(incoming(options(0))); // a new request now: Timer J is over
    layer.receive(incoming(options(1))); // a copy: the same response again
    expect(requests).toHaveLength(4);
    const twice = transport.responses(200).filter((r) => r.toTag === 't1');
    expect(twice).toHaveLength(2);
    expect(twice[1]).toBe(twice[0]);
    requests[3]!.txn.respond(makeResponse(requests[3]!.req, 200));
    clock.advance(2 * T1);
    expect(requests.map((r) => r.txn.state)).toEqual(['terminated', 'terminated', 'terminated', 'completed']);
    clock.advance(64 * T1);
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('a merged copy of a request answered already is still reported, until Timer J', () => {
    const { clock, layer, requests } = harness();
    const copy = (branch: string) => request({ method: 'MESSAGE', branch, sentBy: `${branch}.example.com` });
    layer.receive(incoming(copy('z9hG4bKm1')));
    requests[0]!.txn.respond(makeResponse(requests[0]!.req, 200));
    layer.receive(incoming(copy('z9hG4bKm2')));
    expect(requests[1]!.txn.mergedWith?.state).toBe('completed');
    requests[1]!.txn.respond(makeResponse(requests[1]!.req, 482));
    clock.advance(64 * T1);
    layer.receive(incoming(copy('z9hG4bKm3')));
    expect(requests[2]!.txn.mergedWith).toBeUndefined();
    layer.close();
    expect(clock.pending).toBe(0);
  });

  it('a transport failure or close() ends the records and leaves no timer', async () => {
    const { clock, transport, layer, requests, failures } = harness();
    layer.receive(incoming(options(1)));
    layer.receive(incoming(options(2)));
    transport.fail = new Error('unreachable');
    requests[0]!.txn.respond(makeResponse(requests[0]!.req, 200));
    await flush();
    expect(requests[0]!.txn.state).toBe('terminated');
    expect(failures.map((f) => f.reason)).toEqual(['transport']);
    expect(layer.stats().server).toBe(1);
    expect(clock.pending).toBe(1); // the lifetime of the one still unanswered
    transport.fail = undefined;
    requests[1]!.txn.respond(makeResponse(requests[1]!.req, 200));
    transport.fail = new Error('unreachable');
    layer.receive(incoming(options(2))); // its copy cannot be answered: the record ends
    await flush();
    expect(requests[1]!.txn.state).toBe('terminated');
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);

    transport.fail = undefined;
    layer.receive(incoming(options(3)));
    requests[2]!.txn.respond(makeResponse(requests[2]!.req, 200));
    layer.close();
    expect(requests[2]!.txn.state).toBe('terminated');
    expect(layer.stats().server).toBe(0);
    expect(clock.pending).toBe(0);
  });
});

describe('bad requests', () => {
  it('answers a defective request 400 with the defect as reason, never a defective ACK', () => {
    const { transport, layer, requests, acks } = harness();
    layer.receive(incoming(request({ method: 'OPTIONS' }), source(), 'Bad Content-Length'));
    layer.receive(incoming(request({ method: 'ACK' }), source(), 'Bad Content-Length'));
    expect(transport.responses().map((r) => `${r.status} ${r.reason}`)).toEqual(['400 Bad Content-Length']);
    expect(requests).toHaveLength(0);
    expect(acks).toHaveLength(0);
    expect(layer.stats().server).toBe(0);
  });

  it('answers 400 when the CSeq cannot be read, and leaves it to onBadRequest when set', () => {
    const { transport, layer } = harness();
    const broken = request({ method: 'OPTIONS' }).setHeader('cseq', 'abc OPTIONS');
    layer.receive(incoming(broken));
    expect(transport.responses(400)).toHaveLength(1);
    const seen: string[] = [];
    layer.setUser({ onBadRequest: (_inc, reason) => void seen.push(reason) });
    layer.receive(incoming(request(), source(), 'Missing Call-ID'));
    expect(seen).toEqual(['Missing Call-ID']);
    expect(transport.responses(400)).toHaveLength(1);
  });
});
