// A browser SIP stack against the built server: JsSIP (bundled for the page by esbuild) in
// headless Debian chromium (playwright-core), on a page served from 127.0.0.1, registers as
// alice to the built-in PBX over WS, and over WSS, then
// - calls bob, a sipp UAS registered over UDP, through the PBX (the INVITE authorised by the
//   registration, as the PBX does for requests from a registered contact): 180, 200, ACK
//   along the Record-Route, then the browser hangs up;
// - is called by bob (sipp, registered from the port it calls from): the PBX reaches the
//   browser over its WebSocket (the flow its registration named), the browser answers, and
//   bob's BYE comes to it the same way along the Record-Route.
// The WSS profile trusts the self-signed test certificate with --ignore-certificate-errors
// (the test profile only). The SDPs the sipp scenarios send are ones WebRTC accepts; no media
// flows. NKSIP_BROWSER_DEBUG=1 prints JsSIP's log and the server's.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import { ROOT, type RunningServer, startCli } from '../support/server-process.js';
import { freePort, runSipp } from '../support/sipp.js';

const CHROMIUM = '/usr/bin/chromium';

const PAGE_HTML = '<!doctype html><title>nksip browser test</title><script src="/jssip.js"></script>';

/** The little of JsSIP's API the page uses. */
interface JsSipEvent {
  response?: { status_code: number };
  session?: unknown;
  cause?: string;
  originator?: string;
}
interface JsSipEmitter {
  on(event: string, f: (e: JsSipEvent) => void): void;
}
interface JsSipSession extends JsSipEmitter {
  terminate(): void;
  answer?(options: object): void;
}
interface JsSipUa extends JsSipEmitter {
  start(): void;
  stop(): void;
  call(target: string, options: object): JsSipSession;
}
interface JsSipApi {
  UA: new (config: object) => JsSipUa;
  WebSocketInterface: new (url: string) => object;
  debug: { enable(pattern: string): void };
}

interface BrowserResult {
  registered: boolean;
  events: string[];
  error?: string;
}

describe('a browser (JsSIP in chromium) through the PBX over WebSocket', () => {
  let certs: TestCerts;
  let server: RunningServer;
  let browser: BrowserContext;
  let profile: string;
  let pages: Server;
  let pageUrl: string;

  beforeAll(async () => {
    certs = makeTestCerts();
    server = await startCli({
      listen: [
        'sip:127.0.0.1:0;transport=udp',
        'sip:127.0.0.1:0/ws;transport=ws',
        'sip:127.0.0.1:0/ws;transport=wss',
      ],
      logLevel: process.env.NKSIP_BROWSER_DEBUG ? 'debug' : 'warn',
      tls: { cert: certs.good.certFile, key: certs.good.keyFile },
      pbx: { domains: ['127.0.0.1'], realm: 'nksip', users: { alice: '1234', bob: '5678' } },
    });
    const bundle = await build({
      entryPoints: [join(ROOT, 'node_modules/jssip/lib/JsSIP.js')],
      bundle: true,
      format: 'iife',
      globalName: 'JsSIP',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const jssip = bundle.outputFiles[0]?.text ?? '';
    pages = createServer((req, res) => {
      if (req.url === '/jssip.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(jssip);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE_HTML);
    });
    await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
    pageUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}/`;
    profile = mkdtempSync(join(tmpdir(), 'nksip-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // the test profile trusts the self-signed WSS certificate
        '--ignore-certificate-errors',
        // getUserMedia gets a fake microphone, without a permission prompt
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    pages?.closeAllConnections();
    await new Promise((r) => pages?.close(r));
    if (profile) rmSync(profile, { recursive: true, force: true });
    expect(await server.stop()).toBe(0);
    certs.remove();
  });

  /** Registers bob (sipp, UDP) at a free port and starts the UAS there. */
  async function sippCallee(): Promise<{ done: ReturnType<typeof runSipp> }> {
    const port = await freePort();
    const reg = await runSipp({
      scenario: 'pbx-register.xml',
      target: `127.0.0.1:${server.port('udp')}`,
      calls: 1,
      timeoutSec: 10,
      extra: ['-key', 'user', 'bob', '-key', 'contact_port', String(port), '-au', 'bob', '-ap', '5678'],
    });
    expect(reg.code, reg.output).toBe(0);
    // wrapped: an async function returning the bare promise would wait for sipp to finish
    return { done: runSipp({ scenario: 'browser-callee.xml', port, calls: 1, timeoutSec: 20 }) };
  }

  /** In the page: register alice over `url`, call bob, hang up once confirmed. */
  async function browserCall(url: string): Promise<BrowserResult> {
    const page = await browser.newPage();
    if (process.env.NKSIP_BROWSER_DEBUG)
      page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
    try {
      // getUserMedia needs a secure context, and chromium lets a page reach loopback only from
      // a loopback origin: the page comes from a small HTTP server on 127.0.0.1
      await page.goto(pageUrl);
      return await page.evaluate(
        ({ url, debug }) =>
          new Promise<BrowserResult>((resolve) => {
            const J = (globalThis as unknown as { JsSIP: JsSipApi }).JsSIP;
            if (debug) J.debug.enable('JsSIP:*');
            const events: string[] = [];
            const ua = new J.UA({
              sockets: [new J.WebSocketInterface(url)],
              uri: 'sip:alice@127.0.0.1',
              password: '1234',
              register: true,
              session_timers: false,
            });
            let registered = false;
            const done = (error?: string) => {
              ua.stop();
              resolve(error ? { registered, events, error } : { registered, events });
            };
            const timer = setTimeout(() => done('timed out'), 20_000);
            ua.on('registrationFailed', (e: JsSipEvent) => {
              clearTimeout(timer);
              done(`registration failed: ${e.cause}`);
            });
            ua.on('registered', () => {
              registered = true;
              const session = ua.call('sip:bob@127.0.0.1', {
                mediaConstraints: { audio: true, video: false },
                pcConfig: { iceServers: [] },
              });
              session.on('progress', (e: JsSipEvent) => events.push(`progress ${e.response?.status_code}`));
              session.on('accepted', (e: JsSipEvent) => events.push(`accepted ${e.response?.status_code}`));
              session.on('confirmed', () => {
                events.push('confirmed');
                session.terminate();
              });
              session.on('failed', (e: JsSipEvent) => {
                clearTimeout(timer);
                events.push(`failed ${e.cause}`);
                done();
              });
              session.on('ended', (e: JsSipEvent) => {
                clearTimeout(timer);
                events.push(`ended ${e.originator}`);
                done();
              });
            });
            ua.start();
          }),
        { url, debug: Boolean(process.env.NKSIP_BROWSER_DEBUG) },
      );
    } finally {
      await page.close();
    }
  }

  /**
   * In the page: register alice over `url` and resolve once registered; the call that comes
   * in is answered, and `ended` resolves with its events when the caller hangs up.
   */
  async function browserCallee(url: string): Promise<{ registered: boolean; ended: Promise<BrowserResult> }> {
    const page = await browser.newPage();
    if (process.env.NKSIP_BROWSER_DEBUG)
      page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
    await page.goto(pageUrl);
    const registered = await page.evaluate(
      ({ url, debug }) =>
        new Promise<boolean>((resolve) => {
          const J = (globalThis as unknown as { JsSIP: JsSipApi }).JsSIP;
          if (debug) J.debug.enable('JsSIP:*');
          const events: string[] = [];
          const ua = new J.UA({
            sockets: [new J.WebSocketInterface(url)],
            uri: 'sip:alice@127.0.0.1',
            password: '1234',
            register: true,
            session_timers: false,
          });
          const g = globalThis as unknown as { ended: Promise<BrowserResult> };
          g.ended = new Promise<BrowserResult>((done) => {
            const timer = setTimeout(() => done({ registered: true, events, error: 'timed out' }), 20_000);
            ua.on('newRTCSession', (e: JsSipEvent) => {
              const session = e.session as JsSipSession;
              events.push(`incoming ${e.originator}`);
              session.on('confirmed', () => events.push('confirmed'));
              session.on('failed', (f: JsSipEvent) => {
                clearTimeout(timer);
                events.push(`failed ${f.cause}`);
                ua.stop();
                done({ registered: true, events });
              });
              session.on('ended', (f: JsSipEvent) => {
                clearTimeout(timer);
                events.push(`ended ${f.originator}`);
                ua.stop();
                done({ registered: true, events });
              });
              session.answer?.({
                mediaConstraints: { audio: true, video: false },
                pcConfig: { iceServers: [] },
              });
            });
          });
          ua.on('registered', () => resolve(true));
          ua.on('registrationFailed', () => resolve(false));
          ua.start();
        }),
      { url, debug: Boolean(process.env.NKSIP_BROWSER_DEBUG) },
    );
    const ended = page
      .evaluate(() => (globalThis as unknown as { ended: Promise<BrowserResult> }).ended)
      .finally(() => page.close());
    return { registered, ended };
  }

  for (const transport of ['ws', 'wss'] as const) {
    it(`over ${transport.toUpperCase()}: a sipp UAC calls the browser through the PBX (over its WebSocket), then hangs up`, async () => {
      const url = `${transport}://127.0.0.1:${server.port(transport)}/ws`;
      const callee = await browserCallee(url);
      expect(callee.registered).toBe(true);
      // bob registers from the port he calls from: the PBX lets his in-dialog BYE through as
      // a registered user's (its policy for requests without credentials)
      const port = await freePort();
      const reg = await runSipp({
        scenario: 'pbx-register.xml',
        target: `127.0.0.1:${server.port('udp')}`,
        calls: 1,
        timeoutSec: 10,
        extra: ['-key', 'user', 'bob', '-key', 'contact_port', String(port), '-au', 'bob', '-ap', '5678'],
      });
      expect(reg.code, reg.output).toBe(0);
      const caller = await runSipp({
        scenario: 'browser-caller.xml',
        target: `127.0.0.1:${server.port('udp')}`,
        port,
        calls: 1,
        timeoutSec: 15,
        extra: ['-key', 'user', 'bob', '-key', 'callee', 'alice'],
      });
      if (process.env.NKSIP_BROWSER_DEBUG)
        process.stderr.write(`${server.logs.map((l) => JSON.stringify(l)).join('\n')}\n`);
      expect([caller.code, caller.successful], caller.output).toEqual([0, 1]);
      expect(await callee.ended).toEqual({
        registered: true,
        events: ['incoming remote', 'confirmed', 'ended remote'],
      });
    }, 60_000);

    it(`over ${transport.toUpperCase()}: registers, calls a sipp UAS through the PBX, hangs up`, async () => {
      const callee = await sippCallee();
      const url = `${transport}://127.0.0.1:${server.port(transport)}/ws`;
      const result = await browserCall(url);
      if (process.env.NKSIP_BROWSER_DEBUG)
        process.stderr.write(`${server.logs.map((l) => JSON.stringify(l)).join('\n')}\n`);
      expect(result).toEqual({
        registered: true,
        events: ['progress 180', 'accepted 200', 'confirmed', 'ended local'],
      });
      const c = await callee.done;
      expect([c.code, c.successful], c.output).toEqual([0, 1]);
    }, 60_000);
  }
});
