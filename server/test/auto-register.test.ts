// Automatic registrations and pings of an app instance on a fake clock and a fake UAC: what is
// sent when, what the app is told, Retry-After, refresh from the granted expiry, stop and the
// instance leaving (Expires 0, no timer left).
import { describe, expect, it } from 'vitest';
import { appConfig } from '../../test/apps/support.js';
import { appSettings } from '../src/apps/app-config.js';
import { AutoSession } from '../src/apps/auto-register.js';
import type { UacPort } from '../src/apps/uac-commands.js';
import type { UacAuthSpec, UacListener } from '../src/core/uac.js';
import type { UacDefaults, UacRequestSpec } from '../src/core/uac-build.js';
import {
  type AutoCommand,
  type AutoResult,
  type ConnectResponse,
  AutoCommand_Kind as Kind,
  AutoCommand_Op as Op,
} from '../src/gen/nksip/v1/service.js';
import { UacOptions } from '../src/gen/nksip/v1/uac.js';
import { makeResponse } from '../src/sip/build.js';
import type { SipResponse } from '../src/sip/message.js';
import { FakeClock } from '../src/transaction/clock.js';
import { request } from './support/transaction.js';

interface Sent {
  spec: UacRequestSpec;
  listener: UacListener;
  defaults: Partial<UacDefaults> | undefined;
  auth: UacAuthSpec | undefined;
}

function setup() {
  const clock = new FakeClock(1_000_000);
  const sent: Sent[] = [];
  const uac = {
    send: (
      spec: UacRequestSpec,
      listener: UacListener,
      defaults?: Partial<UacDefaults>,
      auth?: UacAuthSpec,
    ) => {
      sent.push({ spec, listener, defaults, auth });
      return { handle: `R_${sent.length}`, callId: spec.callId ?? 'x' };
    },
    cancel: () => false,
    sendInDialog: () => undefined,
  } as unknown as UacPort;
  const out: ConnectResponse[] = [];
  const settings = appSettings({
    app: 'auto',
    callbacks: [],
    token: '',
    instanceId: '',
    batching: false,
    config: appConfig({
      from: 'sip:alice@example.com',
      pass: [{ realm: 'example.com', user: 'alice', password: 'secret' }],
    }),
  });
  const listeners = [{ transport: 'udp' as const, address: '127.0.0.1', port: 5070 }];
  const s = new AutoSession(
    uac,
    settings,
    (m) => out.push(m),
    clock,
    undefined,
    () => listeners,
  );
  const results = () => out.flatMap((m) => (m.msg?.$case === 'autoResult' ? [m.msg.value] : []));
  const regNotes = () =>
    out.flatMap((m) =>
      m.msg?.$case === 'notification' && m.msg.value.event?.$case === 'registration'
        ? [m.msg.value.event.value]
        : [],
    );
  return { clock, sent, s, results, regNotes };
}

const cmd = (c: Partial<AutoCommand>): AutoCommand => ({
  id: 0,
  kind: Kind.KIND_REGISTER,
  op: Op.OP_START,
  name: 'main',
  uri: 'sip:registrar.example.com',
  interval: 0,
  options: undefined,
  ...c,
});

function answer(s: Sent, status: number, headers: [string, string][] = []): void {
  const req = request({ method: s.spec.method, callId: s.spec.callId ?? 'x' });
  const resp: SipResponse = makeResponse(req, status, { headers });
  s.listener.final(resp);
}

describe('auto-register', () => {
  it('registers with our Contact, refreshes at 90 % of the granted expiry, same Call-ID, CSeq growing', () => {
    const t = setup();
    t.s.handle(cmd({ id: 7, interval: 600 }));
    const first = t.sent[0] as Sent;
    expect(first.spec).toMatchObject({
      method: 'REGISTER',
      makeContact: true,
      toAsFrom: true,
      expires: 600,
      cseq: 1,
    });
    expect(t.results()).toEqual([]); // the answer waits for the first result
    answer(first, 200, [['Contact', '<sip:alice@192.0.2.1:5060>;expires=120']]);
    expect(t.results()).toEqual([
      {
        id: 7,
        error: '',
        entries: [{ kind: Kind.KIND_REGISTER, name: 'main', ok: true, code: 200, nextIn: 108 }],
      },
    ]);
    expect(t.regNotes()).toEqual([{ id: 'main', ok: true, code: 200 }]);
    t.clock.advance(107_000);
    expect(t.sent).toHaveLength(1);
    t.clock.advance(1_000);
    const refresh = t.sent[1] as Sent;
    expect([refresh.spec.callId, refresh.spec.cseq]).toEqual([first.spec.callId, 2]);
    answer(refresh, 200, [['Expires', '300']]);
    expect(t.results()).toHaveLength(1); // no change, nothing said
    t.clock.advance(270_000);
    expect(t.sent).toHaveLength(3);
  });

  it("sends as the app's own requests: its From, listeners and credentials (401/407 answered)", () => {
    const { sent, s } = setup();
    s.handle(cmd({ id: 7 }));
    const first = sent[0] as Sent;
    expect(first.defaults?.from).toBe('sip:alice@example.com');
    expect(first.defaults?.listeners).toEqual([{ transport: 'udp', address: '127.0.0.1', port: 5070 }]);
    expect(first.auth?.pass).toEqual([{ realm: 'example.com', user: 'alice', password: 'secret' }]);
  });

  it('a 503 with Retry-After: told of the failure, retried after it, told again when it works', () => {
    const t = setup();
    t.s.handle(cmd({ id: 1, interval: 300 }));
    answer(t.sent[0] as Sent, 503, [['Retry-After', '7']]);
    expect(t.results()[0]?.entries[0]).toMatchObject({ ok: false, code: 503, nextIn: 7 });
    t.clock.advance(6_999);
    expect(t.sent).toHaveLength(1);
    t.clock.advance(1);
    answer(t.sent[1] as Sent, 200);
    expect(t.results()[1]).toMatchObject({ id: 0, entries: [{ ok: true, code: 200 }] });
    expect(t.regNotes().map((n) => n.ok)).toEqual([false, true]);
    // another failure without Retry-After: min(interval, 30 s)
    t.clock.advance(270_000);
    answer(t.sent[2] as Sent, 403);
    expect(t.results()[2]?.entries[0]).toMatchObject({ ok: false, code: 403, nextIn: 30 });
    // no answer at all (transport error): code 0
    t.clock.advance(30_000);
    (t.sent[3] as Sent).listener.error('service_unavailable', 'ECONNREFUSED');
    expect(t.s.size).toBe(1);
    expect(t.results()).toHaveLength(3); // still failing: no change to report
  });

  it('status lists the entries of a kind; stop sends Expires 0 and answers; nothing is left', () => {
    const t = setup();
    t.s.handle(cmd({ id: 1, name: 'a' }));
    t.s.handle(cmd({ id: 2, name: 'p', kind: Kind.KIND_PING, uri: 'sip:peer.example.com', interval: 20 }));
    answer(t.sent[0] as Sent, 200);
    answer(t.sent[1] as Sent, 200);
    expect(t.sent[1]?.spec.method).toBe('OPTIONS');
    t.s.handle(cmd({ id: 3, op: Op.OP_STATUS, kind: Kind.KIND_PING }));
    expect(t.results().at(-1)).toEqual({
      id: 3,
      error: '',
      entries: [{ kind: Kind.KIND_PING, name: 'p', ok: true, code: 200, nextIn: 20 }],
    });
    t.s.handle(cmd({ id: 4, op: Op.OP_STOP, name: 'a' }));
    const unreg = t.sent.at(-1) as Sent;
    expect([unreg.spec.method, unreg.spec.expires]).toEqual(['REGISTER', 0]);
    answer(unreg, 200);
    expect(t.results().at(-1)).toMatchObject({ id: 4, entries: [{ name: 'a', ok: false, nextIn: 0 }] });
    t.s.handle(cmd({ id: 5, op: Op.OP_STOP, name: 'a' }));
    expect(t.results().at(-1)?.error).toMatch(/no registration named "a"/);
    t.s.close();
    expect(t.s.size).toBe(0);
    expect(t.clock.nextDue()).toBeUndefined();
  });

  it('refuses what it cannot do: no name, no or a bad URI; restarting a name replaces it', () => {
    const t = setup();
    const errors: AutoResult[] = [];
    t.s.handle(cmd({ id: 1, name: '' }));
    t.s.handle(cmd({ id: 2, uri: '' }));
    t.s.handle(cmd({ id: 3, uri: 'sip:<<' }));
    errors.push(...t.results());
    expect(errors.map((r) => r.error)).toEqual([
      'name is required',
      'uri is required to start',
      'invalid uri "sip:<<"',
    ]);
    t.s.handle(cmd({ id: 4, options: UacOptions.fromPartial({ from: 'sip:bob@example.com' }) }));
    t.s.handle(cmd({ id: 5 }));
    expect(t.s.size).toBe(1);
    expect(t.results().at(-1)).toEqual({ id: 4, entries: [], error: 'stopped before the first result' });
    expect(t.sent[0]?.spec.from).toBe('sip:bob@example.com');
  });

  it('the instance leaving unregisters what is registered and keeps no timer', () => {
    const t = setup();
    t.s.handle(cmd({ id: 1 }));
    answer(t.sent[0] as Sent, 200);
    t.s.close();
    expect(t.sent.at(-1)?.spec.expires).toBe(0);
    expect(t.clock.nextDue()).toBeUndefined();
  });
});
