// Digest authentication wired into the cores: the UAS step before route (NkSIP's
// sip_authorize / sip_get_user_pass order, challenges, stale, dialog tokens) and the UAC's
// automatic answers to 401/407 (retry with CSeq + 1, bound on tries, ACK with credentials).
// Real transaction layers on fake clocks, recording transports.
import { describe, expect, it } from 'vitest';
import { answerChallenge, type Pass } from '../src/auth/client.js';
import { DialogAuth } from '../src/auth/dialog-auth.js';
import { Authenticator, credentials } from '../src/auth/server.js';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler, AuthDecision, AuthList } from '../src/core/app.js';
import { PROCESS } from '../src/core/decision.js';
import { DialogTable } from '../src/core/dialog/table.js';
import { UacCore, type UacListener } from '../src/core/uac.js';
import { UasCore } from '../src/core/uas.js';
import { makeResponse } from '../src/sip/build.js';
import { viaBranch } from '../src/sip/headers.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { FakeClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import type { Endpoint } from '../src/transport/types.js';
import {
  request as baseRequest,
  FakeTransport,
  flush,
  incoming,
  parse,
  source,
} from './support/transaction.js';

let seq = 0;
function request(spec: Parameters<typeof baseRequest>[0] = {}): SipRequest {
  seq++;
  return baseRequest({ branch: `z9hG4bKa${seq}`, callId: `auth-${seq}`, ...spec });
}

/** The same request again, as a client answering a challenge would send it. */
function withCredentials(
  req: SipRequest,
  challenge: SipResponse,
  passes: Pass[],
  branch: string,
): SipRequest {
  const retry = answerChallenge(req, challenge, passes);
  if (!retry) throw new Error('nothing to answer');
  const text = serialize(req)
    .toString('latin1')
    .replace(/branch=[^;\r\n]+/, `branch=${branch}`)
    .replace(/CSeq: (\d+)/, (_m, n: string) => `CSeq: ${Number(n) + 1}`)
    .replace('\r\n\r\n', `\r\n${retry.headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`);
  return parse(text) as SipRequest;
}

/** An app challenging as NkSIP's test peers do: realm `r1`, any user with password `secret`. */
function challengingApp(calls: AuthList[], opts: { proxy?: boolean } = {}): AppHandler {
  return {
    route: () => PROCESS,
    method: () => ({ status: 200 }),
    authorize: (_req, _src, auth): AuthDecision => {
      calls.push(auth);
      if (auth.dialog || auth.register) return { kind: 'ok' };
      if (auth.digests.some((d) => d.ok)) return { kind: 'ok' };
      if (auth.digests.length > 0) return { kind: 'forbidden' };
      return opts.proxy ? { kind: 'proxy_authenticate', realm: 'r1' } : { kind: 'authenticate' };
    },
    getUserPass: (user) => (user === 'alice' ? 'secret' : false),
  };
}

function uas(app: AppHandler) {
  const clock = new FakeClock(1_000_000);
  const transport = new FakeTransport();
  const layer = new TransactionLayer({ transport, clock });
  const profile = () => ({ allow: DEFAULTS.allow, supported: [], contact: '<sip:192.0.2.1:5060>' });
  const authenticator = new Authenticator({ clock });
  const core = new UasCore({ transport, layer, profile, app, clock, authenticator });
  const send = (msg: SipRequest, from = source()) => core.receive({ msg, source: from, size: 0 });
  const finals = () => transport.responses().filter((r) => r.status >= 200);
  const settle = async () => {
    await flush();
    for (let i = 0; i < 1000 && clock.nextDue() !== undefined; i++) {
      clock.advanceToNext();
      await flush();
    }
  };
  return { clock, transport, layer, core, send, finals, settle };
}

describe('UAS: authorize before route', () => {
  it('no credentials: authorize sees an empty list, then the computed one; 401 for the From domain', async () => {
    const calls: AuthList[] = [];
    const t = uas(challengingApp(calls));
    t.send(request({ method: 'OPTIONS' }));
    await flush();
    const [r] = t.finals();
    expect(r?.status).toBe(401);
    const ch = r?.header('www-authenticate') ?? '';
    expect(ch).toMatch(/^Digest /);
    expect(ch).toMatch(/realm="atlanta\.com"/);
    expect(ch).toMatch(/qop="auth"/);
    expect(ch).toMatch(/algorithm=MD5/);
    expect(calls).toEqual([
      { dialog: false, register: false, digests: [] },
      { dialog: false, register: false, digests: [] },
    ]);
  });

  it('authorize ok to the empty list: no digest computed, no getUserPass, route runs', async () => {
    let passAsked = 0;
    const routed: string[] = [];
    const t = uas({
      route: (req) => {
        routed.push(req.method);
        return PROCESS;
      },
      method: () => ({ status: 200 }),
      authorize: () => ({ kind: 'ok' }),
      getUserPass: () => {
        passAsked++;
        return 'x';
      },
    });
    const req = request({ method: 'OPTIONS' });
    req.addHeader(
      'Authorization',
      'Digest username="alice", realm="r1", nonce="x", uri="sip:bob@biloxi.com", response="00"',
    );
    t.send(req);
    await flush();
    expect(t.finals().map((r) => r.status)).toEqual([200]);
    expect(passAsked).toBe(0);
    expect(routed).toEqual(['OPTIONS']);
  });

  it('the right password passes (route then method), a wrong one gets 403', async () => {
    const calls: AuthList[] = [];
    const t = uas(challengingApp(calls, { proxy: true }));
    const first = request({ method: 'OPTIONS' });
    t.send(first);
    await flush();
    const challenge = t.finals()[0] as SipResponse;
    expect(challenge.status).toBe(407);
    expect(challenge.header('proxy-authenticate')).toMatch(/realm="r1"/);
    t.send(withCredentials(first, challenge, [{ password: 'secret' }], `z9hG4bKok${seq}`));
    t.send(withCredentials(first, challenge, [{ password: 'wrong' }], `z9hG4bKko${seq}`));
    await flush();
    expect(t.finals().map((r) => r.status)).toEqual([407, 200, 403]);
    const computed = calls.filter((c) => c.digests.length > 0);
    expect(computed.map((c) => c.digests.map((d) => [d.user, d.realm, d.ok]))).toEqual([
      [['alice', 'r1', true]],
      [['alice', 'r1', false]],
    ]);
  });

  it('an unknown user is false in the list (getUserPass false) and gets 403', async () => {
    const calls: AuthList[] = [];
    const t = uas(challengingApp(calls));
    const first = request({ method: 'OPTIONS' });
    t.send(first);
    await flush();
    const challenge = t.finals()[0] as SipResponse;
    t.send(withCredentials(first, challenge, [{ user: 'mallory', password: 'secret' }], 'z9hG4bKmal'));
    await flush();
    expect(t.finals().map((r) => r.status)).toEqual([401, 403]);
    expect(calls.at(-1)?.digests[0]).toMatchObject({ user: 'mallory', ok: false, reason: 'no-password' });
  });

  it('garbage Authorization headers get a fresh challenge; the server goes on serving', async () => {
    const t = uas(challengingApp([]));
    const garbage = [
      'Digest',
      'Digest realm',
      'Digest ,,,=="',
      'Basic YWxpY2U6c2VjcmV0',
      `Digest username="alice", realm="r1", nonce="${'A'.repeat(5000)}"`,
      'Digest username="alice", nonce="abc"',
    ];
    for (const [i, g] of garbage.entries()) {
      const req = request({ method: 'OPTIONS', branch: `z9hG4bKg${i}` });
      req.addHeader('Authorization', g);
      t.send(req);
    }
    await flush();
    const statuses = t.finals().map((r) => r.status);
    expect(statuses).toHaveLength(garbage.length);
    for (const s of statuses) expect([400, 401, 403]).toContain(s);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(5);
    t.send(request({ method: 'OPTIONS' }));
    await flush();
    expect(t.finals().at(-1)?.status).toBe(401);
    await t.settle();
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
  });

  it('a right digest on an expired nonce is challenged again with stale=true, not 403', async () => {
    const calls: AuthList[] = [];
    const t = uas(challengingApp(calls, { proxy: true }));
    const first = request({ method: 'OPTIONS' });
    t.send(first);
    await flush();
    const challenge = t.finals()[0] as SipResponse;
    t.clock.advance(31_000);
    t.send(withCredentials(first, challenge, [{ password: 'secret' }], 'z9hG4bKstale'));
    await flush();
    const again = t.finals()[1] as SipResponse;
    expect(again.status).toBe(407);
    expect(again.header('proxy-authenticate')).toMatch(/stale=TRUE/);
    // the stale credential is not in the list the app saw
    expect(calls.at(-1)?.digests).toEqual([]);
  });

  it('a nonce is bound to the source: from another port it is stale', async () => {
    const t = uas(challengingApp([], { proxy: true }));
    const first = request({ method: 'OPTIONS' });
    t.send(first);
    await flush();
    const challenge = t.finals()[0] as SipResponse;
    t.send(withCredentials(first, challenge, [{ password: 'secret' }], 'z9hG4bKelse'), {
      ...source(),
      port: 5999,
    });
    await flush();
    expect(t.finals()[1]?.status).toBe(407);
    expect(t.finals()[1]?.header('proxy-authenticate')).toMatch(/stale=TRUE/);
  });

  it('a 401 to an INVITE goes through the transaction: its ACK is absorbed, nothing is left', async () => {
    const routed: string[] = [];
    const app = challengingApp([]);
    const t = uas({
      ...app,
      route: (r) => {
        routed.push(r.method);
        return PROCESS;
      },
    });
    const inv = request({ method: 'INVITE' });
    t.send(inv);
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([100, 401]);
    const challenge = t.finals()[0] as SipResponse;
    // the ACK of the non-2xx: same branch, To tag of the 401
    const ack = parse(
      serialize(inv)
        .toString('latin1')
        .replace(/^INVITE/, 'ACK')
        .replace(/CSeq: (\d+) INVITE/, 'CSeq: $1 ACK')
        .replace(/(To: [^\r\n]+)/, `$1;tag=${challenge.toTag}`),
    ) as SipRequest;
    // a retransmission of the INVITE gets the same 401, with no new callback
    t.send(inv);
    t.send(ack);
    await flush();
    expect(t.finals().map((r) => r.status)).toEqual([401, 401]);
    expect(t.finals()[1]?.header('www-authenticate')).toBe(challenge.header('www-authenticate'));
    expect(routed).toEqual([]);
    await t.settle();
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
    expect(t.core.dialogs.size).toBe(0);
  });

  it('an in-dialog request from the authorised peer carries the dialog token', async () => {
    const calls: AuthList[] = [];
    const t = uas(challengingApp(calls));
    const inv = request({ method: 'INVITE' });
    t.send(inv);
    await flush();
    const challenge = t.finals()[0] as SipResponse;
    const inv2 = withCredentials(inv, challenge, [{ password: 'secret' }], 'z9hG4bKinv2');
    t.send(inv2);
    await flush();
    const ok = t.finals().at(-1) as SipResponse;
    expect(ok.status).toBe(200);
    const dialog = t.core.dialogs.all()[0];
    expect(dialog).toBeDefined();
    expect(t.core.dialogAuth.list(dialog!)).toEqual(['udp:192.0.2.10:5060']);
    // an in-dialog OPTIONS without credentials: authorised by the dialog
    const inDialog = request({ method: 'OPTIONS', callId: inv.callId, toTag: ok.toTag, cseq: 400000 });
    t.send(inDialog);
    await flush();
    expect(t.finals().at(-1)?.status).toBe(200);
    expect(calls.at(-1)).toEqual({ dialog: true, register: false, digests: [] });
    // from another port: not the authorised peer
    const other = request({ method: 'OPTIONS', callId: inv.callId, toTag: ok.toTag, cseq: 400001 });
    t.send(other, { ...source(), port: 6000 });
    await flush();
    expect(t.finals().at(-1)?.status).toBe(401);
    // cleared: challenged again
    t.core.dialogAuth.clear(dialog!);
    t.send(request({ method: 'OPTIONS', callId: inv.callId, toTag: ok.toTag, cseq: 400002 }));
    await flush();
    expect(t.finals().at(-1)?.status).toBe(401);
  });

  it('an app throwing in authorize: 500, the transaction ends', async () => {
    const t = uas({
      route: () => PROCESS,
      method: () => ({ status: 200 }),
      authorize: () => {
        throw new Error('boom');
      },
    });
    t.send(request({ method: 'OPTIONS' }));
    await flush();
    expect(t.finals().map((r) => r.status)).toEqual([500]);
    await t.settle();
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
  });
});

// ----------------------------------------------------------------------------- UAC side

class UacFakeTransport extends FakeTransport {
  localContact(target: Endpoint) {
    return { host: '192.0.2.1', port: 5060, transport: target.transport };
  }
}

function uac() {
  const clock = new FakeClock(2_000_000);
  const transport = new UacFakeTransport();
  const layer = new TransactionLayer({ transport, clock });
  const dialogAuth = new DialogAuth();
  const core = new UacCore({
    layer,
    transport,
    clock,
    dialogs: new DialogTable(),
    dialogAuth,
    defaults: { from: '<sip:alice@atlanta.com>', route: [], allow: DEFAULTS.allow, supported: '' },
  });
  // the peer: an NkSIP-like server challenging realm `r1` with the password `secret`
  const server = new Authenticator({ clock });
  const finals: SipResponse[] = [];
  const dialogs: (string | undefined)[] = [];
  const errors: string[] = [];
  const listener: UacListener = {
    final: (r, d) => {
      finals.push(r);
      dialogs.push(d);
    },
    error: (k, m) => void errors.push(`${k}: ${m}`),
  };
  const sentReqs = (method: string) => transport.requests(method);
  const answer = (req: SipRequest, status: number, headers: [string, string][] = [], toTag = 'peer') => {
    const resp = makeResponse(req, status, { toTag, headers });
    if (status >= 200 && status < 300 && req.method === 'INVITE')
      resp.addHeader('Contact', '<sip:bob@192.0.2.20>');
    layer.receive(incoming(parse(serialize(resp).toString('latin1')) as SipResponse));
  };
  const challenge = (req: SipRequest, kind: 401 | 407 = 401, realm = 'r1') =>
    answer(req, kind, server.challengeHeaders(kind, realm, { source: { address: '192.0.2.1', port: 5060 } }));
  /** The peer's verdict on the credentials of `req`. */
  const verdict = (req: SipRequest, password = 'secret') =>
    credentials(req).map((c) => server.check(req, c, password, { address: '192.0.2.1', port: 5060 }).ok);
  return {
    clock,
    transport,
    layer,
    core,
    finals,
    dialogs,
    errors,
    listener,
    sentReqs,
    answer,
    challenge,
    verdict,
    dialogAuth,
  };
}

describe('UAC: automatic digest answers', () => {
  it('answers a 401: same Call-ID and From tag, CSeq + 1, new branch, checked credentials; the app sees only the 200', async () => {
    const t = uac();
    const h = t.core.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' }, t.listener, undefined, {
      pass: [{ password: 'secret' }],
    });
    expect(h).toBeDefined();
    const [first] = t.sentReqs('OPTIONS');
    t.challenge(first!);
    await flush();
    const reqs = t.sentReqs('OPTIONS');
    expect(reqs).toHaveLength(2);
    const second = reqs[1]!;
    expect(second.callId).toBe(first!.callId);
    expect(second.fromTag).toBe(first!.fromTag);
    expect(second.cseq.seq).toBe(first!.cseq.seq + 1);
    expect(viaBranch(second.topVia!)).not.toBe(viaBranch(first!.topVia!));
    expect(second.header('authorization')).toMatch(/^Digest username="alice", realm="r1"/);
    expect(t.verdict(second)).toEqual([true]);
    expect(t.finals).toEqual([]);
    t.answer(second, 200);
    await flush();
    expect(t.finals.map((r) => r.status)).toEqual([200]);
    expect(t.core.stats().pending).toBe(0);
  });

  it('a wrong password: the 403 of the server ends it; a second 401 with the same nonce too (no loop)', async () => {
    const t = uac();
    t.core.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' }, t.listener, undefined, {
      pass: [{ password: 'bad' }],
    });
    t.challenge(t.sentReqs('OPTIONS')[0]!);
    await flush();
    const second = t.sentReqs('OPTIONS')[1]!;
    expect(t.verdict(second)).toEqual([false]);
    t.answer(second, 403);
    await flush();
    expect(t.finals.map((r) => r.status)).toEqual([403]);

    // a server re-challenging with the nonce we answered: reported, not retried
    const u = uac();
    u.core.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' }, u.listener, undefined, {
      pass: [{ password: 'bad' }],
    });
    const first = u.sentReqs('OPTIONS')[0]!;
    const ch = new Authenticator({ clock: u.clock }).challengeHeaders(401, 'r1', {
      source: { address: '192.0.2.1', port: 5060 },
    });
    u.answer(first, 401, ch);
    await flush();
    u.answer(u.sentReqs('OPTIONS')[1]!, 401, ch);
    await flush();
    expect(u.sentReqs('OPTIONS')).toHaveLength(2);
    expect(u.finals.map((r) => r.status)).toEqual([401]);
  });

  it('stops after the maximum number of tries and reports the last challenge', async () => {
    const t = uac();
    t.core.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' }, t.listener, undefined, {
      pass: [{ password: 'secret' }],
      maxTries: 2,
    });
    for (let i = 0; i < 5; i++) {
      const reqs = t.sentReqs('OPTIONS');
      t.challenge(reqs[reqs.length - 1]!, 407, `realm${i}`);
      await flush();
    }
    expect(t.sentReqs('OPTIONS')).toHaveLength(3);
    expect(t.finals.map((r) => r.status)).toEqual([407]);
    expect(t.core.stats().pending).toBe(0);
  });

  it('without passwords (or with maxTries 0) the 401 is the final answer', async () => {
    for (const auth of [undefined, { pass: [{ password: 'secret' }], maxTries: 0 }]) {
      const t = uac();
      t.core.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' }, t.listener, undefined, auth);
      t.challenge(t.sentReqs('OPTIONS')[0]!);
      await flush();
      expect(t.sentReqs('OPTIONS')).toHaveLength(1);
      expect(t.finals.map((r) => r.status)).toEqual([401]);
    }
  });

  it('a password for the realm is preferred to one for any realm; 401 and 407 answered at once', async () => {
    const t = uac();
    t.core.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' }, t.listener, undefined, {
      pass: [
        { password: 'wrong' },
        { realm: 'r1', password: 'secret' },
        { realm: 'p1', password: 'psecret' },
      ],
    });
    const first = t.sentReqs('OPTIONS')[0]!;
    const server = new Authenticator({ clock: t.clock });
    const src = { address: '192.0.2.1', port: 5060 };
    t.answer(first, 407, [
      ...server.challengeHeaders(407, 'p1', { source: src }),
      ...server.challengeHeaders(401, 'r1', { source: src }),
    ]);
    await flush();
    const second = t.sentReqs('OPTIONS')[1]!;
    const checked = credentials(second).map((c) => [
      c.kind,
      server.check(second, c, c.kind === 407 ? 'psecret' : 'secret', src).ok,
    ]);
    expect(checked.sort()).toEqual([
      [401, true],
      [407, true],
    ]);
  });

  it('INVITE: retried after 401, the dialog ACK carries its credentials, a BYE is challenged and retried above the dialog CSeq', async () => {
    const t = uac();
    t.core.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20', auto2xxAck: true }, t.listener, undefined, {
      pass: [{ password: 'secret' }],
    });
    const inv1 = t.sentReqs('INVITE')[0]!;
    t.challenge(inv1);
    await flush();
    // the transaction ACKs the 401 itself, with the first INVITE's CSeq
    const acks1 = t.sentReqs('ACK');
    expect(acks1).toHaveLength(1);
    expect(acks1[0]?.cseq.seq).toBe(inv1.cseq.seq);
    const inv2 = t.sentReqs('INVITE')[1]!;
    expect(inv2.cseq.seq).toBe(inv1.cseq.seq + 1);
    expect(t.verdict(inv2)).toEqual([true]);
    t.answer(inv2, 200);
    await flush();
    expect(t.finals.map((r) => r.status)).toEqual([200]);
    const ack = t.sentReqs('ACK')[1]!;
    expect(ack.cseq.seq).toBe(inv2.cseq.seq);
    expect(ack.header('authorization')).toBe(inv2.header('authorization'));
    // the 2xx's source is authorised in the dialog
    const handle = t.dialogs[0]!;
    expect(t.core.authorizedList(handle)).toEqual(['udp:192.0.2.20:5060']);

    t.core.sendInDialog(handle, { method: 'BYE' }, t.listener, { pass: [{ password: 'secret' }] });
    const bye1 = t.sentReqs('BYE')[0]!;
    expect(bye1.cseq.seq).toBe(inv2.cseq.seq + 1);
    t.challenge(bye1);
    await flush();
    const bye2 = t.sentReqs('BYE')[1]!;
    expect(bye2.cseq.seq).toBe(bye1.cseq.seq + 1);
    expect(bye2.callId).toBe(inv1.callId);
    expect(t.verdict(bye2)).toEqual([true]);
    t.answer(bye2, 200);
    await flush();
    expect(t.finals.map((r) => r.status)).toEqual([200, 200]);
    expect(t.core.dialogs.size).toBe(0);
    expect(t.core.authorizedList(handle)).toBeUndefined();
  });
});
