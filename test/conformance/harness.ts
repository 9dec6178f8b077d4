// What every conformance scenario needs: a fresh CLI server with short timers, the language's
// conformance app joined to it, sipp as UAC or UAS (bounded in time, stopped by PID), and a raw
// UDP SIP client that records what comes back.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answerChallenge } from '../../server/src/auth/client.js';
import type { SipRequest, SipResponse } from '../../server/src/sip/message.js';
import { parseMessage } from '../../server/src/sip/parser.js';
import { type RunningServer, startCli } from '../support/server-process.js';
import { UdpPeer } from '../support/sip-peers.js';
import { headerOf, headersOf, type WireMessage } from '../support/sip-wire.js';
import { freePort } from '../support/sipp.js';
import { type AppOptions, type RunningApp, startApp } from './apps.js';

export const SCENARIOS = join(import.meta.dirname, 'scenarios');

/** A fresh `nksip-server` CLI: grpc and SIP on 127.0.0.1 port 0, T1 100 ms, T4 200 ms. */
export function startServer(config: Record<string, unknown> = {}): Promise<RunningServer> {
  return startCli({ listen: ['sip:127.0.0.1:0'], grpc: '127.0.0.1:0', t1: 100, t4: 200, ...config });
}

/** The gRPC address from the server's start-up line. */
export function grpcAddress(server: RunningServer): string {
  const line = server.logs.find((l) => l.msg === 'nksip-server started');
  const grpc = line?.grpc;
  if (typeof grpc !== 'string' || grpc === '') {
    throw new Error(`no grpc address in the start-up line: ${JSON.stringify(line)}`);
  }
  return grpc;
}

/** Every process a test file started, so afterAll/afterEach can stop them all by PID. */
export class Children {
  private readonly servers: RunningServer[] = [];
  private readonly apps: RunningApp[] = [];
  private readonly sipps: SippProcess[] = [];

  async server(config: Record<string, unknown> = {}): Promise<RunningServer> {
    const s = await startServer(config);
    this.servers.push(s);
    return s;
  }

  async app(lang: string, server: RunningServer, o: Partial<AppOptions> = {}): Promise<RunningApp> {
    const a = await startApp(lang, { server: grpcAddress(server), ...o });
    this.apps.push(a);
    return a;
  }

  track(s: SippProcess): SippProcess {
    this.sipps.push(s);
    return s;
  }

  async stopApps(): Promise<void> {
    await Promise.all(this.apps.splice(0).map((a) => a.kill('SIGKILL')));
    await Promise.all(this.sipps.splice(0).map((s) => s.kill()));
  }

  async stopAll(): Promise<void> {
    await this.stopApps();
    await Promise.all(this.servers.splice(0).map((s) => s.stop()));
  }
}

// ---- sipp -------------------------------------------------------------------------------

export interface SippProcess {
  proc: ChildProcess;
  port: number;
  /** Resolves with sipp's exit code (0: every call successful). */
  exited: Promise<number | null>;
  output(): string;
  /** The -trace_msg log (every message sent and received), when sipp was given -trace_msg. */
  messages(): string;
  kill(): Promise<void>;
}

export interface SippOptions {
  /** A file in test/conformance/scenarios, or `-sn` name prefixed with `sn:` (e.g. `sn:uas`). */
  scenario: string;
  /** `host:port` to send to (UAC); omitted for a UAS. */
  target?: string;
  port?: number;
  calls?: number;
  /** sipp's own -timeout; the process is killed 5 s after it anyway. */
  timeoutSec?: number;
  /** `-key name value` pairs for [name] in the scenario. */
  keys?: Record<string, string>;
  extra?: string[];
}

/** Starts sipp on 127.0.0.1 (UDP), bounded in calls and time. */
export async function sipp(o: SippOptions): Promise<SippProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'nksip-conf-sipp-'));
  const port = o.port ?? (await freePort());
  const timeout = o.timeoutSec ?? 10;
  const scenario = o.scenario.startsWith('sn:')
    ? ['-sn', o.scenario.slice(3)]
    : ['-sf', join(SCENARIOS, o.scenario)];
  const args = [
    ...(o.target ? [o.target] : []),
    ...scenario,
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-t',
    'u1',
    '-m',
    String(o.calls ?? 1),
    '-timeout',
    `${timeout}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    '-error_file',
    join(dir, 'errors.log'),
    ...Object.entries(o.keys ?? {}).flatMap(([k, v]) => ['-key', k, v]),
    ...(o.extra ?? []),
  ];
  const proc = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  const killer = setTimeout(() => proc.kill('SIGKILL'), (timeout + 5) * 1000);
  void exited.then(() => clearTimeout(killer));
  return {
    proc,
    port,
    exited,
    output() {
      let errors = '';
      try {
        errors = readFileSync(join(dir, 'errors.log'), 'utf8').slice(-3000);
      } catch {
        // no error file: no error
      }
      return `${out.replace(ANSI, '').slice(-1500)}\n--- sipp errors ---\n${errors}`;
    },
    messages() {
      const file = readdirSync(dir).find((f) => f.endsWith('_messages.log'));
      return file ? readFileSync(join(dir, file), 'latin1') : '';
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Terminal escape sequences in sipp's screen output. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

/** Gives a UAS sipp time to bind before something sends to it. */
export const sippSettle = () => new Promise<void>((resolve) => setTimeout(resolve, 150));

// ---- a raw UDP SIP client ---------------------------------------------------------------

let seq = 0;

export interface SendOptions {
  method: string;
  /** Request-URI; default sip:conformance@127.0.0.1:<server port>. */
  ruri?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  /** User part of the From URI (default `tester`). */
  fromUser?: string;
  /** `To` value (with a tag for in-dialog requests). */
  to?: string;
  branch?: string;
  headers?: string[];
  contentType?: string;
  body?: string;
  /** Contact value instead of the client's own; null: no Contact header. */
  contact?: string | null;
  /** Max-Forwards (default 70). */
  maxForwards?: number;
}

export interface Sent {
  callId: string;
  branch: string;
  ruri: string;
  fromTag: string;
  cseq: number;
  /** Index into the client's messages when it was sent. */
  from: number;
}

export const SDP =
  'v=0\r\no=tester 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

export class SipClient {
  private constructor(
    readonly peer: UdpPeer,
    readonly serverPort: number,
  ) {}

  static async open(serverPort: number): Promise<SipClient> {
    return new SipClient(await UdpPeer.open('127.0.0.1'), serverPort);
  }

  get messages(): WireMessage[] {
    return this.peer.messages;
  }

  defaultRuri(user = 'conformance'): string {
    return `sip:${user}@127.0.0.1:${this.serverPort}`;
  }

  async send(o: SendOptions): Promise<Sent> {
    seq++;
    const callId = o.callId ?? `conf-${process.pid}-${Date.now()}-${seq}`;
    const branch = o.branch ?? `z9hG4bK-conf-${seq}-${Date.now()}`;
    const ruri = o.ruri ?? this.defaultRuri();
    const fromTag = o.fromTag ?? `ft-${seq}`;
    const cseq = o.cseq ?? 1;
    const body = o.body ?? '';
    const lines = [
      `${o.method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.peer.port};rport;branch=${branch}`,
      `Max-Forwards: ${o.maxForwards ?? 70}`,
      `From: <sip:${o.fromUser ?? 'tester'}@127.0.0.1>;tag=${fromTag}`,
      `To: ${o.to ?? `<${ruri}>`}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${o.method}`,
      ...(o.contact === null ? [] : [`Contact: ${o.contact ?? `<sip:tester@127.0.0.1:${this.peer.port}>`}`]),
      ...(o.headers ?? []),
    ];
    if (body) lines.push(`Content-Type: ${o.contentType ?? 'application/sdp'}`);
    lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
    const from = this.peer.messages.length;
    await this.peer.send(Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1'), this.serverPort);
    return { callId, branch, ruri, fromTag, cseq, from };
  }

  /** Responses to `sent` (same Call-ID and CSeq method), in order of arrival. */
  responses(sent: Sent, method?: string): WireMessage[] {
    return this.peer.messages.filter(
      (m) =>
        m.status !== undefined &&
        headerOf(m, 'call-id') === sent.callId &&
        (method === undefined || cseqMethod(m) === method),
    );
  }

  /**
   * The first final (>= 200) response for `sent`'s Call-ID, CSeq number and `method` that
   * arrived after it was sent, or undefined on timeout.
   */
  async final(sent: Sent, method: string, timeoutMs: number): Promise<WireMessage | undefined> {
    return this.peer.waitFor(
      (m) =>
        m.status !== undefined &&
        m.status >= 200 &&
        headerOf(m, 'call-id') === sent.callId &&
        cseqMethod(m) === method &&
        cseqNumber(m) === sent.cseq,
      timeoutMs,
      sent.from,
    );
  }

  /** Sends the request and waits for its final response. */
  async request(o: SendOptions, timeoutMs = 3000): Promise<{ sent: Sent; res: WireMessage | undefined }> {
    const sent = await this.send(o);
    return { sent, res: await this.final(sent, o.method, timeoutMs) };
  }

  /**
   * A request from `user`; with `password`, a 407 to it is answered once with that user's
   * credentials (a Call-ID of its own, so its final is not the first one's 407).
   */
  async requestAs(
    method: string,
    ruri: string,
    user: string,
    password?: string,
  ): Promise<WireMessage | undefined> {
    const first = await this.request({ method, ruri, to: `<${ruri}>`, fromUser: user });
    if (password === undefined || first.res?.status !== 407) return first.res;
    // the challenge and the request as the server saw them, for the digest
    const challenge = parseMessage(
      Buffer.from(
        [first.res.startLine, ...first.res.headers.map(([n, v]) => `${n}: ${v}`), '', ''].join('\r\n'),
        'latin1',
      ),
    ).msg as SipResponse;
    const req = parseMessage(
      Buffer.from(
        `${method} ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nFrom: <sip:${user}@127.0.0.1>;tag=a\r\nTo: <${ruri}>\r\nCall-ID: x\r\nCSeq: 2 ${method}\r\nContent-Length: 0\r\n\r\n`,
        'latin1',
      ),
    ).msg as SipRequest;
    const retry = answerChallenge(req, challenge, [{ user, password }]);
    if (!retry) throw new Error('no answer to the challenge');
    const second = await this.request({
      method,
      ruri,
      to: `<${ruri}>`,
      fromUser: user,
      callId: `${first.sent.callId}-auth`,
      cseq: 2,
      headers: retry.headers.map(([n, v]) => `${n}: ${v}`),
    });
    return second.res;
  }

  /** ACK for a final response to `invite` (same branch for non-2xx; a new one and Contact for 2xx). */
  async ack(invite: Sent, res: WireMessage): Promise<void> {
    const twoXX = (res.status ?? 0) < 300;
    const contact = /<([^>]+)>/.exec(headerOf(res, 'contact') ?? '')?.[1];
    await this.send({
      method: 'ACK',
      ruri: twoXX && contact ? contact : invite.ruri,
      callId: invite.callId,
      cseq: invite.cseq,
      fromTag: invite.fromTag,
      to: headerOf(res, 'to'),
      branch: twoXX ? undefined : invite.branch,
    });
  }

  /** CANCEL of `invite` (same branch, R-URI, Call-ID, CSeq number). */
  cancel(invite: Sent): Promise<Sent> {
    return this.send({
      method: 'CANCEL',
      ruri: invite.ruri,
      callId: invite.callId,
      cseq: invite.cseq,
      fromTag: invite.fromTag,
      branch: invite.branch,
    });
  }

  /** BYE in the dialog the 2xx `res` to `invite` created. */
  bye(invite: Sent, res: WireMessage, headers: string[] = []): Promise<Sent> {
    const contact = /<([^>]+)>/.exec(headerOf(res, 'contact') ?? '')?.[1];
    return this.send({
      method: 'BYE',
      ruri: contact ?? invite.ruri,
      callId: invite.callId,
      cseq: invite.cseq + 1,
      fromTag: invite.fromTag,
      to: headerOf(res, 'to'),
      headers,
    });
  }

  close(): Promise<void> {
    return this.peer.close();
  }
}

export function cseqNumber(m: WireMessage): number {
  return Number((headerOf(m, 'cseq') ?? '').trim().split(/\s+/)[0]);
}

export function cseqMethod(m: WireMessage): string | undefined {
  return (headerOf(m, 'cseq') ?? '').trim().split(/\s+/)[1];
}

/** The x-nk-id values of a message, split at commas. */
export function nkIds(m: WireMessage | undefined): string[] {
  if (!m) return [];
  return headersOf(m, 'x-nk-id')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

export function describeMessage(m: WireMessage | undefined): string {
  if (!m) return '(nothing)';
  return [m.startLine, ...m.headers.map(([k, v]) => `${k}: ${v}`)].join('\n');
}
