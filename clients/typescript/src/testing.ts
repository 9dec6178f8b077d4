// A fake nksip-server for unit tests of app logic: an in-process gRPC SipAppService that
// records what the app sends and lets the test play the server's part (send callbacks, answer
// UAC commands, break the stream). Import it from '@nksip/sipapp/testing'.
import * as grpc from '@grpc/grpc-js';
import { CALLBACK_KINDS, type CallbackName } from './callbacks.js';
import {
  type Callback,
  type CallbackAnswer,
  type ConnectRequest,
  type ConnectResponse,
  ErrorCode,
  type Header,
  type LateReply,
  type NamedReply,
  type Notification,
  type Param,
  type Request,
  type Response,
  SipAppServiceService,
  type Start,
  type Started,
  type UacCommand,
  type UacEvent,
  type Uri,
} from './pb.js';
import { NAMED_REPLIES } from './reply.js';

export interface TestServerOptions {
  /** Answer every Start with Started (default true); false to answer by hand. */
  autoStart?: boolean;
  /** Fields of the Started sent automatically. */
  started?: Partial<Started>;
  /** Refuse a Start whose token differs (gRPC UNAUTHENTICATED), as a server with a token would. */
  token?: string;
  /** Port to listen on (default: any free port). */
  port?: number;
}

const DEFAULT_WAIT_MS = 5000;

/** A message queue that tests can wait on, matching by predicate. */
class Inbox<T> {
  #items: T[] = [];
  #waiters: { pick: (m: T) => boolean; resolve: (m: T) => void }[] = [];

  push(m: T): void {
    const i = this.#waiters.findIndex((w) => w.pick(m));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w?.resolve(m);
      return;
    }
    this.#items.push(m);
  }

  take(pick: (m: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const i = this.#items.findIndex(pick);
    if (i >= 0) return Promise.resolve(this.#items.splice(i, 1)[0] as T);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        pick,
        resolve: (m: T) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`test server: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }
}

type ServerCall = grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>;

/** One app stream, as the fake server sees it. */
export class TestConnection {
  /** Every message the app sent, in order (Start included). */
  readonly received: ConnectRequest[] = [];
  /** True once the app sent Stop. */
  stopped = false;
  /** Resolves when the stream has ended. */
  readonly closed: Promise<void>;
  #inbox = new Inbox<ConnectRequest>();
  #nextCallbackId = 1;
  #ended = false;

  constructor(
    private readonly call: ServerCall,
    /** The app's Start message. */
    readonly start: Start,
  ) {
    this.closed = new Promise((resolve) => {
      call.on('close', () => resolve());
      call.on('finish', () => resolve());
      call.on('error', () => resolve());
    });
  }

  /** @internal */
  deliver(m: ConnectRequest): void {
    this.received.push(m);
    if (m.msg?.$case === 'stop') this.stopped = true;
    this.#inbox.push(m);
  }

  /** The callbacks the app named in Start. */
  get callbackNames(): CallbackName[] {
    const byKind = new Map(Object.entries(CALLBACK_KINDS).map(([n, k]) => [k, n as CallbackName]));
    return this.start.callbacks.map((k) => byKind.get(k)).filter((n): n is CallbackName => n !== undefined);
  }

  send(m: ConnectResponse): void {
    if (!this.#ended) this.call.write(m);
  }

  /** Sends Started (when the server was made with `autoStart: false`). */
  started(s: Partial<Started> = {}): void {
    this.send({
      msg: {
        $case: 'started',
        value: {
          app: this.start.app,
          instanceId: this.start.instanceId || 'test-instance-1',
          listeners: [],
          serverVersion: 'test',
          instances: 1,
          ...s,
        },
      },
    });
  }

  /** Sends an Error message. */
  error(code: ErrorCode, message: string, ref = 0): void {
    this.send({ msg: { $case: 'error', value: { code, message, ref } } });
  }

  /**
   * Sends a callback and resolves with the app's answer. `request` may be a full proto
   * Request or the short form of `makeRequest` (its method defaults to the callback's, e.g.
   * INVITE for `reinvite`); absent, a default request is made (none for dialogUpdate and
   * sessionUpdate).
   */
  async callback(
    name: CallbackName,
    request?: Request | RequestInit,
    opts: Partial<Omit<Callback, 'id' | 'kind' | 'request'>> & { timeoutMs?: number } = {},
  ): Promise<CallbackAnswer> {
    const id = this.#nextCallbackId++;
    const { timeoutMs, ...rest } = opts;
    const req =
      request === undefined
        ? defaultRequest(name)
        : isRequest(request)
          ? request
          : makeRequest({ method: defaultMethod(name), ...request });
    this.send({
      msg: {
        $case: 'callback',
        value: {
          id,
          kind: CALLBACK_KINDS[name],
          request: req,
          requestHandle: rest.requestHandle ?? `R_${id}`,
          dialogHandle: rest.dialogHandle ?? '',
          deadlineMs: rest.deadlineMs ?? 5000,
          extra: rest.extra,
        },
      },
    });
    const m = await this.#inbox.take(
      (x) => x.msg?.$case === 'answer' && x.msg.value.id === id,
      timeoutMs ?? DEFAULT_WAIT_MS,
      `answer to ${name} callback ${id}`,
    );
    return (m.msg as { value: CallbackAnswer }).value;
  }

  /** Resolves with the next UAC command the app sends. */
  async nextCommand(timeoutMs = DEFAULT_WAIT_MS): Promise<UacCommand> {
    const m = await this.#inbox.take((x) => x.msg?.$case === 'command', timeoutMs, 'UAC command');
    return (m.msg as { value: UacCommand }).value;
  }

  /** Resolves with the next late reply the app sends. */
  async nextLateReply(timeoutMs = DEFAULT_WAIT_MS): Promise<LateReply> {
    const m = await this.#inbox.take((x) => x.msg?.$case === 'lateReply', timeoutMs, 'late reply');
    return (m.msg as { value: LateReply }).value;
  }

  /** Resolves when the app sends Stop. */
  async nextStop(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.#inbox.take((x) => x.msg?.$case === 'stop', timeoutMs, 'Stop');
  }

  /** Sends a UAC event. */
  uacEvent(ev: Partial<UacEvent> & { id: number }): void {
    this.send({
      msg: {
        $case: 'uacEvent',
        value: {
          requestHandle: '',
          dialogHandle: '',
          subscriptionHandle: '',
          callId: '',
          rseq: 0,
          event: undefined,
          ...ev,
        },
      },
    });
  }

  /** Answers a UAC command with a response (final unless `provisional`). */
  respond(
    cmd: UacCommand,
    code: number,
    init: ResponseInit &
      Partial<Pick<UacEvent, 'requestHandle' | 'dialogHandle' | 'subscriptionHandle'>> = {},
  ): void {
    const res = makeResponse(code, { cseqMethod: cmd.method, ...init });
    this.uacEvent({
      id: cmd.id,
      event: code < 200 ? { $case: 'provisional', value: res } : { $case: 'final', value: res },
      requestHandle: init.requestHandle ?? `R_uac_${cmd.id}`,
      dialogHandle: init.dialogHandle ?? '',
      subscriptionHandle: init.subscriptionHandle ?? '',
      callId: res.callId,
    });
  }

  notify(n: Notification): void {
    this.send({ msg: { $case: 'notification', value: n } });
  }

  /** Ends the stream from the server side: OK, or with a gRPC status. */
  end(status?: { code: grpc.status; details?: string }): void {
    if (this.#ended) return;
    this.#ended = true;
    if (status && status.code !== grpc.status.OK) {
      this.call.emit('error', {
        code: status.code,
        details: status.details ?? '',
        metadata: new grpc.Metadata(),
      });
      return;
    }
    this.call.end();
  }
}

/** A fake nksip-server on 127.0.0.1. */
export class TestServer {
  /** Every connection that sent Start, in order. */
  readonly connections: TestConnection[] = [];
  #server: grpc.Server | undefined;
  #port = 0;
  #inbox = new Inbox<TestConnection>();
  #calls = new Set<ServerCall>();

  constructor(private readonly opts: TestServerOptions = {}) {}

  /** host:port to give `SipApp.start({ server })`. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  /** @internal */
  async listen(port = this.opts.port ?? 0): Promise<void> {
    const server = new grpc.Server();
    server.addService(SipAppServiceService, { connect: (call: ServerCall) => this.#onCall(call) });
    this.#port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.#server = server;
  }

  /** Resolves with the next connection whose Start arrives (already Started when autoStart). */
  nextConnection(timeoutMs = DEFAULT_WAIT_MS): Promise<TestConnection> {
    return this.#inbox.take(() => true, timeoutMs, 'connection');
  }

  /** Stops listening and breaks every stream (UNAVAILABLE on the app side). */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const c of this.#calls) c.destroy(new Error('test server closed'));
    this.#calls.clear();
    server?.forceShutdown();
  }

  /** Closes, then listens again on the same port: the app should reconnect and rejoin. */
  async restart(): Promise<void> {
    await this.close();
    await this.listen(this.#port);
  }

  #onCall(call: ServerCall): void {
    this.#calls.add(call);
    let conn: TestConnection | undefined;
    call.on('data', (m: ConnectRequest) => {
      if (conn) {
        // a RequestBatch is its messages, in order, as the real server takes it
        if (m.msg?.$case === 'batch') for (const inner of m.msg.value.messages) conn.deliver(inner);
        else conn.deliver(m);
        return;
      }
      if (m.msg?.$case !== 'start') {
        call.write({
          msg: {
            $case: 'error',
            value: { code: ErrorCode.ERROR_CODE_PROTOCOL, message: 'Start first', ref: 0 },
          },
        });
        call.end();
        return;
      }
      if (this.opts.token !== undefined && m.msg.value.token !== this.opts.token) {
        call.emit('error', {
          code: grpc.status.UNAUTHENTICATED,
          details: 'bad token',
          metadata: new grpc.Metadata(),
        });
        return;
      }
      conn = new TestConnection(call, m.msg.value);
      conn.deliver(m);
      this.connections.push(conn);
      if (this.opts.autoStart ?? true) conn.started(this.opts.started);
      this.#inbox.push(conn);
    });
    call.on('end', () => {
      this.#calls.delete(call);
      call.end();
    });
    call.on('error', () => this.#calls.delete(call));
  }
}

/** Starts a fake nksip-server on 127.0.0.1 (any free port unless `port` is given). */
export async function createTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const s = new TestServer(opts);
  await s.listen();
  return s;
}

// ---- building messages ----

/** The short form of a request for tests. */
export interface RequestInit {
  method?: string;
  ruri?: string;
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  /** Extra headers, in order. */
  headers?: readonly (readonly [string, string])[] | Readonly<Record<string, string>>;
  body?: string | Uint8Array;
  contentType?: string;
  contacts?: readonly string[];
}

export interface ResponseInit {
  reason?: string;
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  cseqMethod?: string;
  headers?: readonly (readonly [string, string])[] | Readonly<Record<string, string>>;
  body?: string | Uint8Array;
  contentType?: string;
}

const METHOD_OF: Partial<Record<CallbackName, string>> = {
  reinvite: 'INVITE',
  resubscribe: 'SUBSCRIBE',
  cancel: 'INVITE',
  route: 'OPTIONS',
  authorize: 'OPTIONS',
  getUserPass: 'OPTIONS',
  branchFinal: 'INVITE',
};

function defaultMethod(name: CallbackName): string {
  return METHOD_OF[name] ?? name.toUpperCase();
}

function defaultRequest(name: CallbackName): Request | undefined {
  return name === 'dialogUpdate' || name === 'sessionUpdate'
    ? undefined
    : makeRequest({ method: defaultMethod(name) });
}

function isRequest(r: Request | RequestInit): r is Request {
  return 'vias' in r;
}

/** Parses a URI loosely (enough for tests): `sip:user@host:port;a=b?h=v`. */
export function parseUri(raw: string): Uri {
  const m = /^([a-zA-Z][\w+.-]*):(?:([^@;?]*)@)?(\[[^\]]+\]|[^:;?]*)(?::(\d+))?([^?]*)(?:\?(.*))?$/.exec(
    raw.trim(),
  );
  if (!m) return { raw, scheme: '', user: '', host: '', port: 0, params: [], headers: [] };
  const params = (s: string | undefined, sep: string): Param[] =>
    (s ?? '')
      .split(sep)
      .filter((p) => p !== '')
      .map((p) => {
        const i = p.indexOf('=');
        return i < 0
          ? { name: p, value: '', flag: true }
          : { name: p.slice(0, i), value: p.slice(i + 1), flag: false };
      });
  return {
    raw,
    scheme: (m[1] ?? '').toLowerCase(),
    user: m[2] ?? '',
    host: m[3] ?? '',
    port: m[4] ? Number(m[4]) : 0,
    params: params(m[5], ';'),
    headers: params(m[6], '&'),
  };
}

/** Parses a name-addr loosely: `"Name" <sip:u@h>;tag=x` or `sip:u@h;tag=x`. */
export function parseNameAddr(raw: string) {
  const m = /^\s*(?:"([^"]*)"\s*|([^<"]*?)\s*)?<([^>]*)>(.*)$/.exec(raw);
  let display = '';
  let uri = raw.trim();
  let rest = '';
  if (m) {
    display = m[1] ?? m[2] ?? '';
    uri = m[3] ?? '';
    rest = m[4] ?? '';
  } else {
    const i = uri.indexOf(';');
    if (i >= 0) {
      rest = uri.slice(i);
      uri = uri.slice(0, i);
    }
  }
  const params: Param[] = rest
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      return i < 0
        ? { name: p, value: '', flag: true }
        : { name: p.slice(0, i), value: p.slice(i + 1), flag: false };
    });
  return { raw, displayName: display, uri: parseUri(uri), params };
}

function headerList(h: RequestInit['headers']): Header[] {
  if (h === undefined) return [];
  const entries: (readonly [string, string])[] = Array.isArray(h)
    ? [...(h as readonly (readonly [string, string])[])]
    : Object.entries(h as Record<string, string>);
  return entries.map(([name, value]) => ({ name: name.toLowerCase(), value }));
}

let callCounter = 0;

/** Builds a proto Request from a short description (defaults make a valid OPTIONS). */
export function makeRequest(init: RequestInit = {}): Request {
  const method = (init.method ?? 'OPTIONS').toUpperCase();
  const ruri = init.ruri ?? 'sip:app@127.0.0.1';
  const from = init.from ?? '<sip:caller@127.0.0.1>;tag=from-tag-1';
  const to = init.to ?? `<${ruri}>`;
  const callId = init.callId ?? `call-${++callCounter}@test`;
  const cseq = init.cseq ?? 1;
  const body = init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body);
  const contentType =
    init.contentType ?? (body.length > 0 && body.toString().startsWith('v=0') ? 'application/sdp' : '');
  const via = {
    transport: 'UDP',
    host: '127.0.0.1',
    port: 5070,
    params: [{ name: 'branch', value: `z9hG4bK${callCounter}`, flag: false }],
  };
  const contacts = (init.contacts ?? []).map(parseNameAddr);
  const headers: Header[] = [
    { name: 'via', value: `SIP/2.0/UDP 127.0.0.1:5070;branch=${via.params[0]?.value}` },
    { name: 'from', value: from },
    { name: 'to', value: to },
    { name: 'call-id', value: callId },
    { name: 'cseq', value: `${cseq} ${method}` },
    { name: 'max-forwards', value: '70' },
    ...contacts.map((c) => ({ name: 'contact', value: c.raw })),
    ...headerList(init.headers),
    ...(contentType ? [{ name: 'content-type', value: contentType }] : []),
    { name: 'content-length', value: String(body.length) },
  ];
  return {
    method,
    ruri: parseUri(ruri),
    from: parseNameAddr(from),
    to: parseNameAddr(to),
    callId,
    cseq,
    cseqMethod: method,
    vias: [via],
    contacts,
    contactStar: false,
    routes: [],
    maxForwards: 70,
    headers,
    body,
    contentType,
    transport: {
      transport: 'udp',
      localIp: '127.0.0.1',
      localPort: 5060,
      remoteIp: '127.0.0.1',
      remotePort: 5070,
    },
  };
}

/** Builds a proto Response. */
export function makeResponse(code: number, init: ResponseInit = {}): Response {
  const body = init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body);
  const from = init.from ?? '<sip:app@127.0.0.1>;tag=app-tag-1';
  const to = init.to ?? '<sip:peer@127.0.0.1>;tag=peer-tag-1';
  return {
    code,
    reason: init.reason ?? '',
    from: parseNameAddr(from),
    to: parseNameAddr(to),
    callId: init.callId ?? `uac-${++callCounter}@test`,
    cseq: init.cseq ?? 1,
    cseqMethod: init.cseqMethod ?? 'OPTIONS',
    vias: [],
    contacts: [],
    headers: headerList(init.headers),
    body,
    contentType: init.contentType ?? '',
  };
}

const NAME_OF_NAMED = new Map<NamedReply, string>(Object.entries(NAMED_REPLIES).map(([n, v]) => [v, n]));

/**
 * A short text for an answer, handy in assertions: `route:process`, `route:proxy`,
 * `method:reply:486`, `method:reply:busy`, `method:noreply`, `authorize:ok`,
 * `userPass:password`, `userPass:accept=false`, `branch:continue`, `ack`, `none`.
 */
export function describeAnswer(a: CallbackAnswer): string {
  const ans = a.answer;
  if (!ans) return 'none';
  const reply = (r: { code: number; named: NamedReply }) =>
    r.code !== 0 ? String(r.code) : (NAME_OF_NAMED.get(r.named) ?? 'unspecified');
  switch (ans.$case) {
    case 'route': {
      const d = ans.value.decision;
      if (!d) return 'route:none';
      if (d.$case === 'reply' || d.$case === 'replyStateless') return `route:${d.$case}:${reply(d.value)}`;
      return `route:${d.$case}`;
    }
    case 'method': {
      const d = ans.value.decision;
      if (!d) return 'method:none';
      return d.$case === 'reply' ? `method:reply:${reply(d.value)}` : 'method:noreply';
    }
    case 'authorize':
      return `authorize:${['unspecified', 'ok', 'forbidden', 'authenticate', 'proxyAuthenticate'][ans.value.kind] ?? '?'}`;
    case 'userPass': {
      const r = ans.value.result;
      if (!r) return 'userPass:none';
      return r.$case === 'password' ? 'userPass:password' : `userPass:accept=${r.value}`;
    }
    case 'branch':
      return `branch:${ans.value.decision?.$case ?? 'none'}`;
    case 'ack':
      return 'ack';
    default:
      return 'unknown';
  }
}

export { CALLBACK_KINDS };
