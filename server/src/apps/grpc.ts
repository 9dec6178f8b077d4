// The SipAppService over gRPC: one bidirectional stream per app instance. The first message
// must be Start (token checked when the server has one); then answers, late replies, UAC
// commands and Stop come in, and callbacks, UAC events, notifications and errors go out.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  type ConnectRequest,
  ConnectResponse,
  ErrorCode,
  SipAppServiceService,
} from '../gen/nksip/v1/service.js';
import { AutoSession } from './auto-register.js';
import { type DialogPort, runDialogCommand } from './dialog-commands.js';
import type { InstanceLink } from './dispatch.js';
import { registrarCommand } from './registrar-commands.js';
import { type AppEntry, type AppRegistry, JoinError } from './registry.js';
import { runStunCommand, type StunPort } from './stun-command.js';
import { type UacPort, UacSession } from './uac-commands.js';

export interface GrpcTls {
  /** PEM files. With `ca`, clients must present a certificate it signed. */
  cert: string;
  key: string;
  ca?: string;
}

export interface GrpcOptions {
  /** `HOST:PORT`; port 0 picks a free one. */
  address: string;
  tls?: GrpcTls;
  /** Shared secret every Start must carry. */
  token?: string;
  uac?: UacPort;
  dialogs?: DialogPort;
  /** For the `stun` command. */
  stun?: StunPort;
  logger?: Logger;
}

export interface GrpcService {
  /** The bound address, `127.0.0.1:50051`. */
  readonly address: string;
  close(): Promise<void>;
}

type Call = grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function credentials(tls: GrpcTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`grpcTls.${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  };
  const ca = tls.ca !== undefined ? read('ca', tls.ca) : null;
  return grpc.ServerCredentials.createSsl(
    ca,
    [{ cert_chain: read('cert', tls.cert), private_key: read('key', tls.key) }],
    ca !== null,
  );
}

/** One stream: Start, then the instance's life, then its leaving. */
class Session {
  private state: 'init' | 'joining' | 'running' | 'done' = 'init';
  private app: AppEntry | undefined;
  private link: InstanceLink | undefined;
  private uac: UacSession | undefined;
  private auto: AutoSession | undefined;
  /** Start.batching: what is written in one turn of the event loop leaves as one message. */
  private batching = false;
  private queued: ConnectResponse[] = [];

  constructor(
    private readonly call: Call,
    private readonly registry: AppRegistry,
    private readonly opts: GrpcOptions,
    private readonly onDone: (s: Session) => void,
  ) {
    call.on('data', (m: ConnectRequest) => this.onMessage(m));
    call.on('end', () => this.finish('end'));
    call.on('cancelled', () => this.finish('cancelled'));
    call.on('error', (err: unknown) => {
      this.opts.logger?.debug({ err }, 'app stream error');
      this.finish('error');
    });
  }

  private write(msg: ConnectResponse): void {
    if (this.state === 'done' || this.call.cancelled || this.call.writableEnded) return;
    if (!this.batching) {
      this.call.write(msg);
      return;
    }
    // the callbacks of every datagram read in this turn go out together, after it
    if (this.queued.push(msg) === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const msgs = this.queued;
    if (msgs.length === 0) return;
    this.queued = [];
    if (this.call.cancelled || this.call.writableEnded) return;
    this.call.write(
      msgs.length === 1
        ? (msgs[0] as ConnectResponse)
        : { msg: { $case: 'batch', value: { messages: msgs } } },
    );
  }

  private error(code: ErrorCode, message: string, ref = 0): void {
    this.write({ msg: { $case: 'error', value: { code, message, ref } } });
  }

  /** Ends the stream with an error message first (status OK: the app reads the Error). */
  private refuse(code: ErrorCode, message: string): void {
    this.error(code, message);
    this.finish('refused');
  }

  private onMessage(m: ConnectRequest): void {
    const msg = m.msg;
    if (this.state === 'done') return;
    if (this.state === 'init') {
      if (msg?.$case !== 'start') {
        this.refuse(
          ErrorCode.ERROR_CODE_PROTOCOL,
          `the first message must be Start, got ${msg?.$case ?? 'nothing'}`,
        );
        return;
      }
      this.start(msg.value);
      return;
    }
    if (this.state === 'joining') {
      this.error(ErrorCode.ERROR_CODE_PROTOCOL, 'wait for Started before sending more');
      return;
    }
    const app = this.app as AppEntry;
    const link = this.link as InstanceLink;
    switch (msg?.$case) {
      case 'start':
        this.error(ErrorCode.ERROR_CODE_PROTOCOL, 'Start came twice');
        return;
      case 'answer':
        app.dispatcher.answer(link, msg.value);
        return;
      case 'lateReply':
        app.dispatcher.lateReply(link, msg.value);
        return;
      case 'command':
        this.uac?.handle(msg.value);
        return;
      case 'dialogCommand': {
        const dialogs = this.opts.dialogs;
        const result = dialogs
          ? runDialogCommand(dialogs, msg.value)
          : { id: msg.value.id, dialogs: [], error: 'this server keeps no dialogs' };
        this.write({ msg: { $case: 'dialogResult', value: result } });
        return;
      }
      case 'authorizedList':
        if (this.uac)
          this.write({ msg: { $case: 'authorizedList', value: this.uac.authorizedList(msg.value) } });
        return;
      case 'auto':
        this.auto?.handle(msg.value);
        return;
      case 'registrar': {
        const id = msg.value.id;
        void registrarCommand(app.dispatcher.registrar, msg.value).then((value) =>
          this.write({ msg: { $case: 'registrarResult', value: { ...value, id } } }),
        );
        return;
      }
      case 'stun': {
        void runStunCommand(this.opts.stun, msg.value, this.registry.listenersOf(app)).then((value) =>
          this.write({ msg: { $case: 'stunResult', value } }),
        );
        return;
      }
      case 'stop':
        this.finish('stop');
        return;
      case 'batch':
        for (const inner of msg.value.messages) {
          if (inner.msg?.$case === 'batch' || inner.msg?.$case === 'start') {
            this.error(ErrorCode.ERROR_CODE_PROTOCOL, `a RequestBatch cannot carry ${inner.msg.$case}`);
          } else {
            this.onMessage(inner);
          }
        }
        return;
      default:
        this.error(ErrorCode.ERROR_CODE_PROTOCOL, 'empty message');
    }
  }

  private start(start: NonNullable<ConnectRequest['msg'] & { $case: 'start' }>['value']): void {
    const token = this.opts.token;
    if (token !== undefined && !timingSafeEqual(digest(start.token), digest(token))) {
      this.opts.logger?.warn({ app: start.app, peer: this.call.getPeer() }, 'app refused: wrong token');
      this.state = 'done';
      this.call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'wrong or missing token' });
      this.onDone(this);
      return;
    }
    this.state = 'joining';
    this.registry
      .join(start, (id) => ({
        id,
        send: (msg) => this.write(msg),
      }))
      .then(
        ({ started, app, link }) => {
          if (this.state === 'done') {
            this.registry.leave(app, link);
            return;
          }
          this.app = app;
          this.link = link;
          this.uac = new UacSession(
            this.opts.uac,
            app.settings,
            (ev) => this.write({ msg: { $case: 'uacEvent', value: ev } }),
            this.opts.logger,
            {
              onDialog: (update, ctx) =>
                update.type === 'session'
                  ? app.dispatcher.sessionUpdate(update.update, ctx)
                  : app.dispatcher.dialogUpdate(update, ctx),
              listeners: () => this.registry.listenersOf(app),
            },
          );
          this.auto = new AutoSession(
            this.opts.uac,
            app.settings,
            (msg) => this.write(msg),
            undefined,
            this.opts.logger,
            () => this.registry.listenersOf(app),
          );
          this.state = 'running';
          this.write({ msg: { $case: 'started', value: started } });
          this.batching = start.batching;
        },
        (e: unknown) => {
          if (e instanceof JoinError) {
            this.opts.logger?.warn(
              { app: start.app, code: ErrorCode[e.code], reason: e.message },
              'app refused',
            );
            this.refuse(e.code, e.message);
          } else {
            this.opts.logger?.error({ err: e, app: start.app }, 'app start failed');
            this.refuse(ErrorCode.ERROR_CODE_UNSPECIFIED, `start failed: ${(e as Error).message}`);
          }
        },
      );
  }

  /** The instance leaves (once), and the stream is closed from our side. */
  finish(why: string): void {
    if (this.state === 'done') return;
    const wasRunning = this.state === 'running';
    this.flush();
    this.state = 'done';
    this.uac?.close();
    this.auto?.close();
    if (wasRunning && this.app && this.link) {
      this.opts.logger?.debug(
        { app: this.app.settings.name, instance: this.link.id, why },
        'app stream closed',
      );
      this.registry.leave(this.app, this.link);
    }
    if (!this.call.cancelled && !this.call.writableEnded) {
      try {
        this.call.end();
      } catch {
        // already torn down
      }
    }
    this.onDone(this);
  }
}

/**
 * The generated serializer encodes each message with a fresh writer that grows by doubling,
 * then copies the result twice (finish, Buffer.from): one writer kept grown, and the result
 * wrapped as it is, for the callback sent for every request.
 */
const writer = new BinaryWriter();

function serializeResponse(value: ConnectResponse): Buffer {
  const bytes = ConnectResponse.encode(value, writer).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const SERVICE = {
  ...SipAppServiceService,
  connect: { ...SipAppServiceService.connect, responseSerialize: serializeResponse },
};

export async function startGrpc(registry: AppRegistry, opts: GrpcOptions): Promise<GrpcService> {
  const server = new grpc.Server();
  const sessions = new Set<Session>();
  server.addService(SERVICE, {
    connect: (call: Call) => {
      sessions.add(new Session(call, registry, opts, (s) => sessions.delete(s)));
    },
  });
  const creds = credentials(opts.tls);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.address, creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  const host = opts.address.slice(0, opts.address.lastIndexOf(':'));
  const address = `${host}:${port}`;
  opts.logger?.debug({ address, tls: opts.tls !== undefined }, 'gRPC listening');
  let closing: Promise<void> | undefined;
  return {
    address,
    close() {
      closing ??= (async () => {
        for (const s of [...sessions]) s.finish('server stopping');
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 1000);
          force.unref();
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
      })();
      return closing;
    },
  };
}
