// NkSIP t23_websocket and the TLS part of t01_basic transport, through conformance apps:
// - basic1: an app listening on WS and WSS with a URL path is reached there (its x-nk-id in
//   the answer); a wrong path is refused at the upgrade;
// - sharing: two apps on one WS port by path, the longest prefix wins;
// - basic2: an app's UAC requests go out over WS (the server as WebSocket client) and over
//   TLS to a sips: URI (certificate checked against the configured CA), reusing the
//   connection for the next request; a TLS peer with a certificate the server does not trust
//   fails the UAC request with service_unavailable and the certificate error.
// The WebSocket peers here are the `ws` library with the `sip` subprotocol, as a browser is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import type { RunningServer } from '../support/server-process.js';
import { freePort } from '../support/sipp.js';
import { conformanceLanguages, type RunningApp, resultHeader } from './apps.js';
import { Children } from './harness.js';

const languages = conformanceLanguages();

/** Sends one OPTIONS over a fresh WebSocket and resolves with the response text. */
function optionsOverWs(url: string, ca?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['sip'], ca ? { ca } : {});
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no answer from ${url}`));
    }, 5000);
    const done = (f: () => void) => {
      clearTimeout(timer);
      ws.terminate();
      f();
    };
    ws.once('unexpected-response', (_req, res) => done(() => reject(new Error(`HTTP ${res.statusCode}`))));
    ws.once('error', (err) => done(() => reject(err)));
    ws.once('open', () => {
      const branch = `z9hG4bK-${Math.random().toString(36).slice(2)}`;
      ws.send(
        `OPTIONS sip:test@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS abc.invalid;branch=${branch}\r\n` +
          'Max-Forwards: 70\r\nFrom: <sip:ws@127.0.0.1>;tag=w1\r\nTo: <sip:test@127.0.0.1>\r\n' +
          `Call-ID: ${branch}\r\nCSeq: 1 OPTIONS\r\nx-nk-op: ok\r\nx-nk-id: ws\r\nContent-Length: 0\r\n\r\n`,
      );
    });
    ws.on('message', (data) => {
      const text = data.toString();
      if (!/^SIP\/2\.0 1\d\d/.test(text)) done(() => resolve(text));
    });
  });
}

const nkId = (text: string) => /\r\nx-nk-id: ([^\r]*)/i.exec(text)?.[1];

describe.each(languages)('%s conformance apps: t23 websocket and t01 TLS transport', (lang) => {
  const children = new Children();
  let certs: TestCerts;
  let server: RunningServer;
  let ws1: RunningApp;
  let ua: RunningApp;
  let wsPort: number;
  let wssPort: number;
  let sharePort: number;
  let tlsPort: number;

  beforeAll(async () => {
    certs = makeTestCerts();
    server = await children.server({
      tls: { cert: certs.good.certFile, key: certs.good.keyFile, ca: certs.good.certFile },
    });
    [wsPort, wssPort, sharePort, tlsPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    ws1 = await children.app(lang, server, {
      name: 'ws1',
      listen: [`sip:127.0.0.1:${wsPort}/ws;transport=ws`, `sip:127.0.0.1:${wssPort}/ws;transport=wss`],
    });
    await children.app(lang, server, {
      name: 'share_root',
      listen: [`sip:127.0.0.1:${sharePort};transport=ws`],
    });
    await children.app(lang, server, {
      name: 'share_b',
      listen: [`sip:127.0.0.1:${sharePort}/b;transport=ws`],
    });
    await children.app(lang, server, { name: 'tls1', listen: [`sips:127.0.0.1:${tlsPort}`] });
    ua = await children.app(lang, server, { name: 'ua', listen: [`sip:127.0.0.1:${await freePort()}`] });
  }, 60_000);

  afterAll(async () => {
    await children.stopAll();
    certs.remove();
  });

  it('basic1: an app on WS and WSS with a path answers there; a wrong path is refused', async () => {
    expect(nkId(await optionsOverWs(`ws://127.0.0.1:${wsPort}/ws`))).toBe('ws,ws1');
    expect(nkId(await optionsOverWs(`wss://127.0.0.1:${wssPort}/ws`, certs.good.cert))).toBe('ws,ws1');
    await expect(optionsOverWs(`ws://127.0.0.1:${wsPort}/other`)).rejects.toThrow('HTTP 404');
    expect(ws1.events.filter((e) => e.ev === 'callback' && e.kind === 'options')).toHaveLength(2);
  });

  it('sharing: two apps on one port by path, the longest prefix wins', async () => {
    expect(nkId(await optionsOverWs(`ws://127.0.0.1:${sharePort}/b`))).toBe('ws,share_b');
    expect(nkId(await optionsOverWs(`ws://127.0.0.1:${sharePort}/b/c/d`))).toBe('ws,share_b');
    expect(nkId(await optionsOverWs(`ws://127.0.0.1:${sharePort}/bc`))).toBe('ws,share_root');
    expect(nkId(await optionsOverWs(`ws://127.0.0.1:${sharePort}/`))).toBe('ws,share_root');
  });

  it('basic2: UAC requests over WS and over TLS (sips:) reach the apps there, twice on one connection', async () => {
    for (const uri of [`sip:127.0.0.1:${sharePort};transport=ws`, `sips:127.0.0.1:${tlsPort}`]) {
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await ua.request('OPTIONS', uri, { headers: [['x-nk-op', 'ok']] });
        expect([uri, r?.code]).toEqual([uri, 200]);
        ids.push(resultHeader(r, 'x-nk-id') ?? '');
      }
      expect(ids).toEqual(uri.startsWith('sips') ? ['tls1', 'tls1'] : ['share_root', 'share_root']);
    }
    // one connection per target, whichever of the server's sides: the server's stats (SIGUSR2)
    server.proc.kill('SIGUSR2');
    const stats = await waitFor(
      () => server.logs.find((l) => l.msg === 'stats')?.stats as { connections: number },
    );
    // WS and TLS, each seen from both ends inside the one server process
    expect(stats.connections).toBe(4);
  });

  it('basic2: a UAC request to a TLS peer the server does not trust fails: service_unavailable, and why', async () => {
    const port = await freePort();
    const { createServer } = await import('node:tls');
    const rogue = createServer({ cert: certs.other.cert, key: certs.other.key }, (s) => s.destroy());
    rogue.on('tlsClientError', () => {});
    await new Promise<void>((r) => rogue.listen(port, '127.0.0.1', r));
    try {
      const r = await ua.request('OPTIONS', `sips:127.0.0.1:${port}`, { headers: [['x-nk-op', 'ok']] });
      // NkSIP's service_unavailable, spelt as each SDK spells it, with OpenSSL's reason
      expect(
        String(r?.error)
          .toLowerCase()
          .replace(/[^a-z]/g, ''),
        JSON.stringify(r),
      ).toBe('serviceunavailable');
      expect(String(r?.message)).toMatch(/certificate verification failed/);
    } finally {
      await new Promise((r) => rogue.close(r));
    }
  });
});

async function waitFor<T>(get: () => T | undefined, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
