// Sessions end to end on loopback: a UacCore (A) calls a UasCore (B) over UDP with real
// timers (T1 20 ms): reliable provisional responses and PRACK (RFC 3262) with offer/answer
// inside, the PRACK timeout, unknown RAck, pending_prack, UPDATE (RFC 3311) with
// request_pending, malformed SDP, and the session updates both sides see.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler, Provisional } from '../src/core/app.js';
import { PROCESS } from '../src/core/decision.js';
import type { Dialog, DialogUpdate } from '../src/core/dialog/dialog.js';
import { PendingPrack } from '../src/core/prack.js';
import type { Reply } from '../src/core/reply.js';
import type { SessionUpdate } from '../src/core/session.js';
import { SessionTimers, type TimerSettings } from '../src/core/timers.js';
import {
  type InDialogSpec,
  type SessionOptions,
  UacCore,
  type UacListener,
  type UacRequestSpec,
} from '../src/core/uac.js';
import { UasCore } from '../src/core/uas.js';
import type { UasProfile } from '../src/core/uas-checks.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { realClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import { TransportManager } from '../src/transport/manager.js';
import { cleanup, cleanups, sleep, until, within } from './transport-helpers.js';

const T1 = 20;
const sdp = (v: number, port = 4000) =>
  `v=0\r\no=t 1 ${v} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;
const ver = (b: Buffer) => /o=t 1 (\d+)/.exec(b.toString())?.[1];
const brief = (u: SessionUpdate) =>
  u.type === 'stop' ? 'stop' : `${u.type}:${ver(u.local)}/${ver(u.remote)}`;

/** What B's app does with an INVITE: a plan of provisionals (reliable or not) then a final. */
type Plan = (req: SipRequest, prov: Provisional) => Promise<Reply>;

let a: { uac: UacCore; uas: UasCore; sessions: string[]; byes: SipRequest[]; timers: SessionTimers };
let b: {
  port: number;
  uas: UasCore;
  uac: UacCore;
  methods: SipRequest[];
  sessions: string[];
  plan: Plan;
  errors: unknown[];
  timers?: TimerSettings;
  refreshes: number;
  sessionTimers: SessionTimers;
};

/** Session timers as server.ts wires them: expiry hangs up through the node's UAC core. */
function sessionTimers(uac: UacCore, uas: UasCore): SessionTimers {
  const t = new SessionTimers({
    clock: realClock,
    dialogs: uas.dialogs,
    bye: (d, notify) =>
      void uac.sendInDialog(
        d.handle,
        { method: 'BYE', reason: 'SIP;cause=408;text="Session Timer Expired"' },
        { final: () => {}, error: () => {}, dialogUpdate: notify },
      ),
  });
  uas.setSessionTimers(t);
  uac.setSessionTimers(t);
  cleanups.push(() => t.close());
  return t;
}

async function start(): Promise<void> {
  const tb = new TransportManager();
  cleanups.push(() => tb.close());
  const portB = await tb.listenGroup([{ transport: 'udp', address: '127.0.0.1', port: 0 }]);
  const layerB = new TransactionLayer({ transport: tb, clock: realClock, t1: T1 });
  cleanups.push(() => layerB.close());
  const profile = (): UasProfile => ({
    allow: DEFAULTS.allow,
    supported: ['path', '100rel'],
    contact: `<sip:b@127.0.0.1:${portB}>`,
  });
  const state = {
    port: portB,
    methods: [] as SipRequest[],
    sessions: [] as string[],
    errors: [] as unknown[],
    plan: (async () => ({ status: 200 })) as Plan,
    timers: undefined as TimerSettings | undefined,
    refreshes: 0,
  };
  const app: AppHandler = {
    route: () => PROCESS,
    method: (req, _source, provisional): Reply | Promise<Reply> => {
      state.methods.push(req);
      const contact: [string, string] = ['Contact', `<sip:b@127.0.0.1:${portB}>`];
      if (req.method === 'INVITE' && provisional) {
        return state.plan(req, provisional).then((r) => ({ ...r, headers: [...(r.headers ?? []), contact] }));
      }
      if (req.method === 'UPDATE') {
        if (req.header('x-hold') !== undefined) return new Promise<Reply>(() => {});
        return {
          status: 200,
          headers: [contact],
          body: Buffer.from(sdp(50)),
          contentType: 'application/sdp',
        };
      }
      return { status: 200 };
    },
    sessionUpdate: (u) => void state.sessions.push(brief(u)),
    dialogUpdate: (u) => {
      if (u.type === 'invite_refresh') state.refreshes++;
    },
    timers: () => state.timers,
  };
  const uas = new UasCore({ transport: tb, layer: layerB, profile, app });
  cleanups.push(() => uas.close());
  tb.onMessage((inc) => uas.receive(inc));
  const uacB = new UacCore({
    layer: layerB,
    transport: tb,
    dialogs: uas.dialogs,
    defaults: { from: '<sip:b@127.0.0.1>', route: [], allow: DEFAULTS.allow, supported: DEFAULTS.supported },
  });
  // one object: the app reads the plan a test sets on `b`
  b = Object.assign(state, { uas, uac: uacB, sessionTimers: sessionTimers(uacB, uas) });

  const ta = new TransportManager();
  cleanups.push(() => ta.close());
  await ta.listenGroup([{ transport: 'udp', address: '127.0.0.1', port: 0 }]);
  const layerA = new TransactionLayer({ transport: ta, clock: realClock, t1: T1 });
  cleanups.push(() => layerA.close());
  const byes: SipRequest[] = [];
  const uasA = new UasCore({
    transport: ta,
    layer: layerA,
    profile: () => ({ allow: DEFAULTS.allow, supported: ['path', '100rel', 'timer'] }),
    app: {
      route: () => PROCESS,
      method: (req) => {
        if (req.method === 'BYE') byes.push(req);
        return { status: 200 };
      },
    },
  });
  cleanups.push(() => uasA.close());
  ta.onMessage((inc) => uasA.receive(inc));
  const uac = new UacCore({
    layer: layerA,
    transport: ta,
    dialogs: uasA.dialogs,
    defaults: {
      from: '"Alice" <sip:alice@127.0.0.1>',
      route: [],
      allow: DEFAULTS.allow,
      supported: DEFAULTS.supported,
    },
  });
  a = { uac, uas: uasA, sessions: [], byes, timers: sessionTimers(uac, uasA) };
}

interface Outcome {
  provisionals: SipResponse[];
  final: SipResponse;
  dialog: string | undefined;
  updates: DialogUpdate[];
}

function call(
  spec: UacRequestSpec,
  session: SessionOptions = {},
  onDialog?: (d: string) => void,
): Promise<Outcome> {
  const provisionals: SipResponse[] = [];
  const updates: DialogUpdate[] = [];
  const done = new Promise<Outcome>((resolve, reject) => {
    a.uac.send(
      spec,
      {
        provisional: (r, d) => {
          provisionals.push(r);
          if (d && onDialog) onDialog(d);
        },
        final: (r, dialog) => resolve({ provisionals, final: r, dialog, updates }),
        error: (kind, message) => reject(new Error(`${kind}: ${message}`)),
        dialogUpdate: (u) => {
          updates.push(u);
          if (u.type === 'session') a.sessions.push(brief(u.update));
        },
      },
      undefined,
      undefined,
      session,
    );
  });
  return within(done, 5000, `final response to ${spec.method}`);
}

function inDialog(dialog: string, spec: InDialogSpec): Promise<SipResponse> {
  return within(
    new Promise<SipResponse>((resolve, reject) => {
      const l: UacListener = {
        final: (r) => resolve(r),
        error: (kind, message) => reject(Object.assign(new Error(`${kind}: ${message}`), { kind })),
        dialogUpdate: (u) => {
          if (u.type === 'session') a.sessions.push(brief(u.update));
        },
      };
      a.uac.sendInDialog(dialog, spec, l, { auto2xxAck: true });
    }),
    5000,
    `final response to ${spec.method}`,
  );
}

const invite = (user: string, body?: string): UacRequestSpec => ({
  method: 'INVITE',
  uri: `sip:${user}@127.0.0.1:${b.port}`,
  auto2xxAck: true,
  ...(body ? { body: Buffer.from(body), contentType: 'application/sdp' } : {}),
});

const pracks = () => b.methods.filter((m) => m.method === 'PRACK');

async function hangUp(dialog: string): Promise<void> {
  expect((await inDialog(dialog, { method: 'BYE' })).status).toBe(200);
  await until(() => b.uas.dialogs.size === 0 && a.uac.dialogs.size === 0, 'dialogs gone');
  expect(b.uas.reliable.size).toBe(0);
}

beforeEach(start);
afterEach(cleanup);

describe('100rel / PRACK', () => {
  it('reliable 180 and 183 with consecutive RSeq, each PRACKed with its RAck, then 200', async () => {
    b.plan = async (_req, prov) => {
      prov({ status: 180, reliable: true });
      await until(() => pracks().length === 1, 'first PRACK');
      prov({ status: 183, reliable: true });
      await until(() => pracks().length === 2, 'second PRACK');
      return { status: 200 };
    };
    const out = await call(invite('rel', sdp(1)));
    expect(out.final.status).toBe(200);
    const rel = out.provisionals.filter((r) => r.status > 100);
    expect(rel.map((r) => r.status)).toEqual([180, 183]);
    for (const r of rel) expect(r.header('require')).toContain('100rel');
    const rseqs = rel.map((r) => Number(r.header('rseq')));
    expect(rseqs[1]).toBe((rseqs[0] as number) + 1);
    const inviteCseq = out.final.cseq.seq;
    expect(pracks().map((p) => p.header('rack'))).toEqual(rseqs.map((n) => `${n} ${inviteCseq} INVITE`));
    // the INVITE advertised 100rel, the 1xx were sent reliably only because of it
    expect(b.methods[0]?.headerValues('supported').join(',')).toContain('100rel');
    await hangUp(out.dialog as string);
  });

  it('a caller without 100rel gets a normal 180', async () => {
    b.plan = async (_req, prov) => {
      prov({ status: 180, reliable: true });
      return { status: 486 };
    };
    const out = await call({
      ...invite('norel'),
      headers: [{ op: 'replace', name: 'Supported', value: 'path' }],
    });
    expect(out.final.status).toBe(486);
    const ringing = out.provisionals.find((r) => r.status === 180);
    expect(ringing?.header('rseq')).toBeUndefined();
    expect(pracks()).toHaveLength(0);
    await until(() => b.uas.dialogs.size === 0 && a.uac.dialogs.size === 0, 'dialogs gone');
  });

  it('a second reliable 1xx while the first waits for its PRACK is refused (pending_prack)', async () => {
    b.plan = async (_req, prov) => {
      prov({ status: 180, reliable: true });
      try {
        prov({ status: 183, reliable: true });
      } catch (e) {
        b.errors.push(e);
      }
      return { status: 486 };
    };
    const out = await call(invite('pending'), { manualPrack: true });
    expect(out.final.status).toBe(486);
    expect(b.errors).toHaveLength(1);
    expect(b.errors[0]).toBeInstanceOf(PendingPrack);
    expect(out.provisionals.filter((r) => r.status === 183)).toHaveLength(0);
    await until(() => b.uas.reliable.size === 0 && b.uas.dialogs.size === 0, 'state gone');
  });

  it('no PRACK: the INVITE is rejected 504 after 64*T1, the 1xx reported once', async () => {
    b.plan = async (_req, prov) => {
      prov({ status: 180, reliable: true });
      return new Promise<Reply>(() => {});
    };
    const out = await call(invite('noprack'), { manualPrack: true });
    expect(out.final.status).toBe(504);
    // retransmissions of the reliable 180 are reported once
    expect(out.provisionals.filter((r) => r.status === 180)).toHaveLength(1);
    await until(() => b.uas.reliable.size === 0 && b.uas.dialogs.size === 0, 'state gone');
    expect(a.uac.dialogs.size).toBe(0);
  });

  it('a PRACK with an unknown RSeq gets 481; the unanswered 1xx then times out, nothing leaks', async () => {
    let dialog: string | undefined;
    b.plan = async (_req, prov) => {
      prov({ status: 180, reliable: true });
      return new Promise<Reply>(() => {});
    };
    const result = call(invite('badrack'), { manualPrack: true }, (d) => {
      dialog = d;
    });
    await until(() => dialog !== undefined, 'early dialog');
    const early = a.uac.dialogs.handle(dialog as string) as Dialog;
    const rseq = Number(early.rack?.split(' ')[0]);
    expect(rseq).toBeGreaterThan(0);
    const bad = await inDialog(dialog as string, {
      method: 'PRACK',
      headers: [{ op: 'add', name: 'RAck', value: `${rseq + 5} 1 INVITE` }],
    });
    expect(bad.status).toBe(481);
    // refused before the app: it never saw the PRACK
    expect(pracks()).toHaveLength(0);
    // B's early dialog outlived the 481; without a good PRACK the INVITE ends 504
    expect((await result).final.status).toBe(504);
    await until(() => b.uas.reliable.size === 0 && b.uas.dialogs.size === 0, 'state gone', 3000);
    expect(a.uac.dialogs.size).toBe(0);
    expect(a.uac.stats().pending).toBe(0);
  });

  it('offer in the reliable 183, answer in the PRACK; a 2xx waits for that PRACK', async () => {
    b.plan = async (_req, prov) => {
      prov({ status: 183, reliable: true, body: Buffer.from(sdp(10)), contentType: 'application/sdp' });
      // sent at once, held by the core until the PRACK arrives
      return { status: 200, body: Buffer.from(sdp(10)), contentType: 'application/sdp' };
    };
    const out = await call(invite('media'), { prackBody: Buffer.from(sdp(11)) });
    expect(out.final.status).toBe(200);
    expect(pracks()).toHaveLength(1);
    expect(ver(pracks()[0]?.body as Buffer)).toBe('11');
    expect(a.sessions).toEqual(['start:11/10']);
    await until(() => b.sessions.length === 1, 'B session');
    expect(b.sessions).toEqual(['start:10/11']);
    await hangUp(out.dialog as string);
    expect(a.sessions).toEqual(['start:11/10', 'stop']);
    expect(b.sessions).toEqual(['start:10/11', 'stop']);
  });
});

describe('UPDATE and sessions', () => {
  it('INVITE offer, 2xx answer, then UPDATE offers again and its 2xx answers', async () => {
    b.plan = async () => ({ status: 200, body: Buffer.from(sdp(20)), contentType: 'application/sdp' });
    const out = await call(invite('upd', sdp(1)));
    expect(out.final.status).toBe(200);
    expect(a.sessions).toEqual(['start:1/20']);
    const upd = await inDialog(out.dialog as string, {
      method: 'UPDATE',
      body: Buffer.from(sdp(2)),
      contentType: 'application/sdp',
    });
    expect(upd.status).toBe(200);
    expect(a.sessions).toEqual(['start:1/20', 'update:2/50']);
    await until(() => b.sessions.length === 2, 'B sessions');
    expect(b.sessions).toEqual(['start:20/1', 'update:50/2']);
    await hangUp(out.dialog as string);
  });

  it('an UPDATE with an offer while ours is unanswered: request_pending', async () => {
    b.plan = async () => ({ status: 200, body: Buffer.from(sdp(20)), contentType: 'application/sdp' });
    const out = await call(invite('pend', sdp(1)));
    const dialog = out.dialog as string;
    const held = inDialog(dialog, {
      method: 'UPDATE',
      body: Buffer.from(sdp(2)),
      contentType: 'application/sdp',
      headers: [{ op: 'add', name: 'x-hold', value: '1' }],
    });
    await until(() => b.methods.some((m) => m.method === 'UPDATE'), 'UPDATE at B');
    await expect(
      inDialog(dialog, { method: 'UPDATE', body: Buffer.from(sdp(3)), contentType: 'application/sdp' }),
    ).rejects.toMatchObject({ kind: 'request_pending' });
    // the held UPDATE ends (408 from B's transaction) and the call is still there to hang up
    void held.catch(() => undefined);
    await hangUp(dialog);
  });

  it('a malformed SDP in an INVITE gets 488 and leaves nothing behind', async () => {
    const out = await call({
      ...invite('bad'),
      body: Buffer.from('v=0\r\nthis is not sdp\r\n'),
      contentType: 'application/sdp',
    });
    expect(out.final.status).toBe(488);
    expect(b.methods).toHaveLength(0);
    await sleep(10);
    expect(b.uas.dialogs.size).toBe(0);
    expect(a.uac.dialogs.size).toBe(0);
    expect(a.uac.stats().pending).toBe(0);
  });
});

describe('session timers (RFC 4028)', () => {
  it('422 with Min-SE, the INVITE again with it, the refresher reminded, the other side hangs up', async () => {
    b.timers = { se: 1800, minSe: 2 };
    b.plan = async () => ({ status: 200, body: Buffer.from(sdp(20)), contentType: 'application/sdp' });
    const out = await call(invite('timer', sdp(1)), { timers: { se: 1, minSe: 1 } });
    expect(out.final.status).toBe(200);
    // the 422 never reached the app; the retry asked for the Min-SE it named
    const invites = b.methods.filter((m) => m.method === 'INVITE');
    expect(invites).toHaveLength(1);
    expect(invites[0]?.header('session-expires')).toBe('2');
    expect(invites[0]?.header('min-se')).toBe('2');
    expect(invites[0]?.cseq.seq).toBe(out.final.cseq.seq);
    expect(out.final.header('session-expires')).toBe('2;refresher=uac');
    expect(out.final.header('require')).toBe('timer');
    expect(a.timers.size).toBe(1);
    expect(b.sessionTimers.size).toBe(1);
    // nobody refreshes: B (not the refresher) hangs up at SE - SE/3 with a Reason
    await until(() => a.byes.length === 1, 'BYE from B', 4000);
    expect(a.byes[0]?.header('reason')).toContain('Session Timer Expired');
    // A, the refresher, was reminded at SE/2 with its local SDP (the app did not act on it)
    const reminder = out.updates.find((u) => u.type === 'invite_refresh');
    expect(reminder?.type === 'invite_refresh' && ver(reminder.sdp)).toBe('1');
    await until(() => a.uas.dialogs.size === 0 && b.uas.dialogs.size === 0, 'dialogs gone', 3000);
    expect(a.timers.size).toBe(0);
    expect(b.sessionTimers.size).toBe(0);
  });

  it('the refresher gets invite_refresh at SE/2; a refresh by UPDATE restarts the timers', async () => {
    b.timers = { se: 1800, minSe: 1 };
    const updates: DialogUpdate[] = [];
    const done = new Promise<{ resp: SipResponse; dialog: string }>((resolve, reject) => {
      a.uac.send(
        {
          ...invite('refresh', sdp(1)),
          headers: [{ op: 'add', name: 'Session-Expires', value: '2;refresher=uas' }],
        },
        {
          final: (r, d) => resolve({ resp: r, dialog: d as string }),
          error: (k, m) => reject(new Error(`${k}: ${m}`)),
          dialogUpdate: (u) => void updates.push(u),
        },
      );
    });
    const { resp, dialog } = await within(done, 5000, 'INVITE');
    expect(resp.header('session-expires')).toBe('2;refresher=uas');
    // B refreshes: reminded after about a second, with its local SDP
    await until(() => b.refreshes === 1, 'invite_refresh at B', 3000);
    // A refreshes by UPDATE first, asking for the same interval: both sides start over
    const upd = await inDialog(dialog, {
      method: 'UPDATE',
      headers: [
        { op: 'add', name: 'Session-Expires', value: '2;refresher=uac' },
        { op: 'add', name: 'Supported', value: 'timer' },
      ],
    });
    expect(upd.status).toBe(200);
    expect(upd.header('session-expires')).toBe('2;refresher=uac');
    expect(a.timers.size).toBe(1);
    await hangUp(dialog);
    expect(a.timers.size).toBe(0);
    expect(b.sessionTimers.size).toBe(0);
    expect(updates.some((u) => u.type === 'invite_refresh')).toBe(false);
  });

  it('a Session-Expires below our Min-SE: 422 to the caller, which asks again with that Min-SE', async () => {
    b.timers = { se: 1800, minSe: 90 };
    const out = await call({
      ...invite('small'),
      headers: [{ op: 'add', name: 'Session-Expires', value: '30' }],
    });
    expect(out.final.status).toBe(200);
    const invites = b.methods.filter((m) => m.method === 'INVITE');
    expect(invites.map((m) => m.header('session-expires'))).toEqual(['90']);
    expect(out.final.header('session-expires')).toBe('90;refresher=uac');
    await hangUp(out.dialog as string);
  });
});
