import { describe, expect, it } from 'vitest';
import type { ClientInviteTransaction } from '../src/transaction/client-invite.js';
import type { ClientHandler } from '../src/transaction/types.js';
import { collect } from './support/heap.js';
import {
  endpoint,
  flush,
  harness,
  incoming,
  recordingHandler,
  request,
  responseTo,
  schedule,
  source,
} from './support/transaction.js';

const T1 = 500;

describe('client INVITE transaction, unreliable', () => {
  it('Timer A doubles with no T2 cap until Timer B (64*T1) times out', () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    const txn = layer.sendRequest(request(), endpoint('udp'), h);
    expect(txn.state).toBe('calling');
    expect(transport.requests('INVITE')).toHaveLength(1);
    const times = schedule(clock, () => transport.requests('INVITE').length, 64 * T1 - 1);
    expect(times).toEqual([500, 1500, 3500, 7500, 15500, 31500]);
    expect(h.timeouts).toBe(0);
    clock.advance(1); // Timer B at 32 s
    expect(h.timeouts).toBe(1);
    expect(txn.state).toBe('terminated');
    expect(layer.stats()).toEqual({ client: 0, server: 0 });
    expect(clock.pending).toBe(0);
    expect(transport.requests('INVITE')).toHaveLength(7);
  });

  it('follows a configured T1', () => {
    const { clock, transport, layer } = harness({ t1: 100 });
    const h = recordingHandler();
    layer.sendRequest(request(), endpoint('udp'), h);
    const times = schedule(clock, () => transport.requests('INVITE').length, 6399);
    expect(times).toEqual([100, 300, 700, 1500, 3100, 6300]);
    clock.advance(1);
    expect(h.timeouts).toBe(1);
  });

  it('a provisional stops Timers A and B; the transaction waits (bounded by the lifetime)', () => {
    const { clock, transport, layer } = harness({ transTimeout: 200_000 });
    const h = recordingHandler();
    const inv = request();
    const txn = layer.sendRequest(inv, endpoint(), h) as ClientInviteTransaction;
    clock.advance(700); // one retransmission at 500
    layer.receive(incoming(responseTo(inv, 180)));
    expect(txn.state).toBe('proceeding');
    expect(txn.gotProvisional).toBe(true);
    expect(h.responses.map((r) => r.status)).toEqual([180]);
    clock.advance(100_000);
    expect(transport.requests('INVITE')).toHaveLength(2);
    expect(h.timeouts).toBe(0);
    expect(txn.state).toBe('proceeding');
    clock.advance(100_000); // the lifetime bound
    expect(h.timeouts).toBe(1);
    expect(layer.stats().client).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('ACKs a non-2xx final itself, resends the ACK for retransmissions, and ends on Timer D', () => {
    const { clock, transport, layer, strays } = harness();
    const h = recordingHandler();
    const inv = request({ branch: 'z9hG4bKcia1' });
    const txn = layer.sendRequest(inv, endpoint(), h);
    layer.receive(incoming(responseTo(inv, 100)));
    const busy = responseTo(inv, 486, 'uasTag');
    layer.receive(incoming(busy));
    expect(txn.state).toBe('completed');
    expect(h.responses.map((r) => r.status)).toEqual([100, 486]);
    const acks = transport.requests('ACK');
    expect(acks).toHaveLength(1);
    const ack = acks[0]!;
    expect(ack.uri).toBe(inv.uri);
    expect(ack.topVia?.params).toContainEqual(['branch', 'z9hG4bKcia1']);
    expect(ack.cseq).toEqual({ seq: inv.cseq.seq, method: 'ACK' });
    expect(ack.toTag).toBe('uasTag');
    expect(ack.fromTag).toBe(inv.fromTag);
    expect(ack.callId).toBe(inv.callId);
    // the ACK goes where the INVITE went (§17.1.1.3)
    expect(transport.sent.at(-1)).toMatchObject({ kind: 'request', to: endpoint() });

    layer.receive(incoming(responseTo(inv, 486, 'uasTag')));
    layer.receive(incoming(responseTo(inv, 486, 'uasTag')));
    expect(transport.requests('ACK')).toHaveLength(3);
    expect(h.responses).toHaveLength(2); // retransmissions never reach the TU

    clock.advance(31_999);
    expect(txn.state).toBe('completed');
    clock.advance(1); // Timer D, 32 s
    expect(txn.state).toBe('terminated');
    expect(layer.stats()).toEqual({ client: 0, server: 0 });
    layer.receive(incoming(responseTo(inv, 486, 'uasTag')));
    expect(strays.map((r) => r.status)).toEqual([486]);
    expect(transport.requests('ACK')).toHaveLength(3);
    expect(clock.pending).toBe(0);
  });

  it('in Completed after a non-2xx it keeps only its ACK: the TU’s handler is let go', async () => {
    const { clock, transport, layer } = harness();
    const inv = request();
    let handler: WeakRef<ClientHandler> | undefined;
    const txn = (() => {
      const h = recordingHandler();
      handler = new WeakRef(h);
      return layer.sendRequest(inv, endpoint(), h);
    })();
    layer.receive(incoming(responseTo(inv, 486, 'busy')));
    await collect();
    expect(txn.state).toBe('completed');
    expect(handler?.deref()).toBeUndefined();
    layer.receive(incoming(responseTo(inv, 486, 'busy'))); // its ACK again
    expect(transport.requests('ACK')).toHaveLength(2);
    clock.advance(32_000); // Timer D
    expect(txn.state).toBe('terminated');
  });

  it('in Accepted the TU may hand the further 2xx to a function alone, letting its handler go', async () => {
    const { clock, layer } = harness();
    const inv = request();
    const later: string[] = [];
    let handler: WeakRef<ClientHandler> | undefined;
    const txn = (() => {
      const h = recordingHandler();
      handler = new WeakRef(h);
      return layer.sendRequest(inv, endpoint(), h) as ClientInviteTransaction;
    })();
    txn.passAcceptedTo(() => later.push('early')); // not Accepted yet: nothing changes
    layer.receive(incoming(responseTo(inv, 200, 'fork1')));
    expect(txn.state).toBe('accepted');
    txn.passAcceptedTo((r) => later.push(`${r.status}/${r.toTag}`));
    await collect();
    expect(handler?.deref()).toBeUndefined();
    layer.receive(incoming(responseTo(inv, 200, 'fork1'))); // retransmission
    layer.receive(incoming(responseTo(inv, 200, 'fork2'))); // another fork
    layer.receive(incoming(responseTo(inv, 486, 'fork3'))); // still no non-2xx after a 2xx
    expect(later).toEqual(['200/fork1', '200/fork2']);
    clock.advance(64 * T1); // Timer M
    expect(txn.state).toBe('terminated');
  });

  it('passes the 2xx and every further 2xx in Accepted until Timer M (64*T1)', () => {
    const { clock, transport, layer, strays } = harness();
    const h = recordingHandler();
    const inv = request();
    const txn = layer.sendRequest(inv, endpoint(), h);
    clock.advance(600);
    layer.receive(incoming(responseTo(inv, 200, 'fork1')));
    expect(txn.state).toBe('accepted');
    clock.advance(10_000);
    expect(transport.requests('INVITE')).toHaveLength(2); // A stopped by the 2xx
    expect(transport.requests('ACK')).toHaveLength(0); // the 2xx ACK is the core's
    layer.receive(incoming(responseTo(inv, 200, 'fork1'))); // retransmission
    layer.receive(incoming(responseTo(inv, 200, 'fork2'))); // another fork
    layer.receive(incoming(responseTo(inv, 486, 'fork3'))); // no non-2xx after a 2xx
    layer.receive(incoming(responseTo(inv, 180, 'fork4')));
    expect(h.responses.map((r) => `${r.status}/${r.toTag}`)).toEqual(['200/fork1', '200/fork1', '200/fork2']);
    // nothing to cancel any more: the request is let go, the handler kept for the 2xx
    expect(() => layer.sendCancel(txn as ClientInviteTransaction, recordingHandler())).toThrow(/let go/);
    clock.advance(64 * T1 - 10_001);
    expect(txn.state).toBe('accepted');
    clock.advance(1); // Timer M
    expect(txn.state).toBe('terminated');
    expect(layer.stats().client).toBe(0);
    layer.receive(incoming(responseTo(inv, 200, 'fork1')));
    expect(strays).toHaveLength(1); // now a proxy core forwards it statelessly
    expect(clock.pending).toBe(0);
  });

  it('reports a transport error and terminates', async () => {
    const { clock, transport, layer } = harness();
    transport.fail = new Error('ICMP unreachable');
    const h = recordingHandler();
    const txn = layer.sendRequest(request(), endpoint(), h);
    await flush();
    expect(h.errors.map((e) => e.message)).toEqual(['ICMP unreachable']);
    expect(txn.state).toBe('terminated');
    expect(layer.stats().client).toBe(0);
    expect(clock.pending).toBe(0);
    clock.advance(64 * T1);
    expect(h.timeouts).toBe(0);
  });

  it('stops Timer A when the transport sent the INVITE over TCP instead', async () => {
    const { clock, transport, layer } = harness();
    transport.route = (t) => ({ ...t, transport: 'tcp' });
    const h = recordingHandler();
    const txn = layer.sendRequest(request(), endpoint('udp'), h) as ClientInviteTransaction;
    await flush();
    expect(txn.target.transport).toBe('tcp');
    clock.advance(64 * T1 - 1);
    expect(transport.requests('INVITE')).toHaveLength(1);
    clock.advance(1);
    expect(h.timeouts).toBe(1);
  });
});

describe('client INVITE transaction, reliable', () => {
  it('never retransmits; Timer B still times out', () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    layer.sendRequest(request({ viaTransport: 'TCP' }), endpoint('tcp'), h);
    clock.advance(64 * T1 - 1);
    expect(transport.requests('INVITE')).toHaveLength(1);
    expect(h.timeouts).toBe(0);
    clock.advance(1);
    expect(h.timeouts).toBe(1);
    expect(layer.stats().client).toBe(0);
  });

  it('Timer D is zero: ACK, then Terminated at once', () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    const inv = request({ viaTransport: 'TCP' });
    const txn = layer.sendRequest(inv, endpoint('tcp'), h);
    layer.receive(incoming(responseTo(inv, 603), source('tcp')));
    expect(transport.requests('ACK')).toHaveLength(1);
    expect(h.responses.map((r) => r.status)).toEqual([603]);
    expect(txn.state).toBe('terminated');
    expect(layer.stats().client).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('Timer M is 64*T1 even on reliable transports', () => {
    const { clock, layer } = harness();
    const h = recordingHandler();
    const inv = request({ viaTransport: 'TCP' });
    const txn = layer.sendRequest(inv, endpoint('tcp'), h);
    layer.receive(incoming(responseTo(inv, 200), source('tcp')));
    clock.advance(64 * T1 - 1);
    expect(txn.state).toBe('accepted');
    clock.advance(1);
    expect(txn.state).toBe('terminated');
  });
});

describe('client non-INVITE transaction', () => {
  it('Timer E doubles up to T2 until Timer F (64*T1) times out', () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    const txn = layer.sendRequest(request({ method: 'OPTIONS' }), endpoint(), h);
    expect(txn.state).toBe('trying');
    const times = schedule(clock, () => transport.requests('OPTIONS').length, 64 * T1 - 1);
    expect(times).toEqual([500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    clock.advance(1);
    expect(h.timeouts).toBe(1);
    expect(txn.state).toBe('terminated');
    expect(layer.stats().client).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('caps Timer E at a configured T2', () => {
    const { clock, transport, layer } = harness({ t2: 2000 });
    layer.sendRequest(request({ method: 'OPTIONS' }), endpoint(), recordingHandler());
    const times = schedule(clock, () => transport.requests('OPTIONS').length, 9000);
    expect(times).toEqual([500, 1500, 3500, 5500, 7500]);
  });

  it('in Proceeding retransmits every T2, and Timer F still applies', () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    const req = request({ method: 'REGISTER' });
    const txn = layer.sendRequest(req, endpoint(), h);
    clock.advance(200);
    layer.receive(incoming(responseTo(req, 100)));
    expect(txn.state).toBe('proceeding');
    const times = schedule(clock, () => transport.requests('REGISTER').length, 64 * T1 - 1);
    expect(times).toEqual([500, 4500, 8500, 12500, 16500, 20500, 24500, 28500]);
    clock.advance(1);
    expect(h.responses.map((r) => r.status)).toEqual([100]);
    expect(h.timeouts).toBe(1);
    expect(layer.stats().client).toBe(0);
  });

  it('a final goes to Completed, retransmitted finals are absorbed, Timer K (T4) ends it', () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    const req = request({ method: 'BYE', toTag: 'x' });
    const txn = layer.sendRequest(req, endpoint(), h);
    clock.advance(600);
    layer.receive(incoming(responseTo(req, 200)));
    expect(txn.state).toBe('completed');
    layer.receive(incoming(responseTo(req, 200)));
    layer.receive(incoming(responseTo(req, 180)));
    expect(h.responses.map((r) => r.status)).toEqual([200]);
    clock.advance(4999);
    expect(txn.state).toBe('completed');
    expect(transport.requests('BYE')).toHaveLength(2); // E stopped by the final
    clock.advance(1);
    expect(txn.state).toBe('terminated');
    expect(h.timeouts).toBe(0);
    expect(layer.stats().client).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('past the final it holds neither the TU’s handler nor the request, only what Timer K needs', async () => {
    const { clock, transport, layer } = harness();
    const req = request({ method: 'BYE', toTag: 'x' });
    // the handler reachable only through the transaction, as a proxy's closures are
    let handler: WeakRef<ClientHandler> | undefined;
    const txn = (() => {
      const h = recordingHandler();
      handler = new WeakRef(h);
      return layer.sendRequest(req, endpoint(), h);
    })();
    expect(txn.request).toBe(req);
    layer.receive(incoming(responseTo(req, 200)));
    await collect();
    expect(txn.state).toBe('completed');
    expect(handler?.deref()).toBeUndefined();
    expect(() => txn.request).toThrow(/let go/);
    layer.receive(incoming(responseTo(req, 200))); // still absorbed
    clock.advance(5000);
    expect(txn.state).toBe('terminated');
    expect(transport.requests('BYE')).toHaveLength(1);
  });

  it('reliable: no Timer E, Timer K zero', () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    const req = request({ method: 'MESSAGE', viaTransport: 'TLS' });
    const txn = layer.sendRequest(req, endpoint('tls'), h);
    clock.advance(64 * T1 - 1);
    expect(transport.requests('MESSAGE')).toHaveLength(1);
    layer.receive(incoming(responseTo(req, 202), source('tls')));
    expect(txn.state).toBe('terminated');
    expect(h.responses.map((r) => r.status)).toEqual([202]);
    expect(layer.stats().client).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('reports a transport error on a retransmission', async () => {
    const { clock, transport, layer } = harness();
    const h = recordingHandler();
    layer.sendRequest(request({ method: 'OPTIONS' }), endpoint(), h);
    await flush();
    transport.fail = new Error('gone');
    clock.advance(500);
    await flush();
    expect(h.errors).toHaveLength(1);
    expect(layer.stats().client).toBe(0);
  });
});

describe('client matching (§17.1.3)', () => {
  it('matches on branch and CSeq method: CANCEL and INVITE share a branch', () => {
    const { clock, transport, layer, strays } = harness();
    const hi = recordingHandler();
    const hc = recordingHandler();
    const inv = request({ branch: 'z9hG4bKshared' });
    const it = layer.sendRequest(inv, endpoint(), hi) as ClientInviteTransaction;
    layer.receive(incoming(responseTo(inv, 180)));
    const ct = layer.sendCancel(it, hc, 'SIP;cause=487');
    const cancel = transport.requests('CANCEL')[0]!;
    expect(ct.request).toBe(cancel);
    expect(cancel.topVia?.params).toContainEqual(['branch', 'z9hG4bKshared']);
    expect(cancel.cseq).toEqual({ seq: inv.cseq.seq, method: 'CANCEL' });
    expect(layer.stats().client).toBe(2);
    layer.receive(incoming(responseTo(cancel, 200)));
    layer.receive(incoming(responseTo(inv, 487)));
    expect(hc.responses.map((r) => r.status)).toEqual([200]);
    expect(hi.responses.map((r) => r.status)).toEqual([180, 487]);
    expect(transport.requests('ACK')).toHaveLength(1);
    // a response with the branch but an unknown method matches nothing
    layer.receive(incoming(responseTo(request({ method: 'INFO', branch: 'z9hG4bKshared' }), 200)));
    expect(strays.map((r) => r.cseq.method)).toEqual(['INFO']);
    clock.advance(32_000);
    expect(layer.stats()).toEqual({ client: 0, server: 0 });
    expect(clock.pending).toBe(0);
  });

  it('gives responses with another branch or no Via branch to onStrayResponse', () => {
    const { layer, strays } = harness();
    const h = recordingHandler();
    layer.sendRequest(request({ branch: 'z9hG4bKmine' }), endpoint(), h);
    layer.receive(incoming(responseTo(request({ branch: 'z9hG4bKother' }), 200)));
    layer.receive(incoming(responseTo(request({ branch: null }), 200)));
    expect(strays).toHaveLength(2);
    expect(h.responses).toHaveLength(0);
  });

  it('drops a defective response', () => {
    const { layer, strays } = harness();
    const h = recordingHandler();
    const inv = request();
    layer.sendRequest(inv, endpoint(), h);
    layer.receive(incoming(responseTo(inv, 200), source(), 'Bad Status-Code'));
    expect(h.responses).toHaveLength(0);
    expect(strays).toHaveLength(0);
  });

  it('refuses ACK, a missing branch and a duplicate transaction', () => {
    const { layer } = harness();
    const h = recordingHandler();
    expect(() => layer.sendRequest(request({ method: 'ACK' }), endpoint(), h)).toThrow(/ACK/);
    expect(() => layer.sendRequest(request({ branch: null }), endpoint(), h)).toThrow(/branch/);
    layer.sendRequest(request({ branch: 'z9hG4bKdup' }), endpoint(), h);
    expect(() => layer.sendRequest(request({ branch: 'z9hG4bKdup' }), endpoint(), h)).toThrow(/exists/);
    layer.close();
    expect(layer.stats()).toEqual({ client: 0, server: 0 });
  });
});
