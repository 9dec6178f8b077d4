// Bad input on the TLS and WebSocket listeners of the built CLI: a plain TCP peer speaking
// SIP to the TLS port, a TLS client that refuses the server's certificate, WebSocket upgrades
// with a wrong subprotocol or path, a WebSocket message over the limit. Each is refused or
// closed; then the server's own counts (SIGUSR2 stats) show no connection left, and every
// listener still answers an OPTIONS.
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import { type RunningServer, serverStats, startCli } from '../support/server-process.js';

const OPTIONS = (via: string) =>
  `OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/${via};branch=z9hG4bK-${Math.random().toString(36).slice(2)}\r\n` +
  'Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ' +
  `${Math.random()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;

/** Resolves with the WebSocket's close code, or the HTTP status its upgrade got. */
function wsOutcome(url: string, protocols: string[], send?: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      resolve(`HTTP ${res.statusCode}`);
    });
    ws.once('error', () => {});
    ws.once('open', () => {
      if (send !== undefined) ws.send(send);
    });
    ws.once('message', (d) => {
      ws.terminate();
      resolve(d.toString().split('\r\n')[0] ?? '');
    });
    ws.once('close', (code) => resolve(`close ${code}`));
  });
}

describe('bad input on TLS and WebSocket listeners', () => {
  let certs: TestCerts;
  let server: RunningServer;

  beforeAll(async () => {
    certs = makeTestCerts();
    server = await startCli({
      listen: ['sips:127.0.0.1:0', 'sip:127.0.0.1:0/ws;transport=ws'],
      logLevel: 'info',
      wsMaxMessage: 2048,
      tls: { cert: certs.good.certFile, key: certs.good.keyFile },
    });
  });

  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    certs.remove();
  });

  const connections = async () => (await serverStats<{ connections: number }>(server)).connections;

  /** An OPTIONS over a fresh TLS connection trusting the test certificate: the status line. */
  function tlsOptions(): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: server.port('tls'), ca: certs.good.cert }, () =>
        s.write(OPTIONS(`TLS 127.0.0.1:${s.localPort}`)),
      );
      s.once('error', reject);
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().split('\r\n')[0] ?? '');
      });
    });
  }

  it('closes each bad peer, counts back to zero, and every listener still serves', async () => {
    // plain TCP speaking SIP to the TLS port
    const plain = tcpConnect({ host: '127.0.0.1', port: server.port('tls') });
    plain.on('error', () => {});
    plain.write(OPTIONS('TCP 127.0.0.1:9'));
    await new Promise((r) => plain.once('close', r));
    // a TLS client that does not trust the server's certificate gives up in the handshake
    await new Promise<void>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: server.port('tls') });
      s.once('error', (err) => {
        expect(err.message).toMatch(/self-signed/);
        resolve();
      });
    });
    const ws = `ws://127.0.0.1:${server.port('ws')}`;
    expect(await wsOutcome(`${ws}/ws`, ['chat'])).toBe('HTTP 400');
    expect(await wsOutcome(`${ws}/nope`, ['sip'])).toBe('HTTP 404');
    expect(
      await wsOutcome(
        `${ws}/ws`,
        ['sip'],
        OPTIONS(`WS x.invalid`).replace('\r\n\r\n', `\r\nX-Big: ${'x'.repeat(4096)}\r\n\r\n`),
      ),
    ).toBe('close 1009');
    // the failures are in the log, and nothing is left open
    expect(server.logs.some((l) => l.msg === 'tls handshake failed')).toBe(true);
    expect(server.logs.some((l) => /websocket upgrade refused/.test(String(l.msg)))).toBe(true);
    for (let i = 0; i < 50 && (await connections()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await connections()).toBe(0);
    expect(await tlsOptions()).toBe('SIP/2.0 200 OK');
    expect(await wsOutcome(`${ws}/ws`, ['sip'], OPTIONS('WS x.invalid'))).toBe('SIP/2.0 200 OK');
  });
});
