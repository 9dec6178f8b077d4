// The auth callbacks through the apps layer (AUTHORIZE / GET_USER_PASS to fake instances:
// defaults, answers, invalid answers, deadlines), the app's `pass` config, and the built-in
// PBX's decisions and config checks.
import { describe, expect, it } from 'vitest';
import { appConfig } from '../../test/apps/support.js';
import { appSettings, InvalidConfig } from '../src/apps/app-config.js';
import { AppDispatcher, type InstanceLink } from '../src/apps/dispatch.js';
import { passFromPb } from '../src/apps/uac-commands.js';
import { makeHa1 } from '../src/auth/digest.js';
import { ConfigError, DEFAULTS, mergeConfig } from '../src/config.js';
import type { AuthDecision, AuthList } from '../src/core/app.js';
import type { RouteDecision } from '../src/core/decision.js';
import type { Reply } from '../src/core/reply.js';
import { AuthorizeDecision_Kind } from '../src/gen/nksip/v1/decisions.js';
import { type Callback, CallbackKind, type ConnectResponse } from '../src/gen/nksip/v1/service.js';
import { pbxApp } from '../src/pbx/pbx.js';
import { FakeClock } from '../src/transaction/clock.js';
import { request, source } from './support/transaction.js';

const K = CallbackKind;

class FakeInstance implements InstanceLink {
  readonly got: ConnectResponse[] = [];
  constructor(readonly id: string) {}
  send(msg: ConnectResponse): void {
    this.got.push(msg);
  }
  last(): Callback {
    const cbs = this.got.flatMap((m) => (m.msg?.$case === 'callback' ? [m.msg.value] : []));
    return cbs[cbs.length - 1] as Callback;
  }
}

function dispatcher(callbacks: CallbackKind[], config: Parameters<typeof appConfig>[0] = {}) {
  const clock = new FakeClock();
  const settings = appSettings({
    app: 'test',
    callbacks,
    token: '',
    instanceId: '',
    batching: false,
    config: appConfig(config),
  });
  const d = new AppDispatcher({
    settings,
    clock,
    profile: () => ({ allow: 'INVITE,ACK,OPTIONS', supported: [], contact: '<sip:192.0.2.1:5060>' }),
  });
  const inst = new FakeInstance('i1');
  d.addInstance(inst);
  return { clock, d, inst, settings };
}

const LIST: AuthList = {
  dialog: true,
  register: false,
  digests: [{ kind: 401, realm: 'r1', user: 'alice', ok: true }],
};

describe('AUTHORIZE and GET_USER_PASS through the apps layer', () => {
  it('not asked for: ok and the anonymous default, nothing sent', async () => {
    const { d, inst } = dispatcher([K.CALLBACK_KIND_INVITE]);
    expect(d.authorize(request(), source(), LIST)).toEqual({ kind: 'ok' });
    expect(d.getUserPass('anonymous', 'r', request(), source())).toBe('');
    expect(d.getUserPass('alice', 'r', request(), source())).toBe(false);
    expect(inst.got).toEqual([]);
  });

  it('authorize carries the AuthList; each decision kind maps back, realm included', async () => {
    const cases: [AuthorizeDecision_Kind, string, AuthDecision][] = [
      [AuthorizeDecision_Kind.KIND_OK, '', { kind: 'ok' }],
      [AuthorizeDecision_Kind.KIND_FORBIDDEN, '', { kind: 'forbidden' }],
      [AuthorizeDecision_Kind.KIND_AUTHENTICATE, 'r9', { kind: 'authenticate', realm: 'r9' }],
      [AuthorizeDecision_Kind.KIND_PROXY_AUTHENTICATE, '', { kind: 'proxy_authenticate' }],
    ];
    for (const [kind, realm, want] of cases) {
      const { d, inst } = dispatcher([K.CALLBACK_KIND_AUTHORIZE]);
      const p = d.authorize(request(), source(), LIST) as Promise<AuthDecision>;
      const cb = inst.last();
      expect(cb.kind).toBe(K.CALLBACK_KIND_AUTHORIZE);
      expect(cb.extra).toEqual({
        $case: 'auth',
        value: { dialog: true, register: false, digests: [{ realm: 'r1', user: 'alice', ok: true }] },
      });
      d.answer(inst, { id: cb.id, answer: { $case: 'authorize', value: { kind, realm } } });
      expect(await p).toEqual(want);
    }
  });

  it('an answer of the wrong kind: 500 Invalid Service Reply and an error to the instance', async () => {
    const { d, inst } = dispatcher([K.CALLBACK_KIND_AUTHORIZE]);
    const p = d.authorize(request(), source(), LIST) as Promise<AuthDecision>;
    d.answer(inst, { id: inst.last().id, answer: { $case: 'ack', value: {} } });
    const got = await p;
    expect(got.kind).toBe('reply');
    expect((got as { reply: Reply }).reply.status).toBe(500);
    expect(inst.got.some((m) => m.msg?.$case === 'error')).toBe(true);
  });

  it('get_user_pass carries user and realm; password, accept and deadline default', async () => {
    const { d, inst, clock } = dispatcher([K.CALLBACK_KIND_GET_USER_PASS], { defaultDeadlineMs: 100 });
    const p1 = d.getUserPass('alice', 'r1', request(), source()) as Promise<string | boolean>;
    expect(inst.last().extra).toEqual({ $case: 'userPass', value: { user: 'alice', realm: 'r1' } });
    d.answer(inst, {
      id: inst.last().id,
      answer: { $case: 'userPass', value: { result: { $case: 'password', value: 'HA1!00' } } },
    });
    expect(await p1).toBe('HA1!00');
    const p2 = d.getUserPass('bob', 'r1', request(), source()) as Promise<string | boolean>;
    d.answer(inst, {
      id: inst.last().id,
      answer: { $case: 'userPass', value: { result: { $case: 'accept', value: true } } },
    });
    expect(await p2).toBe(true);
    const p3 = d.getUserPass('anonymous', 'r1', request(), source()) as Promise<string | boolean>;
    clock.advance(200);
    expect(await p3).toBe('');
  });

  it('the app pass config: kept in order, part of the compared config, realm and user optional', () => {
    const { settings } = dispatcher([], {
      pass: [
        { realm: '', user: '', password: 'jj' },
        { realm: 'r1', user: 'u', password: '4321' },
      ],
    });
    expect(settings.pass.map(passFromPb)).toEqual([
      { password: 'jj' },
      { realm: 'r1', user: 'u', password: '4321' },
    ]);
    const other = dispatcher([], { pass: [{ realm: '', user: '', password: 'other' }] }).settings;
    expect(other.canonical).not.toBe(settings.canonical);
    expect(settings.canonical).not.toMatch(/4321|jj/);
    expect(() =>
      appSettings({
        app: 'x',
        callbacks: [],
        token: '',
        instanceId: '',
        batching: false,
        config: appConfig({ pass: [{ realm: 'a\r\nb', user: '', password: 'p' }] }),
      }),
    ).toThrow(InvalidConfig);
  });
});

// ----------------------------------------------------------------------------- PBX

function pbx() {
  const clock = new FakeClock(5_000_000);
  return pbxApp({
    config: {
      domains: ['example.org', '127.0.0.1'],
      users: { alice: '1234', bob: makeHa1('bob', 'example.org', '5678') },
    },
    profile: () => ({ allow: 'INVITE,ACK,OPTIONS', supported: [] }),
    clock,
  });
}

const EMPTY: AuthList = { dialog: false, register: false, digests: [] };

describe('the built-in PBX', () => {
  it('authorize: 403 for a domain not served, OPTIONS to itself free, 401 for REGISTER, 407 otherwise', () => {
    const p = pbx();
    const auth = (uri: string, method = 'INVITE', list = EMPTY) =>
      p.authorize?.(request({ method, uri }), source(), list) as AuthDecision;
    expect(auth('sip:x@elsewhere.net')).toEqual({
      kind: 'reply',
      reply: { status: 403, reason: 'Domain Not Served' },
    });
    expect(auth('sip:example.org', 'OPTIONS')).toEqual({ kind: 'ok' });
    expect(auth('sip:192.0.2.1:5060', 'OPTIONS')).toEqual({ kind: 'ok' });
    expect(auth('sip:example.org', 'REGISTER')).toEqual({ kind: 'authenticate', realm: 'example.org' });
    expect(auth('sip:bob@example.org')).toEqual({ kind: 'proxy_authenticate', realm: 'example.org' });
    const good: AuthList = {
      ...EMPTY,
      digests: [{ kind: 407, realm: 'example.org', user: 'alice', ok: true }],
    };
    const bad: AuthList = {
      ...EMPTY,
      digests: [{ kind: 407, realm: 'example.org', user: 'alice', ok: false }],
    };
    expect(auth('sip:bob@example.org', 'INVITE', good)).toEqual({ kind: 'ok' });
    expect(auth('sip:bob@example.org', 'INVITE', bad)).toEqual({ kind: 'forbidden' });
    expect(auth('sip:bob@example.org', 'INVITE', { ...EMPTY, register: true })).toEqual({ kind: 'ok' });
    // a digest vouches for its own user only: bob's password does not let one call as alice
    // (the From), nor register alice's AOR (the To); the register token registers nobody
    const asBob: AuthList = {
      ...EMPTY,
      digests: [{ kind: 407, realm: 'example.org', user: 'bob', ok: true }],
    };
    expect(auth('sip:carol@example.org', 'INVITE', asBob)).toEqual({ kind: 'forbidden' });
    const reg = (list: AuthList) =>
      p.authorize?.(request({ method: 'REGISTER', uri: 'sip:example.org' }), source(), list) as AuthDecision;
    // the test request's To is bob: bob's digest registers bob, alice's does not
    expect(reg(asBob)).toEqual({ kind: 'ok' });
    expect(reg(good)).toEqual({ kind: 'forbidden' });
    expect(reg({ ...EMPTY, register: true })).toEqual({ kind: 'authenticate', realm: 'example.org' });
    expect(p.getUserPass?.('alice', 'example.org', request(), source())).toBe('1234');
    expect(p.getUserPass?.('mallory', 'example.org', request(), source())).toBe(false);
    p.close();
  });

  it('route: 404 unknown, 480 known and unregistered, fork to the registered contacts with Record-Route', async () => {
    const p = pbx();
    const route = (uri: string, method = 'INVITE') =>
      p.route(request({ method, uri }), source()) as Promise<RouteDecision>;
    expect(await route('sip:nobody@example.org')).toEqual({ kind: 'reply', reply: { status: 404 } });
    expect(await route('sip:alice@example.org')).toMatchObject({ kind: 'reply', reply: { status: 480 } });
    expect(await route('sip:example.org', 'OPTIONS')).toEqual({ kind: 'process' });
    expect(await route('sip:x@elsewhere.net')).toMatchObject({ kind: 'reply', reply: { status: 403 } });
    // register alice from the source, then she is found
    const reg = request({ method: 'REGISTER', uri: 'sip:example.org' });
    reg.headers = reg.headers.map((h) =>
      h.name === 'to'
        ? { name: 'to', value: '<sip:alice@example.org>' }
        : h.name === 'contact'
          ? { name: 'contact', value: '<sip:alice@192.0.2.10:5060>;expires=60' }
          : h,
    );
    reg.invalidate();
    const r = (await p.method(reg, source())) as Reply;
    expect(r.status).toBe(200);
    expect(r.headers?.find(([n]) => n === 'Allow')?.[1]).toMatch(/REGISTER/);
    expect(await route('sip:alice@example.org')).toEqual({
      kind: 'proxy',
      targets: [['sip:alice@192.0.2.10:5060']],
      options: { recordRoute: true },
    });
    // in a dialog: along a route set only
    const inDialog = request({ method: 'BYE', uri: 'sip:alice@192.0.2.10:5060', toTag: 'x' });
    expect(await p.route(inDialog, source())).toEqual({ kind: 'process' });
    inDialog.addHeader('Route', '<sip:192.0.2.1;lr>');
    expect(await p.route(inDialog, source())).toEqual({ kind: 'proxy', targets: [], options: {} });
    p.close();
  });

  it('config: domains and users checked, HA1 shape checked, unknown keys refused', () => {
    const ok = mergeConfig(DEFAULTS, { pbx: { domains: ['Example.org'], users: { alice: 1234 } } }, 'test');
    expect(ok.pbx).toEqual({ domains: ['example.org'], users: { alice: '1234' } });
    const bad: unknown[] = [
      { users: {} },
      { domains: [] },
      { domains: ['a b'] },
      { domains: ['x'], users: { 'a@b': 'p' } },
      { domains: ['x'], users: { a: 'HA1!1234' } },
      { domains: ['x'], realms: 'r' },
      { domains: ['x'], registrar: { minTime: 0 } },
      { domains: ['x'], registrar: { minTime: 7200, maxTime: 3600 } },
    ];
    for (const b of bad)
      expect(() => mergeConfig(DEFAULTS, { pbx: b }, 'test'), JSON.stringify(b)).toThrow(ConfigError);
  });
});
