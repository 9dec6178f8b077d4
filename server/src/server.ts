// Composition: transports → transaction layer → UAS and UAC cores → apps layer (SipApps over
// gRPC), started from a Config, stopped gracefully. Tests and embedders use `startServer`
// directly (with `grpc: false` when they need no gRPC service).
import type { Logger } from 'pino';
import { type AppsLayer, startApps } from './apps/index.js';
import { version } from './args.js';
import { type Config, type ListenSpec, parseListen } from './config.js';
import type { AppHandler } from './core/app.js';
import { defaultApp } from './core/default-app.js';
import { DialogTable } from './core/dialog/table.js';
import { UacCore } from './core/uac.js';
import { UasCore } from './core/uas.js';
import type { UasProfile } from './core/uas-checks.js';
import { silentLogger } from './log.js';
import { SipProxy } from './proxy/index.js';
import { realClock, TransactionLayer } from './transaction/index.js';
import { hostText, isWildcard } from './transport/address.js';
import { bindFailure } from './transport/listener.js';
import { TransportManager } from './transport/manager.js';
import type { Source } from './transport/types.js';

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
  transport: 'udp' | 'tcp';
  address: string;
  port: number;
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
  /** Where SipApps connect (`127.0.0.1:50051`), when the gRPC service runs. */
  readonly grpcAddress: string | undefined;
  /** New requests get 503; waits up to `timeoutMs` for live transactions, then closes. */
  stop(timeoutMs?: number): Promise<void>;
}

export async function startServer(config: Config, opts: ServerOptions = {}): Promise<Server> {
  const log = opts.logger ?? silentLogger();
  const groups = config.listen.map(parseListen);
  const transportOpts: ConstructorParameters<typeof TransportManager>[0] = {
    logger: log,
    udpMaxSize: config.udpMaxSize,
    idleTimeout: config.tcpIdleTimeout * 1000,
  };
  if (config.localHost !== undefined) transportOpts.localHost = config.localHost;
  const transport = new TransportManager(transportOpts);
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
  const builtIn = opts.app ?? defaultApp(profile);
  const proxyOpts: ConstructorParameters<typeof SipProxy>[0] = {
    layer,
    transport,
    logger: log,
    listeners: () => transport.listening(),
    localContact: (t) => transport.localContact(t),
  };
  if (config.localHost !== undefined) proxyOpts.recordRouteHost = config.localHost;
  const proxy = new SipProxy(proxyOpts);
  const dialogs = new DialogTable();
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
  });
  const uacDefaults: ConstructorParameters<typeof UacCore>[0]['defaults'] = {
    from: '"NkSIP App" <sip:user@nksip>',
    route: [],
    allow: config.allow,
    supported: config.supported,
  };
  if (config.localHost !== undefined) uacDefaults.localHost = config.localHost;
  const uac = new UacCore({ layer, transport, defaults: uacDefaults, logger: log, dialogs: core.dialogs });
  transport.onMessage((inc) => core.receive(inc));

  const listeners: BoundListener[] = [];
  try {
    for (const group of groups) {
      // UDP and TCP of one URI share a port
      const port = await listenOrExplain(transport, group);
      for (const spec of group) {
        listeners.push({ transport: spec.transport as 'udp' | 'tcp', address: spec.address, port });
      }
    }
  } catch (e) {
    core.close();
    await transport.close();
    throw e;
  }
  let apps: AppsLayer;
  try {
    apps = await startApps({
      transport,
      serverListeners: listeners,
      defaultApp: builtIn,
      profile,
      version: version(),
      uac,
      grpc: config.grpc,
      ...(config.grpcTls ? { grpcTls: config.grpcTls } : {}),
      ...(config.grpcToken !== undefined ? { grpcToken: config.grpcToken } : {}),
      logger: log,
    });
  } catch (e) {
    core.close();
    layer.close();
    await transport.close();
    const err = e as NodeJS.ErrnoException;
    const why = /EADDRINUSE|in use/i.test(err.message) ? 'address already in use' : err.message;
    throw new StartError(`cannot start the gRPC service on ${config.grpc}: ${why}`);
  }
  core.setApp(apps.router);
  const started: Record<string, unknown> = {
    listeners: listeners.map((l) => `${l.transport}:${hostText(l.address)}:${l.port}`),
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
      core.close();
      layer.close();
      await transport.close();
    })();
    return stopped;
  };
  return {
    listeners,
    transport,
    transactions: layer,
    core,
    dialogs,
    uac,
    apps,
    grpcAddress: apps.grpcAddress,
    stop,
  };
}

async function listenOrExplain(transport: TransportManager, group: ListenSpec[]): Promise<number> {
  try {
    return await transport.listenGroup(
      group.map((spec) => ({
        transport: spec.transport as 'udp' | 'tcp',
        address: spec.address,
        port: spec.port,
      })),
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const spec = group[0] as ListenSpec;
    const where = `${spec.transport} ${hostText(spec.address)}:${spec.port}`;
    // the cause's code says why; the transport's message already carries the same words
    throw new StartError(
      `cannot listen on ${where}: ${bindFailure((err.cause as NodeJS.ErrnoException) ?? err)}`,
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
