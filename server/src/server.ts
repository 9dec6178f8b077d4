// Composition: transports → transaction layer → UAS and UAC cores → apps layer (SipApps over
// gRPC), started from a Config, stopped gracefully. Tests and embedders use `startServer`
// directly (with `grpc: false` when they need no gRPC service).
import type { Logger } from 'pino';
import { type AppsLayer, startApps } from './apps/index.js';
import { version } from './args.js';
import { DialogAuth } from './auth/dialog-auth.js';
import { Authenticator } from './auth/server.js';
import { type Config, type ListenSpec, parseListen } from './config.js';
import type { AppHandler } from './core/app.js';
import { CallCounter } from './core/calls.js';
import { defaultApp } from './core/default-app.js';
import { DialogTable } from './core/dialog/table.js';
import { locateInput } from './core/target.js';
import { SessionTimers } from './core/timers.js';
import { UacCore } from './core/uac.js';
import { UasCore } from './core/uas.js';
import type { UasProfile } from './core/uas-checks.js';
import { silentLogger } from './log.js';
import { type Pbx, pbxApp } from './pbx/pbx.js';
import { SipProxy } from './proxy/index.js';
import { realClock, TransactionLayer } from './transaction/index.js';
import { hostText, isWildcard } from './transport/address.js';
import { bindFailure } from './transport/listener.js';
import { TransportManager } from './transport/manager.js';
import { ServerLocator, systemDns } from './transport/resolver.js';
import { loadTlsFiles } from './transport/tls.js';
import type { Source, TransportName } from './transport/types.js';

export class StartError extends Error {
  override name = 'StartError';
}

export interface ServerOptions {
  logger?: Logger;
  /**
   * The built-in app: serves the server's own listeners when no SipApp has taken them over.
   * NkSIP's defaults when absent.
   */
  app?: AppHandler;
}

export interface BoundListener {
  transport: TransportName;
  address: string;
  port: number;
  /** WS and WSS: the URL path served. */
  path?: string;
}

export interface Server {
  readonly listeners: BoundListener[];
  readonly transport: TransportManager;
  readonly transactions: TransactionLayer;
  readonly core: UasCore;
  /** The dialogs of the server, UAS and UAC side (owned by the UAS core, shared with the UAC core). */
  readonly dialogs: DialogTable;
  readonly uac: UacCore;
  readonly apps: AppsLayer;
  /** The built-in PBX, when the config has a `pbx` section. */
  readonly pbx: Pbx | undefined;
  /** The proxy (its `stats()` count live forks and branches). */
  readonly proxy: SipProxy;
  /** Where SipApps connect (`127.0.0.1:50051`), when the gRPC service runs. */
  readonly grpcAddress: string | undefined;
  /** What the server holds now: for operators (SIGUSR2 in the CLI) and benchmarks. */
  stats(): ServerStats;
  /** New requests get 503; waits up to `timeoutMs` for live transactions, then closes. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ServerStats {
  dialogs: { total: number; early: number; confirmed: number };
  transactions: { client: number; server: number };
  /** Requests sent for apps still waiting for their final response. */
  uacPending: number;
  /** Live calls (core/calls.ts): Call-IDs with a request waiting for its final response or a dialog. */
  calls: number;
  /** The proxy's live forks, branches and the dialogs it keeps as a record-routing proxy. */
  proxy: { forks: number; branches: number; dialogs: number };
  listeners: number;
  connections: number;
  apps: { app: string; instances: number; listeners: string[] }[];
  /** process.memoryUsage() in bytes. */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
}

export async function startServer(config: Config, opts: ServerOptions = {}): Promise<Server> {
  const log = opts.logger ?? silentLogger();
  const groups = config.listen.map(parseListen);
  const transportOpts: ConstructorParameters<typeof TransportManager>[0] = {
    logger: log,
    udpMaxSize: config.udpMaxSize,
    idleTimeout: config.tcpIdleTimeout * 1000,
    keepAliveInterval: config.keepAliveInterval * 1000,
    wsMaxMessage: config.wsMaxMessage,
  };
  if (config.tls !== undefined) {
    try {
      transportOpts.tls = loadTlsFiles(config.tls);
    } catch (e) {
      throw new StartError((e as Error).message);
    }
  }
  if (config.localHost !== undefined) transportOpts.localHost = config.localHost;
  const transport = new TransportManager(transportOpts);
  const calls = new CallCounter(config.maxCalls);
  // RFC 3263 for the UAC and the proxy: NAPTR and SRV answers filtered by what we listen on
  const locator = new ServerLocator({
    dns: systemDns(config.dnsServers),
    cacheTtl: config.dnsCacheTtl,
    transports: () => new Set<TransportName>(transport.listening().map((l) => l.transport)),
  });
  const layer = new TransactionLayer({
    transport,
    clock: realClock,
    t1: config.t1,
    t2: config.t2,
    t4: config.t4,
    transTimeout: config.transTimeout * 1000,
    no100: config.no100,
    logger: log,
  });
  const supported = config.supported
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  // one profile per local socket, built once: it is read for every request
  const profiles = new Map<string, UasProfile>();
  let lastSource: Source | undefined;
  let lastProfile: UasProfile | undefined;
  const profile = (source: Source): UasProfile => {
    // asked several times for each request, with the same source
    if (source === lastSource && lastProfile) return lastProfile;
    lastProfile = profileOf(source);
    lastSource = source;
    return lastProfile;
  };
  const profileOf = (source: Source): UasProfile => {
    const key = `${source.transport}|${source.localAddress}|${source.localPort}`;
    let p = profiles.get(key);
    if (p) return p;
    const host =
      config.localHost ?? (isWildcard(source.localAddress) ? undefined : hostText(source.localAddress));
    p = { allow: config.allow, supported };
    if (host !== undefined) {
      p.contact = `<sip:${host}:${source.localPort}${source.transport === 'udp' ? '' : `;transport=${source.transport}`}>`;
    }
    if (profiles.size < 1024) profiles.set(key, p);
    return p;
  };
  const pbx =
    opts.app === undefined && config.pbx
      ? pbxApp({ config: config.pbx, profile, clock: realClock, logger: log })
      : undefined;
  const builtIn = opts.app ?? pbx ?? defaultApp(profile);
  const proxyOpts: ConstructorParameters<typeof SipProxy>[0] = {
    layer,
    transport,
    logger: log,
    listeners: () => transport.listening(),
    localContact: (t) => transport.localContact(t),
    locate: (input) => locator.locate(input),
    // the apps layer comes later; until it exists every listener is the built-in app's
    sameService: (a, b) => apps === undefined || apps.registry.handlerFor(a) === apps.registry.handlerFor(b),
    timerC: config.timerC * 1000,
    dialogTimeoutMs: config.dialogTimeout * 1000,
    calls,
  };
  if (config.localHost !== undefined) proxyOpts.recordRouteHost = config.localHost;
  const proxy = new SipProxy(proxyOpts);
  const dialogs = new DialogTable(calls);
  // the UAC core comes after the UAS core (it shares its dialogs); the hang-up reaches it late
  let uacRef: UacCore | undefined;
  const dialogAuth = new DialogAuth();
  const core = new UasCore({
    transport,
    layer,
    profile,
    logger: log,
    app: builtIn,
    forwarder: proxy,
    clock: realClock,
    dialogs,
    dialogTimeoutMs: config.dialogTimeout * 1000,
    timerCMs: config.timerC * 1000,
    hangUp: (dialog, reason) => {
      uacRef?.sendInDialog(
        dialog.handle,
        { method: 'BYE', reason },
        {
          final: (r) => log.debug({ dialog: dialog.handle, status: r.status }, 'timeout BYE answered'),
          error: (kind, message) => log.debug({ dialog: dialog.handle, kind, message }, 'timeout BYE failed'),
        },
      );
    },
    authenticator: new Authenticator({ clock: realClock, nonceTimeout: config.nonceTimeout }),
    dialogAuth,
    calls,
  });
  const uacDefaults: ConstructorParameters<typeof UacCore>[0]['defaults'] = {
    from: '"NkSIP App" <sip:user@nksip>',
    route: [],
    allow: config.allow,
    supported: config.supported,
  };
  if (config.localHost !== undefined) uacDefaults.localHost = config.localHost;
  const uac = new UacCore({
    layer,
    transport,
    defaults: uacDefaults,
    logger: log,
    dialogs: core.dialogs,
    dialogAuth,
    timerCMs: config.timerC * 1000,
    calls,
    locate: (hop) => locator.locate(locateInput(hop)),
  });
  uacRef = uac;
  // RFC 4028: a session not refreshed in time is hung up
  const sessionTimers = new SessionTimers({
    clock: realClock,
    dialogs: core.dialogs,
    bye: (d, notify) => {
      log.info({ callId: d.callId, dialog: d.handle }, 'session timer expired: BYE');
      uac.sendInDialog(
        d.handle,
        { method: 'BYE', reason: 'SIP;cause=408;text="Session Timer Expired"' },
        { final: () => {}, error: () => {}, dialogUpdate: (u) => notify(u) },
      );
    },
  });
  core.setSessionTimers(sessionTimers);
  uac.setSessionTimers(sessionTimers);
  transport.onMessage((inc) => core.receive(inc));
  // a lost flow: the apps whose dialogs came over it (their authorised source) are told
  transport.onFlowLost((lost) => {
    const peer = { transport: lost.transport, address: lost.address, port: lost.port };
    const used = dialogs.all().filter((d) => !d.ended && dialogAuth.has(d, peer));
    if (used.length === 0) return;
    log.info(
      {
        flow: `${lost.transport}:${hostText(lost.address)}:${lost.port}`,
        reason: lost.reason,
        dialogs: used.length,
      },
      'connection lost',
    );
    apps?.registry.connectionLost(
      {
        transport: lost.transport,
        remoteAddress: lost.address,
        remotePort: lost.port,
        localAddress: lost.localAddress,
        localPort: lost.localPort,
        reason: lost.reason,
      },
      used,
    );
  });

  const listeners: BoundListener[] = [];
  try {
    for (const group of groups) {
      // UDP and TCP of one URI share a port
      const port = await listenOrExplain(transport, group);
      for (const spec of group) {
        const bound: BoundListener = { transport: spec.transport, address: spec.address, port };
        if (spec.path !== undefined) bound.path = spec.path;
        listeners.push(bound);
      }
    }
  } catch (e) {
    core.close();
    pbx?.close();
    await transport.close();
    throw e;
  }
  let apps: AppsLayer | undefined;
  try {
    apps = await startApps({
      transport,
      serverListeners: listeners,
      defaultApp: builtIn,
      profile,
      version: version(),
      uac,
      stun: transport,
      dialogs: {
        table: dialogs,
        proxyTable: proxy.dialogs.table,
        stop: (d) =>
          proxy.dialogs.table.handle(d.handle)
            ? proxy.dialogs.stop(d, 'forced')
            : core.stopDialog(d, 'forced'),
      },
      grpc: config.grpc,
      overload: { maxPendingPerInstance: config.appMaxPending, delayMs: config.appOverloadDelay },
      ...(config.grpcTls ? { grpcTls: config.grpcTls } : {}),
      ...(config.grpcToken !== undefined ? { grpcToken: config.grpcToken } : {}),
      logger: log,
    });
  } catch (e) {
    core.close();
    pbx?.close();
    layer.close();
    await transport.close();
    const err = e as NodeJS.ErrnoException;
    const why = /EADDRINUSE|in use/i.test(err.message) ? 'address already in use' : err.message;
    throw new StartError(`cannot start the gRPC service on ${config.grpc}: ${why}`);
  }
  core.setApp(apps.router);
  proxy.setApp(apps.router);
  const started: Record<string, unknown> = {
    listeners: listeners.map((l) => `${l.transport}:${hostText(l.address)}:${l.port}${l.path ?? ''}`),
  };
  if (apps.grpcAddress !== undefined) started.grpc = apps.grpcAddress;
  log.info(started, 'nksip-server started');

  let stopped: Promise<void> | undefined;
  const stop = (timeoutMs = config.shutdownTimeout): Promise<void> => {
    stopped ??= (async () => {
      core.drain();
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && layer.pending() > 0) await sleep(50);
      await apps.close();
      pbx?.close();
      core.close();
      uac.close();
      proxy.close();
      layer.close();
      await transport.close();
    })();
    return stopped;
  };
  const stats = (): ServerStats => {
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    return {
      dialogs: dialogs.counts(),
      transactions: layer.stats(),
      uacPending: uac.stats().pending,
      calls: calls.count(),
      proxy: proxy.stats(),
      ...transport.stats(),
      apps: apps.registry.describe(),
      memory: { rss, heapUsed, heapTotal, external },
    };
  };
  return {
    listeners,
    transport,
    stats,
    transactions: layer,
    core,
    dialogs,
    uac,
    apps,
    pbx,
    proxy,
    grpcAddress: apps.grpcAddress,
    stop,
  };
}

async function listenOrExplain(transport: TransportManager, group: ListenSpec[]): Promise<number> {
  try {
    return await transport.listenGroup(
      group.map((spec) => ({
        transport: spec.transport,
        address: spec.address,
        port: spec.port,
        ...(spec.path !== undefined ? { path: spec.path } : {}),
      })),
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const spec = group[0] as ListenSpec;
    const where = `${spec.transport} ${hostText(spec.address)}:${spec.port}`;
    // the cause's code says why; the transport's message already carries the same words
    const cause = (err.cause as NodeJS.ErrnoException) ?? err;
    throw new StartError(`cannot listen on ${where}: ${cause.code ? bindFailure(cause) : err.message}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
