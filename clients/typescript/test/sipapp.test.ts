import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Authorize,
  answer,
  Branch,
  backoffDelay,
  backoffPolicy,
  busy,
  noreply,
  ok,
  pb,
  process,
  processStateless,
  proxy,
  raw,
  redirect,
  replaceHeader,
  reply,
  replyStateless,
  ringing,
  ServerError,
  SipApp,
  type SipAppCallbacks,
  type SipAppOptions,
  status,
  UacError,
} from '../src/index.js';
import {
  createTestServer,
  describeAnswer,
  makeRequest,
  makeResponse,
  type TestServer,
} from '../src/testing.js';

let server: TestServer;
const apps: SipApp[] = [];

async function startApp(callbacks: SipAppCallbacks, opts: Partial<SipAppOptions> = {}): Promise<SipApp> {
  const app = await SipApp.start({ app: 'test', server: server.address, ...opts }, callbacks);
  apps.push(app);
  return app;
}

beforeEach(async () => {
  server = await createTestServer();
});

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
  await server.close();
});

describe('Start', () => {
  it('names exactly the callbacks present and carries the config in proto form', async () => {
    const app = await startApp(
      {
        route: () => process(),
        invite: () => busy(),
        getUserPass: () => false,
        dialogUpdate: () => undefined,
      },
      {
        listen: 'sip:127.0.0.1:5070',
        from: '"App" <sip:app@nksip>',
        route: ['sip:proxy@127.0.0.1;lr'],
        localHost: 'example.com',
        timers: { t1: 100, timerC: 60 },
        plugins: ['registrar', { name: 'timers', options: { se: 1800, enabled: true } }],
        allow: ['INVITE', 'ACK', 'BYE'],
        supported: '100rel',
        events: ['presence'],
        deadlines: { invite: 2000, getUserPass: 300, default: 1000 },
        deadlineReplies: { invite: busy() },
        graceMs: 500,
        token: 'secret',
      },
    );
    const conn = server.connections[0];
    expect(conn).toBeDefined();
    const start = conn?.start as pb.Start;
    expect(start.app).toBe('test');
    expect(start.token).toBe('secret');
    expect(start.instanceId).toBe('');
    expect(conn?.callbackNames).toEqual(['route', 'invite', 'getUserPass', 'dialogUpdate']);
    const c = start.config as pb.AppConfig;
    expect(c.listen).toEqual(['sip:127.0.0.1:5070']);
    expect(c.from).toBe('"App" <sip:app@nksip>');
    expect(c.route).toEqual(['sip:proxy@127.0.0.1;lr']);
    expect(c.localHost).toBe('example.com');
    expect(c.timers).toEqual({ t1: 100, t2: 0, t4: 0, timerC: 60, dialogTimeout: 0 });
    expect(c.plugins).toEqual([
      { name: 'registrar', options: {} },
      { name: 'timers', options: { se: '1800', enabled: 'true' } },
    ]);
    expect(c.allow).toBe('INVITE, ACK, BYE');
    expect(c.supported).toBe('100rel');
    expect(c.events).toBe('presence');
    expect(c.deadlinesMs).toEqual({ invite: 2000, get_user_pass: 300 });
    expect(c.defaultDeadlineMs).toBe(1000);
    expect(c.deadlineReplies.invite?.named).toBe(pb.NamedReply.NAMED_REPLY_BUSY);
    expect(c.graceMs).toBe(500);
    expect(app.instanceId).toBe('test-instance-1');
    expect(app.connected).toBe(true);
  });

  it('finds callbacks on a class instance, inherited ones included', async () => {
    class Base {
      options() {
        return ok();
      }
    }
    class MyApp extends Base implements SipAppCallbacks {
      greeting = 'hi';
      invite() {
        return ok({ body: this.greeting });
      }
    }
    await startApp(new MyApp());
    const conn = server.connections[0];
    expect(conn?.callbackNames).toEqual(['invite', 'options']);
    const a = await conn?.callback('invite', { method: 'INVITE' });
    expect(a && describeAnswer(a)).toBe('method:reply:ok');
    const r =
      a?.answer?.$case === 'method' && a.answer.value.decision?.$case === 'reply'
        ? a.answer.value.decision.value
        : undefined;
    expect(r?.body.toString()).toBe('hi');
  });

  it('rejects start on a server Error before Started', async () => {
    await server.close();
    server = await createTestServer({ autoStart: false });
    const p = SipApp.start({ app: 'x', server: server.address }, {});
    const conn = await server.nextConnection();
    conn.error(pb.ErrorCode.ERROR_CODE_CONFIG_MISMATCH, 'app x runs with another config');
    conn.end();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).code).toBe('configMismatch');
    expect((err as ServerError).message).toMatch(/another config/);
  });

  it('rejects start when the token is refused', async () => {
    await server.close();
    server = await createTestServer({ token: 'good' });
    const err = await SipApp.start({ app: 'x', server: server.address, token: 'bad' }, {}).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).grpcCode).toBe(16);
  });
});

describe('callbacks', () => {
  it('answers route with each decision type', async () => {
    await startApp({
      route: (req) => {
        switch (req.header('x-op')) {
          case 'proxy':
            return proxy(['sip:a@h', ['sip:b@h', 'sip:c@h']], {
              recordRoute: true,
              followRedirects: true,
              headers: [replaceHeader('x-nk-id', 'p1')],
              route: ['sip:r@h;lr'],
            });
          case 'flat':
            return proxy(['sip:a@h', 'sip:b@h']);
          case 'ruri':
            return proxy();
          case 'reply':
            return reply(busy());
          case 'stateless':
            return replyStateless(status(404, { reason: 'Nobody' }));
          case 'pstateless':
            return processStateless();
          default:
            return process();
        }
      },
    });
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const route = (op: string) => conn.callback('route', { headers: { 'x-op': op } });
    expect(describeAnswer(await route('none'))).toBe('route:process');
    expect(describeAnswer(await route('pstateless'))).toBe('route:processStateless');
    expect(describeAnswer(await route('reply'))).toBe('route:reply:busy');
    expect(describeAnswer(await route('stateless'))).toBe('route:replyStateless:404');
    const p = await route('proxy');
    const d = p.answer?.$case === 'route' ? p.answer.value.decision : undefined;
    expect(d?.$case).toBe('proxy');
    const px = d?.value as pb.Proxy;
    expect(px.uriSet).toEqual([{ uris: ['sip:a@h'] }, { uris: ['sip:b@h', 'sip:c@h'] }]);
    expect(px.options).toMatchObject({ recordRoute: true, followRedirects: true, route: ['sip:r@h;lr'] });
    expect(px.options?.headers).toEqual([
      { kind: pb.HeaderOp_Kind.KIND_REPLACE, name: 'x-nk-id', value: 'p1' },
    ]);
    const flat = await route('flat');
    expect(flat.answer?.$case === 'route' && flat.answer.value.decision?.value).toMatchObject({
      uriSet: [{ uris: ['sip:a@h', 'sip:b@h'] }],
    });
    const ruri = await route('ruri');
    expect(ruri.answer?.$case === 'route' && ruri.answer.value.decision?.value).toMatchObject({ uriSet: [] });
  });

  it('gives method callbacks a friendly request and sends their replies', async () => {
    const seen: string[] = [];
    await startApp({
      invite: (req) => {
        seen.push(
          req.method,
          req.ruri.user,
          req.from.tag,
          req.callId,
          String(req.cseq),
          req.header('X-Custom') ?? '',
        );
        seen.push(req.headers('x-multi').join('|'), req.header('i') ?? '', req.text, req.transport.remoteIp);
        return answer(req.body, { headers: { 'x-echo': 'yes' } });
      },
      options: () => ({ code: 200, reason: 'Fine', contentType: 'text/plain', body: 'hello' }),
      register: () => redirect(['sip:a@h', 'sip:b@h']),
    });
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const a = await conn.callback('invite', {
      method: 'INVITE',
      ruri: 'sip:bob@127.0.0.1:5060',
      callId: 'abc@x',
      cseq: 7,
      headers: [
        ['X-Custom', 'v1'],
        ['x-multi', 'a'],
        ['x-multi', 'b, c'],
      ],
      body: 'v=0\r\n',
    });
    expect(seen).toEqual([
      'INVITE',
      'bob',
      'from-tag-1',
      'abc@x',
      '7',
      'v1',
      'a|b, c',
      'abc@x',
      'v=0\r\n',
      '127.0.0.1',
    ]);
    const r =
      a.answer?.$case === 'method' && a.answer.value.decision?.$case === 'reply'
        ? a.answer.value.decision.value
        : undefined;
    expect(r?.named).toBe(pb.NamedReply.NAMED_REPLY_ANSWER);
    expect(r?.body.toString()).toBe('v=0\r\n');
    expect(r?.headers).toEqual([{ kind: pb.HeaderOp_Kind.KIND_ADD, name: 'x-echo', value: 'yes' }]);
    const o = await conn.callback('options');
    const or =
      o.answer?.$case === 'method' && o.answer.value.decision?.$case === 'reply'
        ? o.answer.value.decision.value
        : undefined;
    expect(or).toMatchObject({ code: 200, reason: 'Fine', contentType: 'text/plain' });
    expect(or?.body.toString()).toBe('hello');
    const g = await conn.callback('register', { method: 'REGISTER' });
    expect(describeAnswer(g)).toBe('method:reply:redirect');
    expect(g.answer?.$case === 'method' && g.answer.value.decision?.value).toMatchObject({
      contacts: ['sip:a@h', 'sip:b@h'],
    });
  });

  it('sends noreply, then late replies by request handle', async () => {
    await startApp({
      invite: (req) => {
        req.reply(ringing());
        setTimeout(() => req.reply(ok()), 20);
        return noreply();
      },
    });
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const a = await conn.callback('invite', { method: 'INVITE' }, { requestHandle: 'R_42' });
    expect(describeAnswer(a)).toBe('method:noreply');
    const l1 = await conn.nextLateReply();
    const l2 = await conn.nextLateReply();
    expect(l1.requestHandle).toBe('R_42');
    expect(l1.reply?.named).toBe(pb.NamedReply.NAMED_REPLY_RINGING);
    expect(l2.reply?.named).toBe(pb.NamedReply.NAMED_REPLY_OK);
  });

  it('answers authorize, getUserPass, notifications and branchFinal', async () => {
    const events: string[] = [];
    await startApp({
      authorize: (auth) =>
        auth.digests.some((d) => d.ok) ? Authorize.ok() : Authorize.proxyAuthenticate('r1'),
      getUserPass: (user, realm) => (user === 'alice' && realm === 'r1' ? 'pw' : false),
      ack: (req) => {
        events.push(`ack ${req.method}`);
      },
      cancel: (invite, cancel) => {
        events.push(`cancel ${invite.method} ${cancel.method}`);
      },
      dialogUpdate: (u) => {
        events.push(`dialog ${u.status} ${u.inviteStatus}`);
      },
      sessionUpdate: async (u) => {
        events.push(`session ${u.kind} ${u.remoteSdp.toString()}`);
      },
      branchFinal: (b) => (b.response.code === 486 ? Branch.reply(busy()) : Branch.fork(['sip:next@h'])),
    });
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const auth = (ok: boolean) =>
      conn.callback(
        'authorize',
        {},
        {
          extra: {
            $case: 'auth',
            value: { digests: [{ realm: 'r1', user: 'alice', ok }], dialog: false, register: false },
          },
        },
      );
    expect(describeAnswer(await auth(true))).toBe('authorize:ok');
    const a2 = await auth(false);
    expect(describeAnswer(a2)).toBe('authorize:proxyAuthenticate');
    expect(a2.answer?.$case === 'authorize' && a2.answer.value.realm).toBe('r1');
    const up = await conn.callback(
      'getUserPass',
      {},
      { extra: { $case: 'userPass', value: { user: 'alice', realm: 'r1' } } },
    );
    expect(up.answer?.$case === 'userPass' && up.answer.value.result).toEqual({
      $case: 'password',
      value: 'pw',
    });
    const up2 = await conn.callback(
      'getUserPass',
      {},
      { extra: { $case: 'userPass', value: { user: 'bob', realm: 'r1' } } },
    );
    expect(describeAnswer(up2)).toBe('userPass:accept=false');
    expect(describeAnswer(await conn.callback('ack', { method: 'ACK' }))).toBe('ack');
    const cancelReq = makeRequest({ method: 'CANCEL' });
    expect(
      describeAnswer(
        await conn.callback('cancel', { method: 'INVITE' }, { extra: { $case: 'cancel', value: cancelReq } }),
      ),
    ).toBe('ack');
    const du: pb.DialogUpdate = {
      dialogHandle: 'D_1',
      status: pb.DialogUpdate_Status.STATUS_INVITE_STATUS,
      inviteStatus: 'confirmed',
      stopReason: '',
      sdp: Buffer.alloc(0),
      subscriptionHandle: '',
      retryAfter: 0,
    };
    expect(
      describeAnswer(
        await conn.callback('dialogUpdate', undefined, { extra: { $case: 'dialogUpdate', value: du } }),
      ),
    ).toBe('ack');
    const su: pb.SessionUpdate = {
      dialogHandle: 'D_1',
      kind: pb.SessionUpdate_Kind.KIND_START,
      localSdp: Buffer.from('l'),
      remoteSdp: Buffer.from('r'),
    };
    expect(
      describeAnswer(
        await conn.callback('sessionUpdate', undefined, { extra: { $case: 'sessionUpdate', value: su } }),
      ),
    ).toBe('ack');
    const branch = (code: number) =>
      conn.callback(
        'branchFinal',
        { method: 'INVITE' },
        { extra: { $case: 'branch', value: { uri: 'sip:x@h', response: makeResponse(code), pending: 1 } } },
      );
    expect(describeAnswer(await branch(486))).toBe('branch:reply');
    expect(describeAnswer(await branch(404))).toBe('branch:fork');
    expect(events).toEqual([
      'ack ACK',
      'cancel INVITE CANCEL',
      'dialog inviteStatus confirmed',
      'session start r',
    ]);
  });

  it('answers 500 when a callback throws or returns an invalid answer, and tells the app', async () => {
    const app = await startApp({
      invite: () => {
        throw new Error('boom');
      },
      // biome-ignore lint/suspicious/noExplicitAny: an invalid answer on purpose
      options: () => ({ code: 42 }) as any,
      route: () => raw({ $case: 'method', value: { decision: undefined } }),
    });
    const errors: string[] = [];
    app.on('callbackError', (name, e) => errors.push(`${name}: ${(e as Error).message}`));
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    expect(describeAnswer(await conn.callback('invite', { method: 'INVITE' }))).toBe('method:reply:500');
    expect(describeAnswer(await conn.callback('options'))).toBe('method:reply:500');
    expect(describeAnswer(await conn.callback('route', {}))).toBe('method:none');
    expect(errors).toEqual(['invite: boom', 'options: invalid reply code 42']);
  });

  it('surfaces notifications and server errors as events', async () => {
    const app = await startApp({});
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const expired = new Promise((resolve) => app.once('callbackExpired', resolve));
    const error = new Promise<ServerError>((resolve) => app.once('error', resolve));
    const dialog = new Promise((resolve) => app.once('dialogUpdate', resolve));
    conn.notify({
      event: {
        $case: 'callbackExpired',
        value: { id: 9, kind: pb.CallbackKind.CALLBACK_KIND_INVITE, handledBy: 'default', code: 603 },
      },
    });
    conn.notify({
      event: {
        $case: 'dialogUpdate',
        value: {
          dialogHandle: 'D_9',
          status: pb.DialogUpdate_Status.STATUS_STOP,
          inviteStatus: '',
          stopReason: 'callee_bye',
          sdp: Buffer.alloc(0),
          subscriptionHandle: '',
          retryAfter: 0,
        },
      },
    });
    conn.error(pb.ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK, 'no callback 77', 77);
    expect(await expired).toEqual({ id: 9, kind: 'invite', handledBy: 'default', code: 603 });
    expect(await dialog).toMatchObject({ dialogHandle: 'D_9', status: 'stop', stopReason: 'callee_bye' });
    const e = await error;
    expect(e.code).toBe('unknownCallback');
    expect(e.ref).toBe(77);
  });
});

describe('UAC', () => {
  it('sends a command and resolves with the final response', async () => {
    const app = await startApp({});
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const p = app.options('sip:bob@127.0.0.1:5080', { headers: { 'x-a': '1' }, pass: 'pw', expires: 30 });
    const cmd = await conn.nextCommand();
    expect(cmd).toMatchObject({ method: 'OPTIONS', uri: 'sip:bob@127.0.0.1:5080', dialogHandle: '' });
    expect(cmd.options).toMatchObject({
      provisionals: false,
      expires: 30,
      pass: [{ realm: '', user: '', password: 'pw' }],
    });
    expect(cmd.options?.cseq).toBeUndefined();
    conn.respond(cmd, 200, { reason: 'OK', headers: { allow: 'INVITE' }, callId: 'c1' });
    const res = await p;
    expect(res.code).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.header('Allow')).toBe('INVITE');
    expect(res.callId).toBe('c1');
    expect(res.requestHandle).toBe(`R_uac_${cmd.id}`);
  });

  it('streams provisionals to onProvisional and the async iterator, then CANCELs', async () => {
    const app = await startApp({});
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const seen: number[] = [];
    const call = app.invite('sip:bob@h', { body: 'v=0', onProvisional: (r) => seen.push(r.code) });
    const cmd = await conn.nextCommand();
    expect(cmd.method).toBe('INVITE');
    expect(cmd.options?.provisionals).toBe(true);
    expect(cmd.options?.body.toString()).toBe('v=0');
    const iterated: number[] = [];
    const iterating = (async () => {
      for await (const r of call) iterated.push(r.code);
    })();
    conn.respond(cmd, 100, { requestHandle: 'R_inv' });
    conn.respond(cmd, 180, { requestHandle: 'R_inv', dialogHandle: 'D_early' });
    const cancel = call.cancel('SIP;cause=487');
    const ccmd = await conn.nextCommand();
    expect(ccmd).toMatchObject({ method: 'CANCEL', requestHandle: 'R_inv' });
    expect(ccmd.options?.reason).toBe('SIP;cause=487');
    conn.respond(ccmd, 200);
    expect((await cancel).code).toBe(200);
    conn.respond(cmd, 487, { requestHandle: 'R_inv' });
    const fin = await call;
    await iterating;
    expect(fin.code).toBe(487);
    expect(seen).toEqual([100, 180]);
    expect(iterated).toEqual([100, 180]);
  });

  it('sends in-dialog and subscription requests by handle', async () => {
    const app = await startApp({});
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    void app.bye('D_1', { reason: 'SIP;cause=200' });
    expect(await conn.nextCommand()).toMatchObject({ method: 'BYE', uri: '', dialogHandle: 'D_1' });
    void app.notify('U_1', { subscriptionState: 'terminated;reason=noresource' });
    const n = await conn.nextCommand();
    expect(n).toMatchObject({ method: 'NOTIFY', subscriptionHandle: 'U_1' });
    expect(n.options?.subscriptionState).toBe('terminated;reason=noresource');
    void app.request('foo', { dialog: 'D_2' }, { cseq: 9 });
    const f = await conn.nextCommand();
    expect(f).toMatchObject({ method: 'FOO', dialogHandle: 'D_2' });
    expect(f.options?.cseq).toBe(9);
  });

  it('rejects with a typed UacError', async () => {
    const app = await startApp({});
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    const p = app.message('not a uri');
    const cmd = await conn.nextCommand();
    conn.uacEvent({
      id: cmd.id,
      event: {
        $case: 'error',
        value: { kind: pb.UacErrorKind.UAC_ERROR_KIND_INVALID_URI, message: 'bad uri' },
      },
    });
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UacError);
    expect((e as UacError).kind).toBe('invalidUri');
    expect((e as UacError).message).toBe('bad uri');
  });
});

describe('connection', () => {
  it('rejects pending requests when the stream breaks, reconnects with the same instance id and rejoins', async () => {
    const app = await startApp(
      { options: () => ok() },
      { reconnect: { initialDelayMs: 20, maxDelayMs: 50 } },
    );
    const first = await server.nextConnection();
    const pending = app.options('sip:x@h');
    await first.nextCommand();
    const disconnected = new Promise((resolve) => app.once('disconnected', resolve));
    const restarted = new Promise<{ reconnected: boolean; instanceId: string }>((resolve) =>
      app.once('started', resolve),
    );
    await server.restart();
    const e = await pending.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UacError);
    expect((e as UacError).kind).toBe('disconnected');
    await disconnected;
    const second = await server.nextConnection(10_000);
    expect(second.start.instanceId).toBe('test-instance-1');
    expect(second.callbackNames).toEqual(['options']);
    expect(await restarted).toMatchObject({ reconnected: true, instanceId: 'test-instance-1' });
    expect(app.connected).toBe(true);
    expect(describeAnswer(await second.callback('options'))).toBe('method:reply:ok');
  });

  it('fails UAC calls at once while disconnected', async () => {
    const app = await startApp({}, { reconnect: { initialDelayMs: 5000 } });
    await server.close();
    await new Promise((resolve) => app.once('disconnected', resolve));
    const e = await app.options('sip:x@h').catch((x: unknown) => x);
    expect((e as UacError).kind).toBe('notConnected');
  });

  it('stops cleanly: sends Stop, ends the stream, resolves when closed', async () => {
    const app = await startApp({});
    const conn = server.connections[0];
    if (!conn) throw new Error('no connection');
    let closed = false;
    app.on('closed', () => {
      closed = true;
    });
    const pending = app.options('sip:x@h');
    await conn.nextCommand();
    await app.stop();
    expect(conn.stopped).toBe(true);
    expect(closed).toBe(true);
    expect(app.connected).toBe(false);
    expect(((await pending.catch((x: unknown) => x)) as UacError).kind).toBe('disconnected');
    await conn.closed;
    await app.stop();
  });

  it('stops with reconnect disabled when the stream breaks', async () => {
    const app = await startApp({}, { reconnect: false });
    await server.close();
    await app.closed;
    expect(app.connected).toBe(false);
  });
});

describe('backoff', () => {
  it('grows, caps and jitters', () => {
    const p = backoffPolicy({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 });
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(p, n, () => 0))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(p, 2, () => 1)).toBe(100);
    expect(backoffPolicy(false).enabled).toBe(false);
  });
});
