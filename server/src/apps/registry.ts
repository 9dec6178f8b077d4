// The SipApps known to the server, their instances and their listeners. An instance joins an
// app by name when its config is equal; an app with listen URIs opens them on the shared
// transport, an app without takes over the server's own listeners from the built-in app
// while it is connected. Requests are routed to the app owning the listener they arrived on.
// The last instance leaving closes the app's listeners after its grace period, so a
// restarting app keeps its port.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { defaultGetUserPass } from '../auth/server.js';
import type { ListenSpec } from '../config.js';
import { type AppHandler, AUTH_OK, type AuthDecision } from '../core/app.js';
import type { RouteDecision } from '../core/decision.js';
import type { Dialog } from '../core/dialog/dialog.js';
import type { Reply } from '../core/reply.js';
import type { UasProfile } from '../core/uas-checks.js';
import { type ConnectionLost, ErrorCode, type Start, type Started } from '../gen/nksip/v1/service.js';
import type { SipRequest } from '../sip/message.js';
import { bareHost, isSipUri, uriParam } from '../sip/uri.js';
import { type Clock, realClock, type TimerHandle } from '../transaction/clock.js';
import { hostText, isWildcard, sameIp } from '../transport/address.js';
import { bindFailure } from '../transport/listener.js';
import type { Source, TransportName } from '../transport/types.js';
import { normalizePath, pathServes } from '../transport/ws.js';
import {
  type AppSettings,
  appSettings,
  configDiff,
  DEFAULT_DEADLINE_MS,
  InvalidConfig,
} from './app-config.js';
import { AppDispatcher, type InstanceLink, type OverloadLimits } from './dispatch.js';

export type ListenTransport = TransportName;

export interface ListenerRef {
  transport: ListenTransport;
  address: string;
  port: number;
  /** WS and WSS: the URL path (apps share a port by path, the longest prefix wins). */
  path?: string;
}

/** What the registry needs of the transport layer. */
export interface ListenerPort {
  listen(spec: ListenerRef): Promise<number>;
  /** Opens listeners sharing one port (port 0: a free one for all); resolves with it. */
  listenGroup(specs: readonly ListenerRef[]): Promise<number>;
  /** Closes one listener (an app's, when its last instance has been gone for the grace period). */
  closeListener(transport: ListenTransport, address: string, port: number, path?: string): Promise<void>;
}

export class JoinError extends Error {
  override name = 'JoinError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface RegistryOptions {
  transport: ListenerPort;
  /** The server's own listeners (`--listen`): served by the built-in app or a takeover app. */
  serverListeners: ListenerRef[];
  /** The built-in app (NkSIP defaults). */
  defaultApp: AppHandler;
  profile: (source: Source) => UasProfile;
  version: string;
  clock?: Clock;
  logger?: Logger;
  defaultDeadlineMs?: number;
  overload?: Partial<OverloadLimits>;
}

interface AppEntry {
  settings: AppSettings;
  dispatcher: AppDispatcher;
  listeners: ListenerRef[];
  instances: Map<string, InstanceLink>;
  grace?: TimerHandle;
}

export function listenerName(l: ListenerRef): string {
  return `${l.transport}:${hostText(l.address)}:${l.port}${l.path ?? ''}`;
}

/** How well a listener serves a message's source: 0 not at all, else longer URL paths score higher. */
function matchScore(l: ListenerRef, source: Source): number {
  const ok =
    l.transport === source.transport &&
    l.port === source.localPort &&
    (isWildcard(l.address) || sameIp(l.address, source.localAddress));
  if (!ok) return 0;
  if (l.path === undefined || source.path === undefined) return 1;
  const p = normalizePath(l.path);
  return pathServes(p, source.path) ? 1 + p.length : 0;
}

function sameListener(a: ListenerRef, b: ListenerRef): boolean {
  return (
    a.transport === b.transport &&
    a.port === b.port &&
    sameIp(a.address, b.address) &&
    normalizePath(a.path) === normalizePath(b.path)
  );
}

export class AppRegistry {
  private readonly opts: RegistryOptions;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly apps = new Map<string, AppEntry>();
  /** The handler each request went to, so its CANCEL notification follows it. */
  private readonly handlers = new WeakMap<SipRequest, AppHandler>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** The AppHandler the UAS core uses: picks the app per request's listener. */
  readonly router: AppHandler;

  constructor(opts: RegistryOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.log = opts.logger;
    const pick = (req: SipRequest, source: Source): AppHandler => {
      const h = this.handlerFor(source);
      // only an INVITE can be cancelled later; a WeakMap entry per request costs the GC
      if (req.method === 'INVITE') this.handlers.set(req, h);
      return h;
    };
    this.router = {
      route: (req, source): RouteDecision | Promise<RouteDecision> => pick(req, source).route(req, source),
      method: (req, source, provisional, ctx): Reply | Promise<Reply> =>
        ctx
          ? pick(req, source).method(req, source, provisional, ctx)
          : pick(req, source).method(req, source, provisional),
      ack: (ack, source, ctx) =>
        ctx ? pick(ack, source).ack?.(ack, source, ctx) : pick(ack, source).ack?.(ack, source),
      cancelled: (invite, cancel) => this.handlers.get(invite)?.cancelled?.(invite, cancel),
      dialogUpdate: (update, ctx) => this.handlerFor(ctx.source).dialogUpdate?.(update, ctx),
      authorize: (req, source, auth): AuthDecision | Promise<AuthDecision> => {
        const h = this.handlerFor(source);
        return h.authorize ? h.authorize(req, source, auth) : AUTH_OK;
      },
      getUserPass: (user, realm, req, source) => {
        const h = this.handlerFor(source);
        return h.getUserPass ? h.getUserPass(user, realm, req, source) : defaultGetUserPass(user, realm, req);
      },
      isRegistered: (req, source) => this.handlerFor(source).isRegistered?.(req, source) ?? false,
      sessionUpdate: (update, ctx) => this.handlerFor(ctx.source).sessionUpdate?.(update, ctx),
      timers: (source) => this.handlerFor(source).timers?.(source),
      callScope: (source) => this.handlerFor(source).callScope?.(source),
    };
  }

  /** Where an app is served: its own listeners, or the server's for an app without. */
  listenersOf(app: AppEntry): readonly ListenerRef[] {
    return app.listeners.length > 0 ? app.listeners : this.opts.serverListeners;
  }

  /** The app serving a listener: the owner of an app listener, else the takeover app, else the built-in one. */
  handlerFor(source: Source): AppHandler {
    let takeover: AppEntry | undefined;
    let best: AppEntry | undefined;
    let bestScore = 0;
    for (const app of this.apps.values()) {
      if (app.listeners.length === 0) {
        if (app.instances.size > 0) takeover = app;
        continue;
      }
      for (const l of app.listeners) {
        const score = matchScore(l, source);
        if (score > bestScore) {
          best = app;
          bestScore = score;
        }
      }
    }
    return best?.dispatcher ?? takeover?.dispatcher ?? this.opts.defaultApp;
  }

  /** Apps and their instance counts (for logs and tests). */
  describe(): { app: string; instances: number; listeners: string[] }[] {
    return [...this.apps.values()].map((a) => ({
      app: a.settings.name,
      instances: a.instances.size,
      listeners: a.listeners.map(listenerName),
    }));
  }

  /**
   * A flow is gone (a connection closed, keep-alives unanswered): each app whose dialogs used
   * it, by the listener of their local target, is told (`connection_lost`).
   */
  connectionLost(lost: Omit<ConnectionLost, 'dialogs'>, dialogs: readonly Dialog[]): void {
    const byApp = new Map<AppDispatcher, Dialog[]>();
    for (const d of dialogs) {
      const t = d.localTarget;
      if (!t || !isSipUri(t)) continue;
      const tp = uriParam(t, 'transport');
      const source: Source = {
        transport: typeof tp === 'string' && tp !== '' ? (tp.toLowerCase() as Source['transport']) : 'udp',
        address: '',
        port: 0,
        localAddress: bareHost(t.host),
        localPort: t.port ?? 5060,
      };
      const h = this.handlerFor(source);
      if (!(h instanceof AppDispatcher)) continue;
      const list = byApp.get(h) ?? [];
      list.push(d);
      byApp.set(h, list);
    }
    for (const [dispatcher, list] of byApp) dispatcher.connectionLost(lost, list);
  }

  dispatcherOf(app: string): AppDispatcher | undefined {
    return this.apps.get(app)?.dispatcher;
  }

  /**
   * An instance starting: checks the Start, joins or creates the app (opening its listeners).
   * Throws JoinError with the code to send back.
   */
  join(
    start: Start,
    link: (instanceId: string) => InstanceLink,
  ): Promise<{ started: Started; app: AppEntry; link: InstanceLink }> {
    const run = this.queue.then(() => this.doJoin(start, link));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doJoin(
    start: Start,
    makeLink: (instanceId: string) => InstanceLink,
  ): Promise<{ started: Started; app: AppEntry; link: InstanceLink }> {
    if (this.closed) throw new JoinError(ErrorCode.ERROR_CODE_PROTOCOL, 'the server is stopping');
    let settings: AppSettings;
    try {
      settings = appSettings(start, this.opts.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS);
    } catch (e) {
      if (e instanceof InvalidConfig) throw new JoinError(ErrorCode.ERROR_CODE_INVALID_CONFIG, e.message);
      throw e;
    }
    let app = this.apps.get(settings.name);
    if (app && app.settings.canonical !== settings.canonical) {
      if (app.instances.size > 0) {
        const diff = configDiff(app.settings.canonical, settings.canonical);
        throw new JoinError(
          ErrorCode.ERROR_CODE_CONFIG_MISMATCH,
          `app ${settings.name} already runs with another config (differs in: ${diff.join(', ') || 'config'}); every instance of an app must send an equal config and callbacks`,
        );
      }
      // nobody left in it (grace period): the new config replaces the old one
      await this.remove(app);
      app = undefined;
    }
    if (!app) app = await this.create(settings);
    if (app.grace) {
      this.clock.clearTimer(app.grace);
      delete app.grace;
    }
    let id = start.instanceId;
    if (id === '' || app.instances.has(id)) id = `I_${randomBytes(9).toString('base64url')}`;
    const link = makeLink(id);
    app.instances.set(id, link);
    app.dispatcher.addInstance(link);
    const listeners = app.listeners.length > 0 ? app.listeners : this.opts.serverListeners;
    this.log?.info(
      {
        app: settings.name,
        instance: id,
        instances: app.instances.size,
        listeners: listeners.map(listenerName),
      },
      'app instance joined',
    );
    return {
      app,
      link,
      started: {
        app: settings.name,
        instanceId: id,
        listeners: listeners.map(listenerName),
        serverVersion: this.opts.version,
        instances: app.instances.size,
      },
    };
  }

  private async create(settings: AppSettings): Promise<AppEntry> {
    if (settings.listen.length === 0) {
      for (const other of this.apps.values()) {
        if (other.listeners.length === 0 && other.instances.size > 0) {
          throw new JoinError(
            ErrorCode.ERROR_CODE_LISTEN_FAILED,
            `the server's own listeners are already served by app ${other.settings.name}; give this app listen URIs of its own`,
          );
        }
      }
    }
    const listeners: ListenerRef[] = [];
    try {
      // UDP and TCP of one URI share a port
      for (const group of settings.listenSpecs) listeners.push(...(await this.open(group)));
    } catch (e) {
      await Promise.all(listeners.map((l) => this.closeListener(l)));
      throw e;
    }
    const app: AppEntry = {
      settings,
      dispatcher: new AppDispatcher({
        settings,
        profile: this.opts.profile,
        clock: this.clock,
        ...(this.opts.overload ? { overload: this.opts.overload } : {}),
        ...(this.log ? { logger: this.log } : {}),
      }),
      listeners,
      instances: new Map(),
    };
    this.apps.set(settings.name, app);
    return app;
  }

  private async open(group: ListenSpec[]): Promise<ListenerRef[]> {
    const refs: ListenerRef[] = group.map((spec) => ({
      transport: spec.transport,
      address: spec.address,
      port: spec.port,
      ...(spec.path !== undefined ? { path: spec.path } : {}),
    }));
    for (const ref of refs) {
      for (const other of this.apps.values()) {
        if (ref.port !== 0 && other.listeners.some((l) => sameListener(l, ref))) {
          throw new JoinError(
            ErrorCode.ERROR_CODE_LISTEN_FAILED,
            `cannot listen on ${ref.transport} ${hostText(ref.address)}:${ref.port}: used by app ${other.settings.name}`,
          );
        }
      }
    }
    try {
      const port = await this.opts.transport.listenGroup(refs);
      return refs.map((r) => ({ ...r, port }));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const spec = group[0] as ListenSpec;
      const where = `${spec.transport} ${hostText(spec.address)}:${spec.port}`;
      const why = bindFailure((err.cause as NodeJS.ErrnoException) ?? err);
      throw new JoinError(
        ErrorCode.ERROR_CODE_LISTEN_FAILED,
        `cannot listen on ${where} (${spec.uri}): ${why}`,
      );
    }
  }

  private async closeListener(l: ListenerRef): Promise<void> {
    try {
      await this.opts.transport.closeListener(l.transport, l.address, l.port, l.path);
    } catch (err) {
      this.log?.warn({ err, listener: listenerName(l) }, 'could not close a listener');
    }
  }

  /** An instance leaving (Stop or broken stream). */
  leave(app: AppEntry, link: InstanceLink): void {
    if (this.apps.get(app.settings.name) !== app || app.instances.get(link.id) !== link) return;
    app.instances.delete(link.id);
    app.dispatcher.removeInstance(link);
    this.log?.info(
      { app: app.settings.name, instance: link.id, instances: app.instances.size },
      'app instance left',
    );
    if (app.instances.size > 0 || this.closed) return;
    if (app.listeners.length === 0) {
      // a takeover app: the built-in app serves the server's listeners again at once
      this.apps.delete(app.settings.name);
      app.dispatcher.close();
      return;
    }
    app.grace = this.clock.setTimer(app.settings.graceMs, () => {
      delete app.grace;
      if (app.instances.size === 0 && this.apps.get(app.settings.name) === app) {
        this.log?.info({ app: app.settings.name }, 'app gone: closing its listeners');
        void this.remove(app);
      }
    });
  }

  private async remove(app: AppEntry): Promise<void> {
    if (app.grace) this.clock.clearTimer(app.grace);
    this.apps.delete(app.settings.name);
    app.dispatcher.close();
    await Promise.all(app.listeners.map((l) => this.closeListener(l)));
  }

  /** Shutdown: pending callbacks get their defaults; listeners close with the transport. */
  close(): void {
    this.closed = true;
    for (const app of this.apps.values()) {
      if (app.grace) this.clock.clearTimer(app.grace);
      app.dispatcher.close();
    }
    this.apps.clear();
  }
}

export type { AppEntry };
