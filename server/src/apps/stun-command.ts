// The `stun` command of an app (NkSIP nksip_uac:stun): the STUN server named by a sip: URI or
// host:port, asked from the app's own UDP listeners, answered as a StunResult.
import type { StunCommand, StunResult } from '../gen/nksip/v1/service.js';
import { UacErrorKind } from '../gen/nksip/v1/uac.js';
import { isSipUri, parseUri } from '../sip/uri.js';
import { stripBrackets } from '../transport/address.js';
import type { LocalAddress } from '../transport/types.js';

/** What the transport offers for the command (TransportManager.stun). */
export interface StunPort {
  stun(
    host: string,
    port: number,
    from?: readonly LocalAddress[],
  ): Promise<{ local: { address: string; port: number }; mapped: { address: string; port: number } }>;
}

const STUN_PORT = 3478;

/** `sip:host:port`, `host:port`, `[v6]:port` or a bare host; undefined when it is none. */
export function stunTarget(text: string): { host: string; port: number } | undefined {
  const t = text.trim();
  if (/^sips?:/i.test(t)) {
    try {
      const uri = parseUri(t);
      if (!isSipUri(uri) || uri.host === '') return undefined;
      return { host: stripBrackets(uri.host), port: uri.port ?? STUN_PORT };
    } catch {
      return undefined;
    }
  }
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+)(?::(\d{1,5}))?$/.exec(t);
  if (!m) return undefined;
  const port = m[2] === undefined ? STUN_PORT : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: stripBrackets(m[1] as string), port };
}

export async function runStunCommand(
  port: StunPort | undefined,
  cmd: StunCommand,
  from: readonly LocalAddress[],
): Promise<StunResult> {
  const result: StunResult = {
    id: cmd.id,
    localAddress: '',
    localPort: 0,
    publicAddress: '',
    publicPort: 0,
    error: '',
    errorKind: UacErrorKind.UAC_ERROR_KIND_UNSPECIFIED,
  };
  const unavailable = (error: string): StunResult => ({
    ...result,
    error,
    errorKind: UacErrorKind.UAC_ERROR_KIND_SERVICE_UNAVAILABLE,
  });
  const target = stunTarget(cmd.uri);
  if (!port) return unavailable('this server has no transport for STUN');
  if (!target)
    return {
      ...result,
      error: `invalid STUN server URI: ${cmd.uri}`,
      errorKind: UacErrorKind.UAC_ERROR_KIND_INVALID_URI,
    };
  const udp = from.filter((l) => l.transport === 'udp');
  try {
    const r = await port.stun(target.host, target.port, udp.length > 0 ? udp : undefined);
    return {
      ...result,
      localAddress: r.local.address,
      localPort: r.local.port,
      publicAddress: r.mapped.address,
      publicPort: r.mapped.port,
    };
  } catch (err) {
    return unavailable((err as Error).message);
  }
}
