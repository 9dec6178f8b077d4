// Dispatch of one app's callbacks to fake instances on a fake clock: defaults without a round
// trip, deadlines, failover, stickiness, invalid and unknown answers, noreply and late replies.

import { describe, expect, it } from 'vitest';
import { appConfig } from '../../test/apps/support.js';
import { type AppSettings, appSettings } from '../src/apps/app-config.js';
import {
  AppDispatcher,
  dialogUpdateToPb,
  type InstanceLink,
  type OverloadLimits,
} from '../src/apps/dispatch.js';
import type { RouteDecision } from '../src/core/decision.js';
import { Dialog } from '../src/core/dialog/dialog.js';
import type { Reply } from '../src/core/reply.js';
import { NamedReply, type Reply as PbReply } from '../src/gen/nksip/v1/decisions.js';
import {
  type Callback,
  type CallbackAnswer,
  CallbackKind,
  type ConnectResponse,
  DialogUpdate_Status,
  ErrorCode,
  type Start,
} from '../src/gen/nksip/v1/service.js';
import { makeResponse } from '../src/sip/build.js';
import { FakeClock } from '../src/transaction/clock.js';
import { request, source } from './support/transaction.js';

const K = CallbackKind;

function start(callbacks: CallbackKind[], config: Partial<NonNullable<Start['config']>> = {}): Start {
  return {
    app: 'test',
    callbacks,
    token: '',
    instanceId: '',
    batching: false,
    config: appConfig(config),
  };
}

class FakeInstance implements InstanceLink {
  readonly got: ConnectResponse[] = [];
  constructor(readonly id: string) {}
  send(msg: ConnectResponse): void {
    this.got.push(msg);
  }
  callbacks(): Callback[] {
    return this.got.flatMap((m) => (m.msg?.$case === 'callback' ? [m.msg.value] : []));
  }
  errors(): { code: ErrorCode; message: string }[] {
    return this.got.flatMap((m) => (m.msg?.$case === 'error' ? [m.msg.value] : []));
  }
  expired() {
    return this.got.flatMap((m) =>
      m.msg?.$case === 'notification' && m.msg.value.event?.$case === 'callbackExpired'
        ? [m.msg.value.event.value]
        : [],
    );
  }
  last(): Callback {
    const cbs = this.callbacks();
    return cbs[cbs.length - 1] as Callback;
  }
}

function reply(code: number, extra: Partial<PbReply> = {}): PbReply {
  return {
    code,
    named: NamedReply.NAMED_REPLY_UNSPECIFIED,
    reason: '',
    headers: [],
    body: Buffer.alloc(0),
    contentType: '',
    contacts: [],
    realm: '',
    allow: '',
    accept: '',
    unsupported: '',
    require: '',
    warning: '',
    minValue: 0,
    ...extra,
  };
}

function methodAnswer(id: number, r: PbReply): CallbackAnswer {
  return { id, answer: { $case: 'method', value: { decision: { $case: 'reply', value: r } } } };
}

function setup(callbacks: CallbackKind[], config: Partial<NonNullable<Start['config']>> = {}, n = 1) {
  const clock = new FakeClock();
  const settings: AppSettings = appSettings(start(callbacks, config));
  const d = new AppDispatcher({
    settings,
    clock,
    profile: () => ({ allow: 'INVITE,ACK,OPTIONS', supported: ['path'], contact: '<sip:192.0.2.1:5060>' }),
  });
  const inst = Array.from({ length: n }, (_, i) => new FakeInstance(`i${i + 1}`));
  for (const i of inst) d.addInstance(i);
  return { clock, d, inst };
}

let n = 0;
const req = (method = 'OPTIONS', callId?: string) =>
  request({ method, callId: callId ?? `c${++n}`, branch: `z9hG4bKd${n}` });

describe('callbacks the app did not ask for', () => {
  it('get NkSIP defaults in-process, nothing sent', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_INVITE]);
    expect(d.route(req(), source())).toEqual({ kind: 'process' });
    const r = d.method(req('OPTIONS'), source()) as Reply;
    expect(r.status).toBe(200);
    expect(r.headers).toContainEqual(['Allow', 'INVITE,ACK,OPTIONS']);
    expect((d.method(req('MESSAGE'), source()) as Reply).status).toBe(603);
    d.ack(req('ACK'), source());
    expect(inst[0]?.got).toEqual([]);
  });

  it('with no instance connected, even listed callbacks get the default', () => {
    const { d, inst } = setup([K.CALLBACK_KIND_OPTIONS]);
    d.removeInstance(inst[0] as FakeInstance);
    expect((d.method(req(), source()) as Reply).status).toBe(200);
  });
});

describe('answers', () => {
  it('a method reply from the app answers the request', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_OPTIONS]);
    const p = d.method(req(), source()) as Promise<Reply>;
    const cb = inst[0]?.last() as Callback;
    expect(cb.kind).toBe(K.CALLBACK_KIND_OPTIONS);
    expect(cb.request?.method).toBe('OPTIONS');
    expect(cb.requestHandle).toMatch(/^R_/);
    expect(cb.deadlineMs).toBe(5000);
    d.answer(inst[0] as FakeInstance, methodAnswer(cb.id, reply(486, { reason: 'Nope' })));
    expect(await p).toEqual({ status: 486, reason: 'Nope' });
  });

  it('a route decision: proxy with a URI set and options', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_ROUTE]);
    const p = d.route(req('INVITE'), source()) as Promise<RouteDecision>;
    const cb = inst[0]?.last() as Callback;
    d.answer(inst[0] as FakeInstance, {
      id: cb.id,
      answer: {
        $case: 'route',
        value: {
          decision: {
            $case: 'proxy',
            value: {
              uriSet: [{ uris: ['sip:a@127.0.0.1'] }, { uris: ['<sip:b@127.0.0.1>', 'sip:c@127.0.0.1'] }],
              options: {
                recordRoute: true,
                path: false,
                followRedirects: false,
                headers: [],
                route: [],
                branchEvents: false,
              },
            },
          },
        },
      },
    });
    expect(await p).toEqual({
      kind: 'proxy',
      targets: [['sip:a@127.0.0.1'], ['sip:b@127.0.0.1', 'sip:c@127.0.0.1']],
      options: { recordRoute: true },
    });
  });

  it('a route decision: strict_proxy is a stateless proxy acting as a strict router', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_ROUTE]);
    const p = d.route(req('BYE'), source()) as Promise<RouteDecision>;
    const cb = inst[0]?.last() as Callback;
    const options = {
      recordRoute: true,
      path: false,
      followRedirects: false,
      headers: [],
      route: [],
      branchEvents: false,
    };
    d.answer(inst[0] as FakeInstance, {
      id: cb.id,
      answer: {
        $case: 'route',
        value: { decision: { $case: 'strictProxy', value: { uriSet: [], options } } },
      },
    });
    expect(await p).toEqual({
      kind: 'proxy_stateless',
      targets: [],
      options: { recordRoute: true, strict: true },
    });
    expect(inst[0]?.errors()).toEqual([]);
  });

  it('branch events: a watched fork asks BRANCH_FINAL; fork, reply, invalid answers and the deadline', async () => {
    const { d, inst, clock } = setup([K.CALLBACK_KIND_ROUTE, K.CALLBACK_KIND_BRANCH_FINAL]);
    const i1 = inst[0] as FakeInstance;
    const proxyWith = async (branchEvents: boolean, stateless = false) => {
      const p = d.route(req('INVITE'), source()) as Promise<RouteDecision>;
      const value = {
        uriSet: [{ uris: ['sip:a@127.0.0.1'] }],
        options: {
          recordRoute: false,
          path: false,
          followRedirects: false,
          headers: [],
          route: [],
          branchEvents,
        },
      };
      d.answer(i1, {
        id: i1.last().id,
        answer: {
          $case: 'route',
          value: { decision: stateless ? { $case: 'proxyStateless', value } : { $case: 'proxy', value } },
        },
      });
      const dec = await p;
      if (dec.kind !== 'proxy' && dec.kind !== 'proxy_stateless') throw new Error(`not a proxy: ${dec.kind}`);
      return dec.options;
    };
    expect((await proxyWith(false)).onBranchFinal).toBeUndefined();
    expect((await proxyWith(true, true)).onBranchFinal).toBeUndefined();
    const opts = await proxyWith(true);
    const ask = opts.onBranchFinal as NonNullable<typeof opts.onBranchFinal>;
    const resp = makeResponse(req('INVITE'), 486);
    const branchAnswer = (
      decision: NonNullable<CallbackAnswer['answer'] & { $case: 'branch' }>['value']['decision'],
    ) => d.answer(i1, { id: i1.last().id, answer: { $case: 'branch', value: { decision } } });

    const a1 = ask({ uri: 'sip:a@127.0.0.1', response: resp, pending: 2 });
    const cb = i1.last();
    expect(cb.kind).toBe(K.CALLBACK_KIND_BRANCH_FINAL);
    expect(cb.request?.method).toBe('INVITE');
    expect(
      cb.extra?.$case === 'branch' && [
        cb.extra.value.uri,
        cb.extra.value.response?.code,
        cb.extra.value.pending,
      ],
    ).toEqual(['sip:a@127.0.0.1', 486, 2]);
    branchAnswer({ $case: 'fork', value: { uriSet: [{ uris: ['sip:vm@127.0.0.1'] }], options: undefined } });
    expect(await a1).toEqual({ kind: 'fork', targets: [['sip:vm@127.0.0.1']], options: {} });

    const a2 = ask({ uri: 'sip:a@127.0.0.1', response: resp, pending: 0 });
    branchAnswer({ $case: 'reply', value: reply(404, { reason: 'Not Here' }) });
    expect(await a2).toEqual({ kind: 'reply', reply: { status: 404, reason: 'Not Here' } });

    const a3 = ask({ uri: 'sip:a@127.0.0.1', response: resp, pending: 0 });
    d.answer(i1, methodAnswer(i1.last().id, reply(200)));
    expect(await a3).toEqual({ kind: 'continue' });
    expect(i1.errors().at(-1)?.code).toBe(ErrorCode.ERROR_CODE_INVALID_ANSWER);

    const a4 = ask({ uri: 'sip:a@127.0.0.1', response: resp, pending: 0 });
    clock.advance(5000);
    expect(await a4).toEqual({ kind: 'continue' });
    expect(i1.expired().at(-1)?.handledBy).toBe('default');
    expect(d.pendingCount()).toBe(0);
  });

  const invalid: [string, CallbackKind, string, CallbackAnswer['answer']][] = [
    [
      'a RouteDecision for a method callback',
      K.CALLBACK_KIND_OPTIONS,
      'OPTIONS',
      { $case: 'route', value: { decision: { $case: 'process', value: {} } } },
    ],
    [
      'a reply with code 0 and no named reply',
      K.CALLBACK_KIND_OPTIONS,
      'OPTIONS',
      { $case: 'method', value: { decision: { $case: 'reply', value: reply(0) } } },
    ],
    [
      'a code outside 100–699',
      K.CALLBACK_KIND_OPTIONS,
      'OPTIONS',
      { $case: 'method', value: { decision: { $case: 'reply', value: reply(700) } } },
    ],
    [
      'process_stateless for an INVITE',
      K.CALLBACK_KIND_ROUTE,
      'INVITE',
      { $case: 'route', value: { decision: { $case: 'processStateless', value: {} } } },
    ],
    ['no answer at all', K.CALLBACK_KIND_OPTIONS, 'OPTIONS', undefined],
  ];
  for (const [what, kind, method, answer] of invalid) {
    it(`${what} → 500 "Invalid Service Reply" and INVALID_ANSWER`, async () => {
      const { d, inst } = setup([kind]);
      const r = req(method);
      const p = kind === K.CALLBACK_KIND_ROUTE ? d.route(r, source()) : d.method(r, source());
      const cb = inst[0]?.last() as Callback;
      d.answer(inst[0] as FakeInstance, { id: cb.id, answer });
      const got = await p;
      const status = 'status' in got ? got.status : got.kind === 'reply' ? got.reply.status : 0;
      expect(status).toBe(500);
      expect(JSON.stringify(got)).toContain('Invalid Service Reply');
      expect(inst[0]?.errors()).toEqual([
        expect.objectContaining({ code: ErrorCode.ERROR_CODE_INVALID_ANSWER }),
      ]);
    });
  }

  it('a double answer and an unknown id → UNKNOWN_CALLBACK, nothing else happens', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_OPTIONS]);
    const i1 = inst[0] as FakeInstance;
    const p = d.method(req(), source());
    const id = i1.last().id;
    d.answer(i1, methodAnswer(id, reply(200)));
    d.answer(i1, methodAnswer(id, reply(404)));
    d.answer(i1, methodAnswer(999, reply(404)));
    expect((await p).status).toBe(200);
    expect(i1.errors().map((e) => e.code)).toEqual([
      ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK,
      ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK,
    ]);
  });

  it('a 1xx answer is sent as a provisional and the request waits; 1xx late replies too, then the final', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_INVITE]);
    const i1 = inst[0] as FakeInstance;
    const sent: number[] = [];
    const p = d.method(req('INVITE'), source(), (r) => {
      sent.push(r.status);
      return true;
    }) as Promise<Reply>;
    const cb = i1.last();
    d.answer(i1, {
      id: cb.id,
      answer: { $case: 'method', value: { decision: { $case: 'reply', value: reply(180) } } },
    });
    d.lateReply(i1, { requestHandle: cb.requestHandle, reply: reply(183) });
    // 100 Trying is the server's own
    d.lateReply(i1, { requestHandle: cb.requestHandle, reply: reply(100) });
    expect(i1.errors().map((e) => e.code)).toEqual([ErrorCode.ERROR_CODE_INVALID_ANSWER]);
    d.lateReply(i1, { requestHandle: cb.requestHandle, reply: reply(200) });
    expect(sent).toEqual([180, 183]);
    expect((await p).status).toBe(200);
  });

  it('a 1xx LateReply before the callback answer (ringing, then noreply) is sent; the final comes later', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_INVITE]);
    const i1 = inst[0] as FakeInstance;
    const sent: number[] = [];
    const p = d.method(req('INVITE'), source(), (r) => {
      sent.push(r.status);
      return true;
    }) as Promise<Reply>;
    const cb = i1.last();
    d.lateReply(i1, { requestHandle: cb.requestHandle, reply: reply(180) });
    d.answer(i1, {
      id: cb.id,
      answer: { $case: 'method', value: { decision: { $case: 'noreply', value: {} } } },
    });
    d.lateReply(i1, { requestHandle: cb.requestHandle, reply: reply(200) });
    expect(sent).toEqual([180]);
    expect((await p).status).toBe(200);
    expect(i1.errors()).toEqual([]);
  });

  it('noreply keeps the request; LateReply answers it; an unknown handle → UNKNOWN_REQUEST', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_INVITE]);
    const i1 = inst[0] as FakeInstance;
    const p = d.method(req('INVITE'), source()) as Promise<Reply>;
    const cb = i1.last();
    d.answer(i1, {
      id: cb.id,
      answer: { $case: 'method', value: { decision: { $case: 'noreply', value: {} } } },
    });
    d.lateReply(i1, { requestHandle: 'R_nope', reply: reply(200) });
    expect(i1.errors()[0]?.code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_REQUEST);
    d.lateReply(i1, { requestHandle: cb.requestHandle, reply: reply(486) });
    expect((await p).status).toBe(486);
    d.lateReply(i1, { requestHandle: cb.requestHandle, reply: reply(486) });
    expect(i1.errors().map((e) => e.code)).toEqual([
      ErrorCode.ERROR_CODE_UNKNOWN_REQUEST,
      ErrorCode.ERROR_CODE_UNKNOWN_REQUEST,
    ]);
  });
});

describe('deadlines and failover', () => {
  it('deadline with one instance → NkSIP default, the app told; a late answer is unknown', async () => {
    const { d, inst, clock } = setup([K.CALLBACK_KIND_INVITE], { deadlinesMs: { invite: 300 } });
    const i1 = inst[0] as FakeInstance;
    const p = d.method(req('INVITE'), source()) as Promise<Reply>;
    const cb = i1.last();
    expect(cb.deadlineMs).toBe(300);
    clock.advance(299);
    expect(d.pendingCount()).toBe(1);
    clock.advance(1);
    expect((await p).status).toBe(603);
    expect(i1.expired()).toEqual([
      { id: cb.id, kind: K.CALLBACK_KIND_INVITE, handledBy: 'default', code: 603 },
    ]);
    d.answer(i1, methodAnswer(cb.id, reply(200)));
    expect(i1.errors()[0]?.code).toBe(ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK);
  });

  it('deadline → the configured deadline reply', async () => {
    const { d, inst, clock } = setup([K.CALLBACK_KIND_ROUTE], {
      defaultDeadlineMs: 100,
      deadlineReplies: { route: reply(0, { named: NamedReply.NAMED_REPLY_TEMPORARILY_UNAVAILABLE }) },
    });
    const p = d.route(req(), source()) as Promise<RouteDecision>;
    clock.advance(100);
    expect(await p).toMatchObject({ kind: 'reply', reply: { status: 480 } });
    expect(inst[0]?.expired()[0]).toMatchObject({ handledBy: 'deadline_reply', code: 480 });
  });

  it('deadline with two instances → re-sent to the other one, which answers', async () => {
    const { d, inst, clock } = setup([K.CALLBACK_KIND_OPTIONS], { defaultDeadlineMs: 100 }, 2);
    const [i1, i2] = inst as [FakeInstance, FakeInstance];
    const p = d.method(req(), source()) as Promise<Reply>;
    expect(i1.callbacks()).toHaveLength(1);
    clock.advance(100);
    expect(i1.expired()[0]?.handledBy).toBe('other_instance');
    expect(i2.callbacks()).toHaveLength(1);
    d.answer(i2, methodAnswer(i2.last().id, reply(202)));
    expect((await p).status).toBe(202);
  });

  it("an instance's stream breaking moves its pending callbacks; with none left the default answers", async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_INVITE, K.CALLBACK_KIND_OPTIONS], {}, 2);
    const [i1, i2] = inst as [FakeInstance, FakeInstance];
    const p = d.method(req('INVITE'), source()) as Promise<Reply>;
    d.removeInstance(i1);
    expect(i2.callbacks()).toHaveLength(1);
    const q = d.method(req('OPTIONS'), source()) as Promise<Reply>;
    d.removeInstance(i2);
    expect((await p).status).toBe(603);
    expect((await q).status).toBe(200);
    expect(d.pendingCount()).toBe(0);
  });

  it('a noreply request whose instance leaves goes to another instance, same handle', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_INVITE], {}, 2);
    const [i1, i2] = inst as [FakeInstance, FakeInstance];
    const p = d.method(req('INVITE'), source()) as Promise<Reply>;
    const cb = i1.last();
    d.answer(i1, {
      id: cb.id,
      answer: { $case: 'method', value: { decision: { $case: 'noreply', value: {} } } },
    });
    d.removeInstance(i1);
    expect(i2.last().requestHandle).toBe(cb.requestHandle);
    d.lateReply(i2, { requestHandle: cb.requestHandle, reply: reply(200) });
    expect((await p).status).toBe(200);
  });
});

describe('sharing among instances', () => {
  it('new requests round robin; a Call-ID sticks to its instance while it lives', () => {
    const { d, inst } = setup([K.CALLBACK_KIND_OPTIONS], {}, 2);
    const [i1, i2] = inst as [FakeInstance, FakeInstance];
    void d.method(req('OPTIONS', 'a'), source());
    void d.method(req('OPTIONS', 'b'), source());
    expect([i1.callbacks().length, i2.callbacks().length]).toEqual([1, 1]);
    for (let k = 0; k < 3; k++) void d.method(req('OPTIONS', 'a'), source());
    expect(i1.callbacks().map((c) => c.request?.callId)).toEqual(['a', 'a', 'a', 'a']);
    d.removeInstance(i1);
    void d.method(req('OPTIONS', 'a'), source());
    expect(i2.callbacks().at(-1)?.request?.callId).toBe('a');
  });
});

describe('stickiness memory', () => {
  it('remembers at most stickyMax Call-IDs, forgetting the oldest; the recent ones still stick', () => {
    const settings: AppSettings = appSettings(start([K.CALLBACK_KIND_OPTIONS]));
    const d = new AppDispatcher({
      settings,
      clock: new FakeClock(),
      profile: () => ({ allow: 'OPTIONS', supported: [], contact: '<sip:192.0.2.1:5060>' }),
      stickyMax: 64,
    });
    const [i1, i2] = [new FakeInstance('i1'), new FakeInstance('i2')];
    d.addInstance(i1);
    d.addInstance(i2);
    let most = 0;
    for (let k = 0; k < 1000; k++) {
      void d.method(req('OPTIONS', `call-${k}`), source());
      most = Math.max(most, d.stickyCount);
    }
    expect(most).toBe(64);
    expect(d.stickyCount).toBeGreaterThanOrEqual(64 - 64 / 16);
    const servedBy = (callId: string) =>
      [i1, i2].filter((i) => i.callbacks().some((c) => c.request?.callId === callId)).map((i) => i.id);
    for (let k = 990; k < 1000; k++) {
      const first = servedBy(`call-${k}`);
      void d.method(req('OPTIONS', `call-${k}`), source());
      expect(servedBy(`call-${k}`)).toEqual(first);
    }
  });
});

describe('dialogs', () => {
  it('in-dialog method and ACK callbacks carry the dialog handle; dialog updates are sent', async () => {
    const { d, inst } = setup([K.CALLBACK_KIND_BYE, K.CALLBACK_KIND_ACK, K.CALLBACK_KIND_DIALOG_UPDATE]);
    const i1 = inst[0] as FakeInstance;
    const invite = req('INVITE', 'dlg');
    const resp = makeResponse(invite, 200, { toTag: 'uas1' });
    const { dialog } = Dialog.uas(invite, resp, { now: 0 });
    const bye = req('BYE', 'dlg');
    const answered = d.method(bye, source(), undefined, { dialog }) as Promise<Reply>;
    expect(i1.last().dialogHandle).toBe(dialog.handle);
    d.answer(i1, methodAnswer(i1.last().id, reply(200)));
    expect((await answered).status).toBe(200);
    d.ack(req('ACK', 'dlg'), source(), { dialog });
    expect(i1.last()).toMatchObject({ kind: K.CALLBACK_KIND_ACK, dialogHandle: dialog.handle });
    d.dialogUpdate(
      { type: 'invite_status', status: { stop: 'caller_bye' } },
      { dialog, req: bye, source: source() },
    );
    const cb = i1.last();
    expect(cb.kind).toBe(K.CALLBACK_KIND_DIALOG_UPDATE);
    expect(cb.dialogHandle).toBe(dialog.handle);
    expect(cb.extra).toMatchObject({
      $case: 'dialogUpdate',
      value: { dialogHandle: dialog.handle, inviteStatus: 'stop', stopReason: 'caller_bye' },
    });
    // an out-of-dialog request carries none
    void d.method(req('BYE'), source());
    expect(i1.last().dialogHandle).toBe('');
  });

  it('dialog updates in the contract form', () => {
    const S = DialogUpdate_Status;
    expect(dialogUpdateToPb('D_1', { type: 'start' })).toMatchObject({ status: S.STATUS_START });
    expect(dialogUpdateToPb('D_1', { type: 'target_update' })).toMatchObject({
      status: S.STATUS_TARGET_UPDATE,
    });
    expect(dialogUpdateToPb('D_1', { type: 'stop' })).toMatchObject({ status: S.STATUS_STOP });
    expect(dialogUpdateToPb('D_1', { type: 'invite_status', status: 'confirmed' })).toMatchObject({
      status: S.STATUS_INVITE_STATUS,
      inviteStatus: 'confirmed',
      stopReason: '',
    });
    expect(dialogUpdateToPb('D_1', { type: 'invite_status', status: { stop: 486 } })).toMatchObject({
      inviteStatus: 'stop',
      stopReason: '486',
    });
  });
});

const PROCESS = { $case: 'route', value: { decision: { $case: 'process', value: {} } } } as const;

/** A dispatcher for route and OPTIONS callbacks with these overload bounds, one instance in. */
function guarded(overload: Partial<OverloadLimits>) {
  const clock = new FakeClock();
  const d = new AppDispatcher({
    settings: appSettings(start([K.CALLBACK_KIND_ROUTE, K.CALLBACK_KIND_OPTIONS])),
    clock,
    profile: () => ({ allow: 'INVITE,ACK,OPTIONS', supported: [] }),
    overload,
  });
  const inst = new FakeInstance('i1');
  d.addInstance(inst);
  return { clock, d, inst };
}

describe('overload guard', () => {
  it('past the callbacks in flight per instance, new requests get 503 at once; room again once answered', async () => {
    const { d, inst } = guarded({ maxPendingPerInstance: 2 });
    const first = d.route(req(), source()) as Promise<RouteDecision>;
    void d.method(req(), source());
    expect(inst.callbacks()).toHaveLength(2);
    // a third route and a third method are turned away without a callback; from route, a
    // non-INVITE without a transaction, an INVITE through its own
    const overloaded = { status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '1']] };
    expect(await d.route(req(), source())).toEqual({ kind: 'reply_stateless', reply: overloaded });
    expect(await d.route(req('INVITE'), source())).toEqual({ kind: 'reply', reply: overloaded });
    expect(((await d.method(req(), source())) as Reply).status).toBe(503);
    expect(inst.callbacks()).toHaveLength(2);
    // a second instance doubles the room
    const inst2 = new FakeInstance('i2');
    d.addInstance(inst2);
    void d.route(req(), source());
    expect(inst.callbacks().length + inst2.callbacks().length).toBe(3);
    // answering frees a place
    const id = inst.callbacks()[0]?.id as number;
    d.answer(inst, { id, answer: PROCESS });
    expect(await first).toEqual({ kind: 'process' });
    void d.route(req(), source());
    expect(inst.callbacks().length + inst2.callbacks().length).toBe(4);
  });

  it('an app answering quickly may hold what it answers in the delay; once it stops answering, the count bounds it', async () => {
    const { clock, d, inst } = guarded({ maxPendingPerInstance: 10, delayMs: 250 });
    let answered = 0;
    const answerAll = () => {
      for (const cb of inst.callbacks().slice(answered)) d.answer(inst, { id: cb.id, answer: PROCESS });
      answered = inst.callbacks().length;
    };
    const status = async (p: RouteDecision | Promise<RouteDecision>) => {
      const d = await p;
      return d.kind === 'reply' || d.kind === 'reply_stateless' ? d.reply.status : 0;
    };
    // 200 answered in 100 ms: about 2 per ms, room for about 500 in flight
    for (let ms = 0; ms < 100; ms++) {
      void d.route(req(), source());
      void d.route(req(), source());
      clock.advance(1);
      answerAll();
    }
    // a pause in the answers (150 ms): what comes meanwhile is taken up to the bound, not the count
    clock.advance(150);
    const held: Promise<RouteDecision>[] = [];
    for (let i = 0; i < 1000; i++) {
      const before = inst.callbacks().length;
      const r = d.route(req(), source()) as Promise<RouteDecision>;
      if (inst.callbacks().length === before) {
        expect(await status(r)).toBe(503);
        break;
      }
      held.push(r);
    }
    expect(held.length).toBeGreaterThanOrEqual(490);
    expect(held.length).toBeLessThanOrEqual(500);
    expect(inst.callbacks().length - answered).toBe(held.length);
    answerAll();
    await expect(held[0]).resolves.toEqual({ kind: 'process' });
    // the app stops answering: 20 in flight are within the rate's bound while the pause is
    // shorter than the half second it goes by, and past the count (10) after that
    for (let i = 0; i < 20; i++) void d.route(req(), source());
    expect(inst.callbacks().length - answered).toBe(20);
    clock.advance(400);
    void d.route(req(), source());
    expect(inst.callbacks().length - answered).toBe(21);
    clock.advance(500);
    expect(await status(d.route(req(), source()))).toBe(503);
    expect(inst.callbacks().length - answered).toBe(21);
    answerAll();
    void d.route(req(), source());
    expect(inst.callbacks().length - answered).toBe(1);
  });

  it('with delayMs 0 the count alone bounds a fast app', async () => {
    const { clock, d, inst } = guarded({ maxPendingPerInstance: 3, delayMs: 0 });
    for (let ms = 0; ms < 200; ms++) {
      void d.route(req(), source());
      clock.advance(1);
      const cb = inst.last();
      d.answer(inst, { id: cb.id, answer: PROCESS });
    }
    for (let i = 0; i < 3; i++) void d.route(req(), source());
    expect(inst.callbacks()).toHaveLength(203);
    expect(((await d.route(req(), source())) as { reply: Reply }).reply.status).toBe(503);
  });
});
