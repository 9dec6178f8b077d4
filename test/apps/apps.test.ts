// The apps layer end to end: a real in-process server with its gRPC service on 127.0.0.1:0,
// SipApps as raw grpc-js streams, SIP over a raw UDP socket and sipp.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../server/src/config.js';
import { NamedReply, Reply } from '../../server/src/gen/nksip/v1/decisions.js';
import { ErrorCode } from '../../server/src/gen/nksip/v1/service.js';
import { type Server, startServer } from '../../server/src/server.js';
import { freePort } from '../support/sipp.js';
import { appConfig, K, pbReply, RawApp, SipPeer } from './support.js';

let server: Server;
let sipPort: number;
let peer: SipPeer;
const apps: RawApp[] = [];

function app(): RawApp {
  const a = new RawApp(server.grpcAddress as string);
  apps.push(a);
  return a;
}

beforeAll(async () => {
  server = await startServer({
    ...DEFAULTS,
    listen: ['sip:127.0.0.1:0'],
    grpc: '127.0.0.1:0',
    logLevel: 'silent',
    t1: 100,
    t4: 200,
  });
  sipPort = server.listeners.find((l) => l.transport === 'udp')?.port as number;
  peer = await SipPeer.open();
});

afterEach(async () => {
  for (const a of apps.splice(0)) a.stop();
  // let the server see the streams end
  for (let i = 0; i < 50 && server.apps.registry.describe().some((x) => x.instances > 0); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
});

afterAll(async () => {
  peer.close();
  await server.stop(1000);
});

describe('an app without listen URIs takes over the server listeners', () => {
  it('OPTIONS answered by the app; the built-in app answers again once it leaves', async () => {
    const a = app();
    a.start('takeover', [K.CALLBACK_KIND_OPTIONS]);
    const started = await a.started();
    expect(started.app).toBe('takeover');
    expect(started.instances).toBe(1);
    expect(started.instanceId).not.toBe('');
    expect(started.listeners).toContain(`udp:127.0.0.1:${sipPort}`);
    const { callId } = peer.send('OPTIONS', sipPort);
    const cb = await a.callback((c) => c.request?.callId === callId);
    expect(cb.kind).toBe(K.CALLBACK_KIND_OPTIONS);
    expect(cb.request?.transport).toMatchObject({
      transport: 'udp',
      localPort: sipPort,
      remotePort: peer.port,
    });
    a.answerMethod(cb.id, {
      code: 200,
      reason: 'From App',
      headers: [{ kind: 1, name: 'X-App', value: 'yes' }],
    });
    const r = await peer.final(callId);
    expect([r.status, r.reason, r.header('x-app')]).toEqual([200, 'From App', 'yes']);

    a.stop();
    for (let i = 0; i < 100 && server.apps.registry.describe().length > 0; i++)
      await new Promise((res) => setTimeout(res, 10));
    const again = peer.send('OPTIONS', sipPort);
    const r2 = await peer.final(again.callId);
    expect([r2.status, r2.header('x-app')]).toEqual([200, undefined]);
  });

  it('route decisions: reply (named) and process (then the default)', async () => {
    const a = app();
    a.start('router', [K.CALLBACK_KIND_ROUTE]);
    await a.started();
    const one = peer.send('MESSAGE', sipPort);
    const cb1 = await a.callback((c) => c.request?.callId === one.callId);
    expect(cb1.kind).toBe(K.CALLBACK_KIND_ROUTE);
    a.send({
      $case: 'answer',
      value: {
        id: cb1.id,
        answer: {
          $case: 'route',
          value: {
            decision: { $case: 'reply', value: { ...pbReplyNamed(NamedReply.NAMED_REPLY_NOT_FOUND) } },
          },
        },
      },
    });
    expect((await peer.final(one.callId)).status).toBe(404);
    const two = peer.send('MESSAGE', sipPort);
    const cb2 = await a.callback((c) => c.request?.callId === two.callId);
    a.send({
      $case: 'answer',
      value: { id: cb2.id, answer: { $case: 'route', value: { decision: { $case: 'process', value: {} } } } },
    });
    // MESSAGE's NkSIP default, no method callback asked for
    expect((await peer.final(two.callId)).status).toBe(603);
  });

  it('INVITE answered by the app (busy), ACKed', async () => {
    const a = app();
    a.start('callee', [K.CALLBACK_KIND_INVITE]);
    await a.started();
    const { callId, branch } = peer.send('INVITE', sipPort);
    const cb = await a.callback((c) => c.request?.callId === callId);
    a.answerMethod(cb.id, { named: NamedReply.NAMED_REPLY_BUSY });
    const r = await peer.final(callId);
    expect(r.status).toBe(486);
    expect(r.header('allow')).toBe(DEFAULTS.allow);
    peer.ack(sipPort, r, branch);
  });

  it('an app that never answers: the deadline passes, the default answers, the app is told', async () => {
    const a = app();
    a.start('sleepy', [K.CALLBACK_KIND_OPTIONS], appConfig({ deadlinesMs: { options: 200 } }));
    await a.started();
    const t0 = Date.now();
    const { callId } = peer.send('OPTIONS', sipPort);
    const cb = await a.callback((c) => c.request?.callId === callId);
    expect(cb.deadlineMs).toBe(200);
    const r = await peer.final(callId);
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    const note = await a.waitFor('notification', (n) => n.event?.$case === 'callbackExpired');
    expect(note.event).toEqual({
      $case: 'callbackExpired',
      value: { id: cb.id, kind: K.CALLBACK_KIND_OPTIONS, handledBy: 'default', code: 200 },
    });
  });

  it('an invalid decision: 500 "Invalid Service Reply" and INVALID_ANSWER on the stream', async () => {
    const a = app();
    a.start('wrong', [K.CALLBACK_KIND_OPTIONS]);
    await a.started();
    const { callId } = peer.send('OPTIONS', sipPort);
    const cb = await a.callback((c) => c.request?.callId === callId);
    a.send({
      $case: 'answer',
      value: { id: cb.id, answer: { $case: 'route', value: { decision: { $case: 'process', value: {} } } } },
    });
    const r = await peer.final(callId);
    expect([r.status, r.reason]).toEqual([500, 'Invalid Service Reply']);
    const err = await a.waitFor('error');
    expect(err.code).toBe(ErrorCode.ERROR_CODE_INVALID_ANSWER);
    expect(err.ref).toBe(cb.id);
  });

  it('a double answer and an unknown id: UNKNOWN_CALLBACK, and the server goes on', async () => {
    const a = app();
    a.start('double', [K.CALLBACK_KIND_OPTIONS]);
    await a.started();
    const { callId } = peer.send('OPTIONS', sipPort);
    const cb = await a.callback((c) => c.request?.callId === callId);
    a.answerMethod(cb.id, { code: 200 });
    a.answerMethod(cb.id, { code: 404 });
    a.answerMethod(987654, { code: 404 });
    expect((await peer.final(callId)).status).toBe(200);
    await a.waitFor('error', (e) => e.ref === 987654);
    const errors = a.received
      .filter((m) => m.$case === 'error')
      .map((m) => (m.$case === 'error' ? m.value.code : 0));
    expect(errors).toEqual([ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK, ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK]);
    const next = peer.send('OPTIONS', sipPort);
    const cb2 = await a.callback((c) => c.request?.callId === next.callId);
    a.answerMethod(cb2.id, { code: 200 });
    expect((await peer.final(next.callId)).status).toBe(200);
  });

  it('an instance killed mid-call: its callback goes to the second instance; with none, the default', async () => {
    const a1 = app();
    const a2 = app();
    a1.start('pair', [K.CALLBACK_KIND_INVITE]);
    expect((await a1.started()).instances).toBe(1);
    a2.start('pair', [K.CALLBACK_KIND_INVITE]);
    expect((await a2.started()).instances).toBe(2);
    const { callId, branch } = peer.send('INVITE', sipPort);
    await Promise.race([a1.callback(), a2.callback()]);
    const [first, second] = a1.callbacks().length > 0 ? [a1, a2] : [a2, a1];
    first.kill();
    const moved = await second.callback((c) => c.request?.callId === callId);
    second.answerMethod(moved.id, { code: 486 });
    const r = await peer.final(callId);
    expect(r.status).toBe(486);
    peer.ack(sipPort, r, branch);

    // the last instance dies holding a callback: the default answers, nothing hangs
    const call2 = peer.send('INVITE', sipPort);
    await second.callback((c) => c.request?.callId === call2.callId);
    second.kill();
    const r2 = await peer.final(call2.callId);
    expect(r2.status).toBe(603);
    peer.ack(sipPort, r2, call2.branch);
  });

  it('a second takeover app is refused', async () => {
    const a = app();
    a.start('first', [K.CALLBACK_KIND_OPTIONS]);
    await a.started();
    const b = app();
    b.start('second', [K.CALLBACK_KIND_OPTIONS]);
    const err = await b.waitFor('error');
    expect(err.code).toBe(ErrorCode.ERROR_CODE_LISTEN_FAILED);
    expect(err.message).toMatch(/already served by app first/);
  });
});

describe('batching (Start.batching, RequestBatch, ResponseBatch)', () => {
  it('a RequestBatch is handled message by message; what it makes in one turn comes back as one ResponseBatch', async () => {
    const a = app();
    a.start('batcher', [K.CALLBACK_KIND_OPTIONS], appConfig(), '', true);
    await a.started();
    const dialog = (id: number) => ({
      $case: 'dialogCommand' as const,
      value: { id, op: { $case: 'get' as const, value: `D_none-${id}` } },
    });
    a.send({ $case: 'batch', value: { messages: [1, 2, 3].map((id) => ({ msg: dialog(id) })) } });
    for (const id of [1, 2, 3]) {
      const r = await a.waitFor('dialogResult', (v) => v.id === id);
      expect(r.dialogs).toEqual([]);
    }
    // the three results were written in the turn that handled the batch
    expect(a.batches).toEqual([3]);
    // callbacks answered in a batch: each request gets its answer
    const sent = [peer.send('OPTIONS', sipPort), peer.send('OPTIONS', sipPort)];
    const cbs = await Promise.all(sent.map((s) => a.callback((c) => c.request?.callId === s.callId)));
    a.send({
      $case: 'batch',
      value: {
        messages: cbs.map((cb) => ({
          msg: {
            $case: 'answer' as const,
            value: {
              id: cb.id,
              answer: {
                $case: 'method' as const,
                value: {
                  decision: {
                    $case: 'reply' as const,
                    value: pbReply({ code: 200, reason: `Batched ${cb.id}` }),
                  },
                },
              },
            },
          },
        })),
      },
    });
    for (const [i, s] of sent.entries()) {
      const r = await peer.final(s.callId);
      expect([r.status, r.reason]).toEqual([200, `Batched ${cbs[i]?.id}`]);
    }
  });

  it('a Start or a batch inside a RequestBatch is a PROTOCOL error; the rest of it is handled', async () => {
    const a = app();
    a.start('batcher2', [], appConfig(), '', false);
    await a.started();
    a.send({
      $case: 'batch',
      value: {
        messages: [
          {
            msg: {
              $case: 'start',
              value: { app: 'x', callbacks: [], token: '', instanceId: '', batching: false },
            },
          },
          { msg: { $case: 'batch', value: { messages: [] } } },
          { msg: { $case: 'dialogCommand', value: { id: 7, op: { $case: 'list', value: 'no-such-call' } } } },
        ],
      },
    });
    const r = await a.waitFor('dialogResult', (v) => v.id === 7);
    expect(r.dialogs).toEqual([]);
    const errors = a.received.flatMap((m) => (m.$case === 'error' ? [m.value] : []));
    expect(errors.map((e) => [e.code, /start|batch/.test(e.message)])).toEqual([
      [ErrorCode.ERROR_CODE_PROTOCOL, true],
      [ErrorCode.ERROR_CODE_PROTOCOL, true],
    ]);
    // an app that did not ask for batches gets none
    expect(a.batches).toEqual([]);
    expect(a.ended).toBe(false);
  });
});

describe('apps with their own listeners', () => {
  it('requests on its listener go to the app; the server listener stays with the built-in app', async () => {
    const a = app();
    a.start('own', [K.CALLBACK_KIND_OPTIONS], appConfig({ listen: ['sip:127.0.0.1:0;transport=udp'] }));
    const started = await a.started();
    expect(started.listeners).toHaveLength(1);
    const port = Number(started.listeners[0]?.split(':')[2]);
    expect(port).toBeGreaterThan(0);
    const mine = peer.send('OPTIONS', port);
    const cb = await a.callback((c) => c.request?.callId === mine.callId);
    a.answerMethod(cb.id, { code: 200, reason: 'Own' });
    expect((await peer.final(mine.callId)).reason).toBe('Own');
    const builtIn = peer.send('OPTIONS', sipPort);
    expect((await peer.final(builtIn.callId)).reason).toBe('OK');
    expect(a.callbacks()).toHaveLength(1);
  });

  it('the last instance leaving: its listener stays through the grace period for a rejoin, then closes', async () => {
    const cfg = appConfig({ listen: ['sip:127.0.0.1:0;transport=udp'], graceMs: 300 });
    const a = app();
    a.start('graceful', [K.CALLBACK_KIND_OPTIONS], cfg);
    const port = Number((await a.started()).listeners[0]?.split(':')[2]);
    const open = () => server.transport.listening().some((l) => l.transport === 'udp' && l.port === port);
    a.stop();
    // a restarting instance within the grace period keeps the port
    await new Promise((r) => setTimeout(r, 100));
    expect(open()).toBe(true);
    const b = app();
    b.start('graceful', [K.CALLBACK_KIND_OPTIONS], cfg);
    expect(Number((await b.started()).listeners[0]?.split(':')[2])).toBe(port);
    b.stop();
    await new Promise((r) => setTimeout(r, 700));
    expect(open()).toBe(false);
  });

  it('the registrar plugin: REGISTER is stored and listed back, 423 below the minimum, old CSeq refused', async () => {
    const a = app();
    a.start(
      'registrar-app',
      [],
      appConfig({
        listen: ['sip:127.0.0.1:0;transport=udp'],
        plugins: [{ name: 'registrar', options: { min_time: '60' } }],
      }),
    );
    const port = Number((await a.started()).listeners[0]?.split(':')[2]);
    const callId = `reg-${process.pid}@127.0.0.1`;
    const ok = peer.send('REGISTER', port, { callId, cseq: 2, headers: ['Expires: 120'] });
    const r200 = await peer.final(ok.callId);
    expect(r200.status).toBe(200);
    expect(r200.header('contact')).toBe(`<sip:peer@127.0.0.1:${peer.port}>;expires=120`);
    expect(r200.header('allow')).toMatch(/REGISTER/);
    expect(r200.header('date')).toMatch(/GMT$/);
    const brief = peer.send('REGISTER', port, { headers: ['Expires: 10'] });
    const r423 = await peer.final(brief.callId);
    expect([r423.status, r423.header('min-expires')]).toEqual([423, '60']);
    peer.send('REGISTER', port, { callId, cseq: 1, headers: ['Expires: 120'] });
    const old = await (async () => {
      for (let i = 0; i < 200; i++) {
        const r = peer.responses.find((x) => x.header('call-id') === callId && x.status === 400);
        if (r) return r;
        await new Promise((res) => setTimeout(res, 10));
      }
      return undefined;
    })();
    expect(old?.reason).toBe('Rejected Old CSeq');
    expect(a.callbacks()).toHaveLength(0);
  });

  it('a listen URI already in use: LISTEN_FAILED naming it, stream closed', async () => {
    const a = app();
    a.start(
      'clash',
      [K.CALLBACK_KIND_OPTIONS],
      appConfig({ listen: [`sip:127.0.0.1:${sipPort};transport=udp`] }),
    );
    const err = await a.waitFor('error');
    expect(err.code).toBe(ErrorCode.ERROR_CODE_LISTEN_FAILED);
    expect(err.message).toMatch(new RegExp(`udp 127.0.0.1:${sipPort}.*address already in use`));
    expect((await a.closed())?.code).toBe(status.OK);
  });

  it('same name, another config: CONFIG_MISMATCH; bad config: INVALID_CONFIG naming the field', async () => {
    const a = app();
    a.start('cfg', [K.CALLBACK_KIND_OPTIONS], appConfig({ listen: ['sip:127.0.0.1:0;transport=udp'] }));
    await a.started();
    const b = app();
    b.start('cfg', [K.CALLBACK_KIND_INVITE], appConfig({ listen: ['sip:127.0.0.1:0;transport=udp'] }));
    const err = await b.waitFor('error');
    expect(err.code).toBe(ErrorCode.ERROR_CODE_CONFIG_MISMATCH);
    expect(err.message).toMatch(/differs in: callbacks/);
    const c = app();
    c.start('bad', [K.CALLBACK_KIND_OPTIONS], appConfig({ deadlinesMs: { nope: 1 } }));
    const err2 = await c.waitFor('error');
    expect(err2.code).toBe(ErrorCode.ERROR_CODE_INVALID_CONFIG);
    expect(err2.message).toMatch(/deadlines_ms/);
  });
});

describe('UAC commands', () => {
  it('OPTIONS from the app to a sipp UAS: the final response comes back', async () => {
    const port = await freePort();
    const sipp = spawn(
      'sipp',
      [
        '-sf',
        join(import.meta.dirname, 'scenarios/uas-options.xml'),
        '-i',
        '127.0.0.1',
        '-p',
        String(port),
        '-m',
        '1',
        '-nostdin',
        '-timeout',
        '20s',
      ],
      { stdio: 'ignore', cwd: mkdtempSync(join(tmpdir(), 'nksip-apps-sipp-')) },
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      const a = app();
      a.start('caller', [], appConfig({ from: '<sip:caller@127.0.0.1>' }));
      await a.started();
      a.send({
        $case: 'command',
        value: {
          id: 7,
          method: 'OPTIONS',
          uri: `sip:uas@127.0.0.1:${port}`,
          dialogHandle: '',
          subscriptionHandle: '',
          requestHandle: '',
          options: undefined,
        },
      });
      const ev = await a.waitFor('uacEvent', (e) => e.id === 7, 10_000);
      expect(ev.requestHandle).toMatch(/^R_/);
      expect(ev.callId).not.toBe('');
      expect(ev.event?.$case).toBe('final');
      if (ev.event?.$case === 'final') {
        expect(ev.event.value.code).toBe(200);
        expect(ev.event.value.headers).toContainEqual({ name: 'x-sipp', value: 'uas' });
        expect(ev.event.value.callId).toBe(ev.callId);
      }
    } finally {
      sipp.kill('SIGKILL');
    }
  });

  it('in-dialog commands and ACK without a dialog: unknown_dialog; CANCEL of an unknown handle: unknown_request', async () => {
    const a = app();
    a.start('uacerr', []);
    await a.started();
    const base = { uri: '', dialogHandle: '', subscriptionHandle: '', requestHandle: '', options: undefined };
    a.send({ $case: 'command', value: { ...base, id: 1, method: 'BYE', dialogHandle: 'D_x' } });
    a.send({ $case: 'command', value: { ...base, id: 2, method: 'ACK' } });
    a.send({ $case: 'command', value: { ...base, id: 3, method: 'CANCEL', requestHandle: 'R_none' } });
    const e1 = await a.waitFor('uacEvent', (e) => e.id === 1);
    const e2 = await a.waitFor('uacEvent', (e) => e.id === 2);
    const e3 = await a.waitFor('uacEvent', (e) => e.id === 3);
    expect([e1, e2, e3].map((e) => (e.event?.$case === 'error' ? e.event.value.kind : -1))).toEqual([
      7, 7, 8,
    ]);
  });
});

function pbReplyNamed(named: NamedReply) {
  return Reply.fromPartial({ named });
}

describe('a server with a token', () => {
  let tokenServer: Server;
  beforeAll(async () => {
    tokenServer = await startServer({
      ...DEFAULTS,
      listen: ['sip:127.0.0.1:0;transport=udp'],
      grpc: '127.0.0.1:0',
      grpcToken: 's3cret',
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await tokenServer.stop(500);
  });

  it('a wrong token ends the stream with UNAUTHENTICATED; the right one starts', async () => {
    const bad = new RawApp(tokenServer.grpcAddress as string);
    apps.push(bad);
    bad.start('t', [], appConfig(), 'nope');
    expect((await bad.closed())?.code).toBe(status.UNAUTHENTICATED);
    const good = new RawApp(tokenServer.grpcAddress as string);
    apps.push(good);
    good.start('t', [], appConfig(), 's3cret');
    expect((await good.started()).app).toBe('t');
  });
});
