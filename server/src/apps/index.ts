// The apps layer as one object for the composition in server.ts: the registry (whose router
// the UAS core uses) and, unless disabled, the gRPC service SipApps connect to.
import type { Logger } from 'pino';
import type { AppHandler } from '../core/app.js';
import type { UasProfile } from '../core/uas-checks.js';
import type { Clock } from '../transaction/clock.js';
import type { Source } from '../transport/types.js';
import type { DialogPort } from './dialog-commands.js';
import type { OverloadLimits } from './dispatch.js';
import { type GrpcTls, startGrpc } from './grpc.js';
import { AppRegistry, type ListenerPort, type ListenerRef } from './registry.js';
import type { StunPort } from './stun-command.js';
import type { UacPort } from './uac-commands.js';

export type { DialogPort } from './dialog-commands.js';
export type { GrpcTls } from './grpc.js';
export { AppRegistry } from './registry.js';
export type { UacPort } from './uac-commands.js';

export interface AppsOptions {
  transport: ListenerPort;
  serverListeners: ListenerRef[];
  defaultApp: AppHandler;
  profile: (source: Source) => UasProfile;
  version: string;
  uac?: UacPort;
  dialogs?: DialogPort;
  /** For the apps' `stun` command. */
  stun?: StunPort;
  /** `HOST:PORT` for the gRPC service; false: no gRPC. */
  grpc: string | false;
  /** Every app's overload guard. */
  overload?: Partial<OverloadLimits>;
  grpcTls?: GrpcTls;
  grpcToken?: string;
  logger?: Logger;
  clock?: Clock;
}

export interface AppsLayer {
  readonly registry: AppRegistry;
  /** The AppHandler for the UAS core. */
  readonly router: AppHandler;
  /** Bound gRPC address, when the service runs. */
  readonly grpcAddress: string | undefined;
  close(): Promise<void>;
}

export async function startApps(opts: AppsOptions): Promise<AppsLayer> {
  const registry = new AppRegistry({
    transport: opts.transport,
    serverListeners: opts.serverListeners,
    defaultApp: opts.defaultApp,
    profile: opts.profile,
    version: opts.version,
    ...(opts.overload ? { overload: opts.overload } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const grpc =
    opts.grpc === false
      ? undefined
      : await startGrpc(registry, {
          address: opts.grpc,
          ...(opts.grpcTls ? { tls: opts.grpcTls } : {}),
          ...(opts.grpcToken !== undefined ? { token: opts.grpcToken } : {}),
          ...(opts.uac ? { uac: opts.uac } : {}),
          ...(opts.dialogs ? { dialogs: opts.dialogs } : {}),
          ...(opts.stun ? { stun: opts.stun } : {}),
          ...(opts.logger ? { logger: opts.logger } : {}),
        });
  return {
    registry,
    router: registry.router,
    grpcAddress: grpc?.address,
    async close() {
      registry.close();
      await grpc?.close();
    },
  };
}
