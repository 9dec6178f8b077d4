// A running SipApp: one bidirectional gRPC stream to nksip-server, callbacks dispatched to the
// app's functions, UAC commands as promises, reconnect with backoff, a clean stop.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { AppAuto, type AutoStatus } from './auto.js';
import { type Backoff, backoffDelay, backoffPolicy, type ReconnectOptions } from './backoff.js';
import {
  answerOnFailure,
  CALLBACK_KINDS,
  type CallbackName,
  callbackName,
  type DialogUpdateEvent,
  implementedCallbacks,
  runCallback,
  type SessionUpdateEvent,
  type SipAppCallbacks,
  toDialogUpdateEvent,
  toSessionUpdateEvent,
} from './callbacks.js';
import { type AppConfigOptions, toAppConfig } from './config.js';
import { type DialogInfo, toDialogInfo } from './dialogs.js';
import { type Logger, silentLogger } from './logger.js';
import type { SipResponse } from './message.js';
import {
  type Callback,
  type CallbackKind,
  type ConnectRequest,
  type ConnectResponse,
  type DialogCommand,
  type DialogResult,
  ErrorCode,
  errorCodeToJSON,
  type Notification,
  type Error as PbError,
  SipAppServiceClient,
  type Start,
  UacErrorKind,
  type UacEvent,
} from './pb.js';
import { AppRegistrar } from './registrar.js';
import { type Reply, toProtoReply } from './reply.js';
import { type RefreshMode, toProtoUacOptions, UacCall, UacError, type UacOptions } from './uac.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';

/** Options of `SipApp.start`. */
export interface SipAppOptions extends AppConfigOptions {
  /** The app's name; instances with the same name and config share the work. */
  app: string;
  /** host:port of the server's gRPC endpoint. Default 127.0.0.1:50051. */
  server?: string;
  /** Shared secret, when the server requires one. */
  token?: string;
  /** TLS to the server: `true` for the system roots, or PEM buffers. */
  tls?: boolean | { rootCerts?: Buffer; privateKey?: Buffer; certChain?: Buffer };
  /** gRPC channel credentials (overrides `tls`). */
  credentials?: grpc.ChannelCredentials;
  /** Extra gRPC channel options. */
  channelOptions?: grpc.ChannelOptions;
  /** Reconnect policy; `false` to stop the app when the stream breaks. */
  reconnect?: ReconnectOptions | boolean;
  /** How long to wait for Started after opening the stream, ms. Default 10000. */
  startTimeoutMs?: number;
  /** How long `stop()` waits for the server to close the stream, ms. Default 2000. */
  stopTimeoutMs?: number;
  /** Receives the SDK's log lines; silent by default. */
  logger?: Logger;
}

/** What the server said when the app (re)joined. */
export interface StartedInfo {
  readonly app: string;
  readonly instanceId: string;
  /** The listeners serving the app, as `udp:127.0.0.1:5060`. */
  readonly listeners: readonly string[];
  readonly serverVersion: string;
  /** Instances of the app now connected, this one included. */
  readonly instances: number;
  /** True when this is a rejoin after a broken stream. */
  readonly reconnected: boolean;
}

export type ServerErrorCode =
  | 'unspecified'
  | 'protocol'
  | 'invalidConfig'
  | 'configMismatch'
  | 'listenFailed'
  | 'unknownCallback'
  | 'invalidAnswer'
  | 'unknownRequest'
  /** A reliable 1xx was not sent: the previous one waits for its PRACK (NkSIP pending_prack). */
  | 'pendingPrack'
  /** The gRPC stream itself failed (status in `grpcCode`). */
  | 'stream';

const SERVER_CODES: Record<ErrorCode, ServerErrorCode> = {
  [ErrorCode.ERROR_CODE_UNSPECIFIED]: 'unspecified',
  [ErrorCode.ERROR_CODE_PROTOCOL]: 'protocol',
  [ErrorCode.ERROR_CODE_INVALID_CONFIG]: 'invalidConfig',
  [ErrorCode.ERROR_CODE_CONFIG_MISMATCH]: 'configMismatch',
  [ErrorCode.ERROR_CODE_LISTEN_FAILED]: 'listenFailed',
  [ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK]: 'unknownCallback',
  [ErrorCode.ERROR_CODE_INVALID_ANSWER]: 'invalidAnswer',
  [ErrorCode.ERROR_CODE_UNKNOWN_REQUEST]: 'unknownRequest',
  [ErrorCode.ERROR_CODE_PENDING_PRACK]: 'pendingPrack',
};

/** An Error message from the server, or the stream failing. */
export class ServerError extends Error {
  override readonly name = 'ServerError';
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    /** The callback id the error is about, 0 when none. */
    readonly ref = 0,
    /** For `stream`: the gRPC status code. */
    readonly grpcCode?: grpc.status,
  ) {
    super(message);
  }

  static from(e: PbError): ServerError {
    return new ServerError(
      SERVER_CODES[e.code] ?? 'unspecified',
      e.message || errorCodeToJSON(e.code),
      e.ref,
    );
  }
}

/** A callback's deadline passed (or its instance left) and the answer came from elsewhere. */
export interface CallbackExpiredEvent {
  readonly id: number;
  readonly kind: CallbackName | undefined;
  /** `other_instance`, `deadline_reply` or `default`. */
  readonly handledBy: string;
  /** The status sent, 0 when none. */
  readonly code: number;
}

/** What a STUN Binding request found (NkSIP `nksip_uac:stun`). */
export interface StunInfo {
  /** The server's UDP listener the request left from. */
  readonly local: { readonly address: string; readonly port: number };
  /** The address and port the STUN server saw: the public address behind a NAT. */
  readonly public: { readonly address: string; readonly port: number };
}

/** A connection (or UDP flow) that dialogs of this instance used is gone. */
export interface ConnectionLostEvent {
  readonly transport: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** `closed`, `keepalive` or `idle`. */
  readonly reason: string;
  /** The dialogs of this instance that used it. */
  readonly dialogs: readonly string[];
}

export interface RegistrationEvent {
  readonly id: string;
  readonly ok: boolean;
  readonly code: number;
}

/** The events of a SipApp (`app.on(name, listener)`). */
export interface SipAppEvents {
  /** Joined (or rejoined) the server. */
  started: [info: StartedInfo];
  /** The stream broke; pending requests were rejected. A reconnect follows unless disabled. */
  disconnected: [error: Error | undefined];
  /** Waiting `delayMs` before reconnect attempt `attempt`. */
  reconnecting: [attempt: number, delayMs: number];
  /** A server Error or a stream failure. Without a listener it goes to the logger only. */
  error: [error: ServerError];
  /** A callback threw or returned an invalid answer; the SDK answered for it (500 for requests). */
  callbackError: [name: CallbackName, error: unknown];
  callbackExpired: [event: CallbackExpiredEvent];
  /** Dialog and session changes sent as notifications (not as callbacks). */
  dialogUpdate: [event: DialogUpdateEvent];
  sessionUpdate: [event: SessionUpdateEvent];
  registration: [event: RegistrationEvent];
  /** A flow carrying dialogs of this instance failed (RFC 5626 keep-alives, a closed connection). */
  connectionLost: [event: ConnectionLostEvent];
  /** An automatic registration or ping changed state (failed, or works again). */
  autoStatus: [status: AutoStatus];
  /** A UAC event for no pending request (e.g. an extra 2xx of a forked INVITE). */
  uacEvent: [event: UacEvent];
  /** The app stopped (after `stop()`, or when it gave up reconnecting). */
  closed: [];
}

/** Where an in-dialog request goes: a URI (out of dialog), a dialog or a subscription. */
export type Target = string | { readonly dialog: string } | { readonly subscription: string };

type StreamCall = grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>;

interface Stream {
  readonly call: StreamCall;
  ready: boolean;
  done: boolean;
  readonly closed: Promise<void>;
  /** Written in this turn of the event loop, sent after it as one RequestBatch (Start.batching). */
  queued: ConnectRequest[];
}

/** Queues `msg` on the stream; what a turn of the event loop queued leaves at its end, together. */
function writeBatched(st: Stream, msg: ConnectRequest): void {
  if (st.queued.push(msg) === 1) setImmediate(() => flushBatch(st));
}

function flushBatch(st: Stream): void {
  const msgs = st.queued;
  if (msgs.length === 0) return;
  st.queued = [];
  if (st.done) return;
  st.call.write(
    msgs.length === 1 ? (msgs[0] as ConnectRequest) : { msg: { $case: 'batch', value: { messages: msgs } } },
  );
}

type State = 'connecting' | 'ready' | 'reconnecting' | 'stopping' | 'closed';

const FATAL_STATUS = new Set<grpc.status>([
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.INVALID_ARGUMENT,
]);
const FATAL_CODES = new Set<ServerErrorCode>(['protocol', 'invalidConfig', 'configMismatch', 'listenFailed']);

export class SipApp extends EventEmitter<SipAppEvents> {
  /** The callbacks sent in Start. */
  readonly callbackNames: readonly CallbackName[];
  #opts: SipAppOptions;
  #callbacks: SipAppCallbacks;
  #client: SipAppServiceClient;
  #log: Logger;
  #backoff: Backoff;
  #state: State = 'connecting';
  #stream: Stream | undefined;
  #started: StartedInfo | undefined;
  #nextId = 1;
  #pending = new Map<number, UacCall>();
  #dialogQueries = new Map<number, { resolve: (r: DialogResult) => void; reject: (e: Error) => void }>();
  #authLists = new Map<number, { resolve: (v: string[] | undefined) => void }>();
  #stuns = new Map<number, { resolve: (v: StunInfo) => void; reject: (e: Error) => void }>();
  /** The app's registrar (registrar plugin): find, qfind, delete, clear. */
  readonly registrar = new AppRegistrar((msg) => this.#send(msg));
  /** Automatic registrations and pings kept by the server for this instance. */
  readonly auto = new AppAuto(
    (msg) => this.#send(msg),
    (s) => this.emit('autoStatus', s),
  );
  #wakeSleep: (() => void) | undefined;
  #closedPromise: Promise<void>;
  #markClosed!: () => void;

  /** Connects, sends Start and resolves once the server answers Started. */
  static async start(options: SipAppOptions, callbacks: SipAppCallbacks = {}): Promise<SipApp> {
    const app = new SipApp(options, callbacks);
    await app.#connectFirst();
    return app;
  }

  private constructor(options: SipAppOptions, callbacks: SipAppCallbacks) {
    super();
    if (!options.app) throw new TypeError('SipApp.start: `app` (the app name) is required');
    this.#opts = options;
    this.#callbacks = callbacks;
    this.callbackNames = implementedCallbacks(callbacks);
    this.#log = options.logger ?? silentLogger;
    this.#backoff = backoffPolicy(options.reconnect);
    const creds =
      options.credentials ??
      (options.tls
        ? options.tls === true
          ? grpc.credentials.createSsl()
          : grpc.credentials.createSsl(options.tls.rootCerts, options.tls.privateKey, options.tls.certChain)
        : grpc.credentials.createInsecure());
    this.#client = new SipAppServiceClient(options.server ?? DEFAULT_SERVER, creds, options.channelOptions);
    this.#closedPromise = new Promise((resolve) => {
      this.#markClosed = resolve;
    });
  }

  /** The app's name. */
  get name(): string {
    return this.#opts.app;
  }

  /** This instance's id (kept across reconnects), '' before the first Started. */
  get instanceId(): string {
    return this.#started?.instanceId ?? '';
  }

  /** What the server said in the latest Started (listeners, instance id, ...). */
  get startedInfo(): StartedInfo | undefined {
    return this.#started;
  }

  /** True while the stream is up and joined. */
  get connected(): boolean {
    return this.#state === 'ready';
  }

  /** Resolves when the app has closed. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  // ---- UAC ----

  /**
   * The sources (`udp:127.0.0.1:5070`) authorised in a dialog (NkSIP get_authorized_list):
   * an in-dialog request from one of them reaches `authorize` with `dialog: true`.
   * Undefined for an unknown or ended dialog.
   */
  authorizedList(dialog: string): Promise<string[] | undefined> {
    return this.#authorizedList(dialog, false);
  }

  /** Empties a dialog's authorised list (NkSIP clear_authorized_list); resolves with what it held. */
  clearAuthorizedList(dialog: string): Promise<string[] | undefined> {
    return this.#authorizedList(dialog, true);
  }

  #authorizedList(dialog: string, clear: boolean): Promise<string[] | undefined> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#authLists.set(id, { resolve });
      if (!this.#send({ msg: { $case: 'authorizedList', value: { id, dialogHandle: dialog, clear } } })) {
        this.#authLists.delete(id);
        reject(new UacError('notConnected', 'SipApp is not connected'));
      }
    });
  }

  /**
   * Sends a STUN Binding request (NkSIP `nksip_uac:stun`) from one of the app's UDP listeners
   * (the server's when the app has none) to `uri`: `sip:host:port`, `host:port` or `host`
   * (port 3478; every nksip-server UDP listener also answers STUN on its SIP port). Resolves
   * with the local and the public address; rejects with a UacError (`invalidUri`,
   * `serviceUnavailable` when nothing answers).
   */
  stun(uri: string): Promise<StunInfo> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#stuns.set(id, { resolve, reject });
      if (!this.#send({ msg: { $case: 'stun', value: { id, uri } } })) {
        this.#stuns.delete(id);
        reject(new UacError('notConnected', 'SipApp is not connected'));
      }
    });
  }

  /** OPTIONS to a URI, or in a dialog. */
  options(target: Target, opts?: UacOptions): UacCall {
    return this.request('OPTIONS', target, opts);
  }

  /** REGISTER to a registrar URI. */
  register(uri: string, opts?: UacOptions): UacCall {
    return this.request('REGISTER', uri, opts);
  }

  /** INVITE to a URI, or a re-INVITE in a dialog. ACK a 2xx with `ack()` unless `auto2xxAck`. */
  invite(target: Target, opts?: UacOptions): UacCall {
    return this.request('INVITE', target, opts);
  }

  /** ACK a 2xx to an INVITE the app sent, in its dialog (may carry a late SDP answer). */
  ack(dialog: string, opts?: UacOptions): UacCall {
    return this.request('ACK', { dialog }, opts);
  }

  bye(dialog: string, opts?: UacOptions): UacCall {
    return this.request('BYE', { dialog }, opts);
  }

  /** CANCEL an INVITE the app sent (its UacCall or request handle). */
  cancel(invite: string | UacCall, opts?: Pick<UacOptions, 'reason' | 'headers'>): UacCall {
    if (typeof invite !== 'string') {
      const call = invite;
      const pending = this.#newCall('CANCEL');
      void call.handle().then((h) => this.#sendCommand(pending, '', h, opts));
      return pending.call;
    }
    const p = this.#newCall('CANCEL');
    this.#sendCommand(p, '', invite, opts);
    return p.call;
  }

  info(dialog: string, opts?: UacOptions): UacCall {
    return this.request('INFO', { dialog }, opts);
  }

  update(dialog: string, opts?: UacOptions): UacCall {
    return this.request('UPDATE', { dialog }, opts);
  }

  /** PRACK a reliable provisional response (after `manualPrack`); the server adds the RAck. */
  prack(dialog: string, opts?: UacOptions): UacCall {
    return this.request('PRACK', { dialog }, opts);
  }

  /**
   * NkSIP refresh/2: a re-INVITE with the dialog's last local SDP, version incremented;
   * `mode` `hold` sends sendonly, `inactive` inactive, `active` sendrecv, `keep` (default)
   * leaves the direction. The SDP is the server's: it keeps the session of every dialog.
   */
  refresh(dialog: string, mode: RefreshMode = 'keep', opts?: UacOptions): UacCall {
    return this.request('INVITE', { dialog }, { ...opts, refresh: mode });
  }

  /** SUBSCRIBE to a URI; in a subscription (re-SUBSCRIBE; `expires: 0` ends it) or a dialog. */
  subscribe(target: Target, opts?: UacOptions): UacCall {
    return this.request('SUBSCRIBE', target, opts);
  }

  /** NOTIFY in a subscription (Subscription-State from `subscriptionState`, default active). */
  notify(subscription: string, opts?: UacOptions): UacCall {
    return this.request('NOTIFY', { subscription }, opts);
  }

  message(target: Target, opts?: UacOptions): UacCall {
    return this.request('MESSAGE', target, opts);
  }

  /** REFER (`referTo` required); the 2xx carries the subscription handle. */
  refer(target: Target, opts?: UacOptions): UacCall {
    return this.request('REFER', target, opts);
  }

  /** PUBLISH (`event` and `body` required). */
  publish(target: Target, opts?: UacOptions): UacCall {
    return this.request('PUBLISH', target, opts);
  }

  /** Any request: `method` is OPTIONS, ..., PRACK or any other token. */
  request(method: string, target: Target, opts: UacOptions = {}): UacCall {
    const p = this.#newCall(method.toUpperCase(), opts);
    const t = typeof target === 'string' ? { uri: target } : target;
    this.#sendCommand(p, 'uri' in t ? t.uri : '', '', opts, t);
    return p.call;
  }

  // ---- dialogs ----

  /** The dialog's state as the server keeps it (NkSIP nksip_dialog:get_meta); undefined when unknown. */
  async dialog(handle: string): Promise<DialogInfo | undefined> {
    const r = await this.#dialogCommand({ $case: 'get', value: handle });
    const d = r.dialogs[0];
    return d ? toDialogInfo(d) : undefined;
  }

  /** Every dialog of a Call-ID (NkSIP nksip_dialog:get_all/2). */
  async dialogs(callId: string): Promise<DialogInfo[]> {
    const r = await this.#dialogCommand({ $case: 'list', value: callId });
    return r.dialogs.map(toDialogInfo);
  }

  /**
   * Stops a dialog at once, without a BYE (NkSIP nksip_dialog:stop/1); the stop comes as a
   * dialog update. Rejects for an unknown dialog.
   */
  async stopDialog(handle: string): Promise<void> {
    const r = await this.#dialogCommand({ $case: 'stop', value: handle });
    if (r.error !== '') throw new Error(r.error);
  }

  #dialogCommand(op: DialogCommand['op']): Promise<DialogResult> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#dialogQueries.set(id, { resolve, reject });
      if (this.#state !== 'ready' || !this.#send({ msg: { $case: 'dialogCommand', value: { id, op } } })) {
        this.#dialogQueries.delete(id);
        reject(new UacError('notConnected', 'SipApp is not connected: dialog command not sent'));
      }
    });
  }

  // ---- late replies ----

  /** Answers a request whose callback returned `noreply()` (same as `request.reply`). */
  reply(requestHandle: string, reply: Reply): void {
    const late = { requestHandle, reply: toProtoReply(reply) };
    if (!this.#send({ msg: { $case: 'lateReply', value: late } })) {
      throw new Error('SipApp is not connected: the late reply was not sent');
    }
  }

  // ---- stop ----

  /** Sends Stop, ends the stream and resolves once it is closed. Pending requests are rejected. */
  async stop(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#state === 'stopping') return this.#closedPromise;
    this.#state = 'stopping';
    this.#wakeSleep?.();
    this.#failPending('app stopped');
    const st = this.#stream;
    if (st && !st.done) {
      try {
        flushBatch(st);
        st.call.write({ msg: { $case: 'stop', value: {} } });
        st.call.end();
      } catch {
        // The stream is already gone.
      }
      const limit = this.#opts.stopTimeoutMs ?? 2000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        st.closed.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), limit);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.#log('warn', 'server did not close the stream after Stop; cancelling it');
        st.call.cancel();
      }
    }
    this.#close();
  }

  // ---- internals ----

  #newCall(method: string, opts: UacOptions = {}): { call: UacCall; id: number; method: string } {
    const id = this.#nextId++;
    const provisionals =
      method === 'INVITE' || opts.provisionals === true || opts.onProvisional !== undefined;
    const command = {
      id,
      method,
      uri: '',
      dialogHandle: '',
      subscriptionHandle: '',
      requestHandle: '',
      options: toProtoUacOptions(opts, provisionals),
    };
    const call = new UacCall(command, opts.onProvisional, (h, reason) => this.cancel(h, { reason }));
    return { call, id, method };
  }

  #sendCommand(
    p: { call: UacCall; id: number },
    uri: string,
    requestHandle: string,
    opts: Pick<UacOptions, 'reason' | 'headers'> | undefined,
    target?: { dialog: string } | { subscription: string } | { uri: string },
  ): void {
    const cmd = p.call.command;
    cmd.uri = uri;
    cmd.requestHandle = requestHandle;
    if (target && 'dialog' in target) cmd.dialogHandle = target.dialog;
    if (target && 'subscription' in target) cmd.subscriptionHandle = target.subscription;
    if (cmd.method === 'CANCEL') {
      if (requestHandle === '') {
        p.call.fail(new UacError('unknownRequest', 'CANCEL: the INVITE has no request handle'));
        return;
      }
      if (cmd.options && opts) cmd.options = toProtoUacOptions(opts, false);
    }
    if (this.#state !== 'ready') {
      p.call.fail(new UacError('notConnected', `SipApp is not connected: ${cmd.method} not sent`));
      return;
    }
    this.#pending.set(p.id, p.call);
    if (!this.#send({ msg: { $case: 'command', value: cmd } })) {
      this.#pending.delete(p.id);
      p.call.fail(new UacError('notConnected', `SipApp is not connected: ${cmd.method} not sent`));
    }
  }

  #send(msg: ConnectRequest): boolean {
    const st = this.#stream;
    if (!st?.ready || st.done) return false;
    writeBatched(st, msg);
    return true;
  }

  #startMessage(): Start {
    return {
      app: this.#opts.app,
      config: toAppConfig(this.#opts),
      callbacks: this.callbackNames.map((n) => CALLBACK_KINDS[n]),
      token: this.#opts.token ?? '',
      instanceId: this.#started?.instanceId ?? '',
      batching: true,
    };
  }

  async #connectFirst(): Promise<void> {
    try {
      await this.#openStream();
    } catch (e) {
      const err = toServerError(e);
      if (!this.#backoff.enabled || isFatal(err)) {
        this.#close();
        throw err;
      }
      this.#log('warn', `cannot join the server yet: ${err.message}`);
      await this.#reconnectLoop(true);
    }
  }

  /** Opens a stream and sends Start; resolves on Started, rejects on anything else first. */
  #openStream(): Promise<void> {
    const call = this.#client.connect();
    let markClosed!: () => void;
    const st: Stream = {
      call,
      ready: false,
      done: false,
      closed: new Promise((resolve) => {
        markClosed = resolve;
      }),
      queued: [],
    };
    this.#stream = st;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let startError: ServerError | undefined;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new ServerError('stream', 'timed out waiting for Started'));
        st.done = true;
        call.cancel();
      }, this.#opts.startTimeoutMs ?? 10_000);
      const finish = (err: Error | undefined): void => {
        const wasReady = st.ready;
        st.done = true;
        st.ready = false;
        markClosed();
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(startError ?? toServerError(err ?? new Error('stream closed before Started')));
          return;
        }
        if (wasReady && this.#stream === st) this.#onBroken(err);
      };
      call.on('data', (m: ConnectResponse) => {
        if (st.done) return;
        if (!st.ready) {
          if (m.msg?.$case === 'started') {
            st.ready = true;
            settled = true;
            clearTimeout(timer);
            this.#onStarted(m.msg.value);
            resolve();
          } else if (m.msg?.$case === 'error') {
            startError = ServerError.from(m.msg.value);
          } else {
            this.#log('warn', `unexpected ${m.msg?.$case ?? 'empty'} message before Started`);
          }
          return;
        }
        this.#onMessage(st, m);
      });
      call.on('error', (e: grpc.ServiceError) => {
        if (!st.done) finish(e);
      });
      call.on('end', () => {
        if (!st.done) finish(undefined);
      });
      call.on('close', () => markClosed());
      call.write({ msg: { $case: 'start', value: this.#startMessage() } });
    });
  }

  #onStarted(s: {
    app: string;
    instanceId: string;
    listeners: string[];
    serverVersion: string;
    instances: number;
  }): void {
    const reconnected = this.#started !== undefined;
    this.#started = {
      app: s.app,
      instanceId: s.instanceId,
      listeners: s.listeners,
      serverVersion: s.serverVersion,
      instances: s.instances,
      reconnected,
    };
    this.#state = 'ready';
    this.#log('info', reconnected ? 'rejoined the server' : 'joined the server', {
      app: s.app,
      instanceId: s.instanceId,
      listeners: s.listeners,
    });
    this.emit('started', this.#started);
  }

  #onBroken(err: Error | undefined): void {
    if (this.#state === 'stopping' || this.#state === 'closed') return;
    this.#log('warn', `stream to the server broke: ${err?.message ?? 'closed by the server'}`);
    this.#failPending('the stream to the server broke');
    this.emit('disconnected', err);
    if (err) this.#emitError(toServerError(err));
    if (!this.#backoff.enabled) {
      this.#close();
      return;
    }
    void this.#reconnectLoop(false).catch(() => undefined);
  }

  async #reconnectLoop(first: boolean): Promise<void> {
    this.#state = first ? 'connecting' : 'reconnecting';
    for (let attempt = 1; ; attempt++) {
      if (this.#isStopping()) throw new ServerError('stream', 'SipApp stopped');
      if (attempt > this.#backoff.maxAttempts) {
        const err = new ServerError('stream', `gave up after ${attempt - 1} reconnect attempts`);
        this.#emitError(err);
        this.#close();
        throw err;
      }
      const delay = backoffDelay(this.#backoff, attempt);
      this.emit('reconnecting', attempt, delay);
      await this.#sleep(delay);
      if (this.#isStopping()) throw new ServerError('stream', 'SipApp stopped');
      try {
        await this.#openStream();
        return;
      } catch (e) {
        const err = toServerError(e);
        this.#log('warn', `reconnect attempt ${attempt} failed: ${err.message}`);
        if (first && isFatal(err)) {
          this.#close();
          throw err;
        }
        if (err.code !== 'stream') this.#emitError(err);
      }
    }
  }

  #isStopping(): boolean {
    return this.#state === 'stopping' || this.#state === 'closed';
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#wakeSleep = done;
    });
  }

  #close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#failPending('app stopped');
    this.#client.close();
    this.#markClosed();
    this.emit('closed');
  }

  #failPending(why: string): void {
    this.registrar.failAll(why);
    this.auto.failAll(why);
    const calls = [...this.#pending.values()];
    this.#pending.clear();
    for (const w of this.#authLists.values()) w.resolve(undefined);
    this.#authLists.clear();
    for (const w of this.#stuns.values())
      w.reject(new UacError('disconnected', `stun not completed: ${why}`));
    this.#stuns.clear();
    for (const c of calls) c.fail(new UacError('disconnected', `${c.method} not completed: ${why}`));
    const queries = [...this.#dialogQueries.values()];
    this.#dialogQueries.clear();
    for (const q of queries) q.reject(new UacError('disconnected', `dialog command not completed: ${why}`));
  }

  #emitError(err: ServerError): void {
    this.#log('error', err.message, { code: err.code, ref: err.ref });
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #onMessage(st: Stream, m: ConnectResponse): void {
    switch (m.msg?.$case) {
      case 'batch':
        for (const inner of m.msg.value.messages) {
          if (inner.msg?.$case !== 'batch') this.#onMessage(st, inner);
        }
        return;
      case 'callback':
        void this.#onCallback(st, m.msg.value);
        return;
      case 'uacEvent':
        this.#onUacEvent(m.msg.value);
        return;
      case 'dialogResult': {
        const q = this.#dialogQueries.get(m.msg.value.id);
        this.#dialogQueries.delete(m.msg.value.id);
        q?.resolve(m.msg.value);
        return;
      }
      case 'registrarResult':
        this.registrar.result(m.msg.value);
        return;
      case 'autoResult':
        this.auto.result(m.msg.value);
        return;
      case 'notification':
        this.#onNotification(m.msg.value);
        return;
      case 'error':
        this.#emitError(ServerError.from(m.msg.value));
        return;
      case 'started':
        this.#log('warn', 'Started received twice; ignored');
        return;
      case 'authorizedList': {
        const v = m.msg.value;
        const w = this.#authLists.get(v.id);
        this.#authLists.delete(v.id);
        w?.resolve(v.found ? v.sources : undefined);
        return;
      }
      case 'stunResult': {
        const v = m.msg.value;
        const w = this.#stuns.get(v.id);
        this.#stuns.delete(v.id);
        if (v.error !== '') {
          const kind =
            v.errorKind === UacErrorKind.UAC_ERROR_KIND_INVALID_URI ? 'invalidUri' : 'serviceUnavailable';
          w?.reject(new UacError(kind, v.error));
        } else {
          w?.resolve({
            local: { address: v.localAddress, port: v.localPort },
            public: { address: v.publicAddress, port: v.publicPort },
          });
        }
        return;
      }
      default:
        return;
    }
  }

  async #onCallback(st: Stream, cb: Callback): Promise<void> {
    const name = callbackName(cb.kind);
    let answer: Awaited<ReturnType<typeof runCallback>>;
    try {
      answer = await runCallback(this.#callbacks, cb, (handle, reply) => this.reply(handle, reply));
    } catch (e) {
      const n = name ?? 'route';
      this.#log('error', `callback ${n} failed: ${e instanceof Error ? e.message : String(e)}`, {
        id: cb.id,
      });
      this.emit('callbackError', n, e);
      answer = { name: n, answer: answerOnFailure(n) };
    }
    if (answer === undefined) {
      this.#log('warn', `callback of kind ${cb.kind as CallbackKind} not implemented; not answered`, {
        id: cb.id,
      });
      return;
    }
    if (st !== this.#stream || st.done) {
      this.#log('debug', 'stream changed before the callback finished; answer dropped', { id: cb.id });
      return;
    }
    writeBatched(st, { msg: { $case: 'answer', value: { id: cb.id, answer: answer.answer } } });
  }

  #onUacEvent(ev: UacEvent): void {
    const call = this.#pending.get(ev.id);
    if (!call) {
      this.emit('uacEvent', ev);
      return;
    }
    if (call.event(ev)) this.#pending.delete(ev.id);
  }

  #onNotification(n: Notification): void {
    const e = n.event;
    switch (e?.$case) {
      case 'dialogUpdate':
        this.emit('dialogUpdate', toDialogUpdateEvent(e.value));
        return;
      case 'sessionUpdate':
        this.emit('sessionUpdate', toSessionUpdateEvent(e.value));
        return;
      case 'callbackExpired':
        this.emit('callbackExpired', {
          id: e.value.id,
          kind: callbackName(e.value.kind),
          handledBy: e.value.handledBy,
          code: e.value.code,
        });
        return;
      case 'registration':
        this.emit('registration', { id: e.value.id, ok: e.value.ok, code: e.value.code });
        return;
      case 'connectionLost': {
        const { transport, remoteAddress, remotePort, localAddress, localPort, reason, dialogs } = e.value;
        this.emit('connectionLost', {
          transport,
          remoteAddress,
          remotePort,
          localAddress,
          localPort,
          reason,
          dialogs,
        });
        return;
      }
      default:
        return;
    }
  }
}

function toServerError(e: unknown): ServerError {
  if (e instanceof ServerError) return e;
  const se = e as Partial<grpc.ServiceError>;
  if (typeof se.code === 'number') {
    return new ServerError('stream', se.details || se.message || 'stream failed', 0, se.code);
  }
  return new ServerError('stream', e instanceof Error ? e.message : String(e));
}

function isFatal(e: ServerError): boolean {
  return FATAL_CODES.has(e.code) || (e.grpcCode !== undefined && FATAL_STATUS.has(e.grpcCode));
}

export type { SipResponse };
