// The registrar commands and the automatic registrations/pings over a real stream: the
// TypeScript SDK's `app.registrar` (find, qfind, delete, clear) and `app.auto` against an
// in-process server, with bindings made by REGISTERs over UDP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AutoStatus, RegistrarError, SipApp } from '../../clients/typescript/src/index.js';
import { DEFAULTS } from '../../server/src/config.js';
import { type Server, startServer } from '../../server/src/server.js';
import { SipPeer } from './support.js';

let server: Server;
let peer: SipPeer;
const apps: SipApp[] = [];

async function app(name: string, plugins: string[] = ['registrar']): Promise<{ app: SipApp; port: number }> {
  const a = await SipApp.start({
    app: name,
    server: server.grpcAddress as string,
    listen: ['sip:127.0.0.1:0;transport=udp'],
    plugins,
    reconnect: false,
  });
  apps.push(a);
  const port = Number(a.startedInfo?.listeners[0]?.split(':')[2]);
  return { app: a, port };
}

async function register(port: number, contacts: string[], expires = 300): Promise<number> {
  const { callId } = peer.send('REGISTER', port, {
    headers: [...contacts.map((c) => `Contact: ${c}`), `Expires: ${expires}`],
  });
  return (await peer.final(callId)).status;
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
  peer = await SipPeer.open();
});

afterAll(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
  peer.close();
  await server.stop(1000);
});

describe('app.registrar', () => {
  it('find and qfind list what REGISTERs stored (by q, a Path as ?Route=); delete and clear remove', async () => {
    const { app: a, port } = await app('reg-cmds');
    const aor = 'sip:app@127.0.0.1';
    expect(await a.registrar.find(aor)).toEqual([]);
    // the default Contact of the peer (q 1) plus two more
    expect(await register(port, ['<sip:low@127.0.0.1:5999>;q=0.1', '<sip:mid@127.0.0.1:5998>;q=0.5'])).toBe(
      200,
    );
    const all = await a.registrar.find(aor);
    expect(all).toEqual([
      `sip:peer@127.0.0.1:${peer.port}`,
      'sip:mid@127.0.0.1:5998',
      'sip:low@127.0.0.1:5999',
    ]);
    expect(await a.registrar.qfind(aor)).toEqual([
      [`sip:peer@127.0.0.1:${peer.port}`],
      ['sip:mid@127.0.0.1:5998'],
      ['sip:low@127.0.0.1:5999'],
    ]);
    expect(await a.registrar.find('sip:nobody@127.0.0.1')).toEqual([]);
    expect(await a.registrar.delete(aor, 'sip:mid@127.0.0.1:5998')).toBe(true);
    expect(await a.registrar.delete(aor, 'sip:mid@127.0.0.1:5998')).toBe(false);
    expect(await a.registrar.find(aor)).toHaveLength(2);
    expect(await a.registrar.delete(aor)).toBe(true);
    expect(await a.registrar.find(aor)).toEqual([]);
    expect(await register(port, [])).toBe(200);
    expect(await a.registrar.find(aor)).toHaveLength(1);
    await a.registrar.clear();
    expect(await a.registrar.find(aor)).toEqual([]);
  });

  it('errors: no registrar plugin, an AOR that is not sip/sips, garbage', async () => {
    const { app: none } = await app('no-reg', []);
    await expect(none.registrar.find('sip:a@127.0.0.1')).rejects.toThrow(/registrar plugin/);
    const { app: a } = await app('reg-errors');
    await expect(a.registrar.qfind('tel:+1234')).rejects.toBeInstanceOf(RegistrarError);
    await expect(a.registrar.delete('not a uri <')).rejects.toThrow(/invalid AOR/);
    // the stream is still fine afterwards
    expect(await a.registrar.find('<sip:a@127.0.0.1>')).toEqual([]);
  });

  it('a stopped app rejects new commands instead of hanging', async () => {
    const { app: a } = await app('reg-stopped');
    await a.stop();
    await expect(a.registrar.find('sip:a@127.0.0.1')).rejects.toThrow(/not connected/);
  });
});

describe('app.auto', () => {
  it('registers with another app acting as registrar, pings it, lists, stops (Expires 0)', async () => {
    const { app: registrar, port } = await app('auto-registrar');
    const { app: ua } = await app('auto-ua', []);
    const aor = 'sip:bob@127.0.0.1';
    const first = await ua.auto.startRegister('main', `sip:127.0.0.1:${port}`, { from: aor, interval: 120 });
    expect(first).toEqual({ kind: 'register', name: 'main', ok: true, code: 200, nextIn: 108 });
    expect(await registrar.registrar.find(aor)).toHaveLength(1);
    const ping = await ua.auto.startPing('p', `sip:127.0.0.1:${port}`, { interval: 30 });
    expect([ping.ok, ping.code, ping.nextIn]).toEqual([true, 200, 30]);
    expect((await ua.auto.registers()).map((s) => s.name)).toEqual(['main']);
    expect((await ua.auto.pings()).map((s) => [s.name, s.ok])).toEqual([['p', true]]);
    const stopped = await ua.auto.stopRegister('main');
    expect([stopped.ok, stopped.code, stopped.nextIn]).toEqual([false, 200, 0]);
    expect(await registrar.registrar.find(aor)).toEqual([]);
    await ua.auto.stopPing('p');
    expect(await ua.auto.registers()).toEqual([]);
    await expect(ua.auto.stopPing('p')).rejects.toThrow(/no ping named "p"/);
  });

  it('a registrar that refuses: the first result says so; the app hears of changes', async () => {
    const { port } = await app('auto-no-registrar', []);
    const { app: ua } = await app('auto-ua2', []);
    const changes: AutoStatus[] = [];
    ua.on('autoStatus', (s) => changes.push(s));
    const first = await ua.auto.startRegister('r', `sip:127.0.0.1:${port}`, { from: 'sip:carol@127.0.0.1' });
    expect([first.ok, first.code, first.nextIn]).toEqual([false, 405, 30]);
    await expect(ua.auto.startRegister('', 'sip:x')).rejects.toThrow(/name is required/);
    await ua.auto.stopRegister('r');
    expect(changes).toEqual([]); // the first result is the start's answer, not a change
  });
});
