// The server's configuration: defaults, a JSON or YAML file, then command-line flags, with
// every key checked so a typo stops the server with one clear line instead of being ignored.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import type { PbxConfig } from './pbx/pbx.js';
import { parseUri } from './sip/uri.js';
import type { TransportName } from './transport/types.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ListenSpec {
  transport: TransportName;
  /** Bare IP to bind: `0.0.0.0` / `::` for `sip:all` / `sip:all6`. */
  address: string;
  port: number;
  /** WS and WSS: the URL path served (`sip:all:8080/ws;transport=ws`), `/` when none. */
  path?: string;
  /** The URI as the user wrote it, for messages. */
  uri: string;
}

export interface Config {
  /**
   * Listen URIs (NkSIP `sip_listen`): `sip:HOST[:PORT][/PATH][;transport=udp|tcp|tls|ws|wss]`,
   * `sips:HOST[:PORT]` for TLS.
   */
  listen: string[];
  logLevel: LogLevel;
  /** Human-readable logs instead of JSON lines. */
  logPretty: boolean;
  /** Host written in Via and Contact when listening on all interfaces (NkSIP `sip_local_host`). */
  localHost?: string;
  /** RFC 3261 T1, T2, T4 in ms (NkSIP ranges 10–2500, 100–16000, 100–25000). */
  t1: number;
  t2: number;
  t4: number;
  /** Upper bound of a transaction's life, seconds (NkSIP `sip_trans_timeout`). */
  transTimeout: number;
  /** A dialog without activity for this long is stopped, seconds (NkSIP `sip_dialog_timeout`). */
  dialogTimeout: number;
  /**
   * Timer C, seconds (NkSIP `sip_timer_c`): how long an INVITE may wait for its final response
   * after its last provisional one, at the UAS (the app holds it: 408), the UAC and the proxy.
   */
  timerC: number;
  /** Do not send the automatic 100 Trying for INVITE (NkSIP `sip_no_100`). */
  no100: boolean;
  /** Requests larger than this go over TCP (RFC 3261 §18.1.1). */
  udpMaxSize: number;
  /** Seconds without traffic before a TCP connection is closed. */
  tcpIdleTimeout: number;
  /** On SIGINT/SIGTERM, how long live transactions get to finish, ms. */
  shutdownTimeout: number;
  /** Allow header (NkSIP `sip_allow`). */
  allow: string;
  /** Supported header; a Require outside it gets 420 (NkSIP `sip_supported`). */
  supported: string;
  /** `HOST:PORT` of the gRPC service SipApps connect to (port 0: any); false: none. */
  grpc: string | false;
  /** TLS for the gRPC service: PEM files; with `ca`, clients must present a certificate. */
  grpcTls?: { cert: string; key: string; ca?: string };
  /**
   * TLS for SIP (TLS and WSS listeners, and connections we open): PEM files; `ca` is trusted
   * besides the system's roots; `verify: false` stops checking the certificates of peers we
   * connect to (on by default).
   */
  tls?: { cert: string; key: string; ca?: string; verify?: boolean };
  /** Largest SIP message taken in one WebSocket message, bytes. */
  wsMaxMessage: number;
  /** Shared secret every SipApp's Start must carry. */
  grpcToken?: string;
  /** How long a digest nonce we issue stays good, seconds (NkSIP `sip_nonce_timeout`). */
  nonceTimeout: number;
  /**
   * Concurrent calls the server takes, all apps together (NkSIP `max_calls`): a Call-ID with a
   * request waiting for its final response or a dialog. Beyond it, 503 and `too_many_calls`.
   */
  maxCalls: number;
  /** Overload guard: route and method callbacks an app may have in flight per instance, at least. */
  appMaxPending: number;
  /** Overload guard: as many as the app answers in this many ms, where more than the count (0: the count alone). */
  appOverloadDelay: number;
  /** The built-in PBX (registrar, digest auth, proxy to registered contacts) for these domains. */
  pbx?: PbxConfig;
  /** DNS servers for RFC 3263 (`IP` or `IP:PORT`, `[IPv6]:PORT`); the system's when absent. */
  dnsServers?: string[];
  /** Seconds NAPTR and SRV answers are cached (A/AAAA keep their own TTL). */
  dnsCacheTtl: number;
  /** RFC 5626 CRLF keep-alives on every connection the server opens, every this many seconds; 0: off. */
  keepAliveInterval: number;
}

export const DEFAULTS: Config = {
  listen: ['sip:all:5060'],
  logLevel: 'info',
  logPretty: false,
  t1: 500,
  t2: 4000,
  t4: 5000,
  transTimeout: 900,
  dialogTimeout: 1800,
  timerC: 180,
  no100: false,
  udpMaxSize: 1300,
  tcpIdleTimeout: 180,
  shutdownTimeout: 5000,
  allow: 'INVITE,ACK,CANCEL,BYE,OPTIONS,INFO,UPDATE,PRACK,SUBSCRIBE,NOTIFY,REFER,MESSAGE',
  supported: 'path,100rel,timer',
  grpc: '127.0.0.1:50051',
  nonceTimeout: 30,
  maxCalls: 100000,
  appMaxPending: 1000,
  appOverloadDelay: 250,
  dnsCacheTtl: 300,
  keepAliveInterval: 0,
  wsMaxMessage: 65536 + 4 * 1024 * 1024,
};

type Checker = (key: string, v: unknown) => unknown;

const int =
  (min: number, max: number): Checker =>
  (key, v) => {
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return n;
  };

const bool: Checker = (key, v) => {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ConfigError(`${key} must be true or false, got ${JSON.stringify(v)}`);
};

const str: Checker = (key, v) => {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${key} must be a non-empty string`);
  return v;
};

const CHECKS: Record<keyof Config, Checker> = {
  listen: (key, v) => {
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0) throw new ConfigError(`${key} must be a list of SIP URIs`);
    for (const u of list) parseListen(String(u));
    return list.map(String);
  },
  logLevel: (key, v) => {
    if (!LOG_LEVELS.includes(v as LogLevel)) {
      throw new ConfigError(`${key} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(v)}`);
    }
    return v;
  },
  logPretty: bool,
  localHost: str,
  t1: int(10, 2500),
  t2: int(100, 16000),
  t4: int(100, 25000),
  transTimeout: int(1, 86400),
  dialogTimeout: int(1, 86400),
  timerC: int(1, 86400),
  no100: bool,
  udpMaxSize: int(500, 65507),
  tcpIdleTimeout: int(1, 86400),
  shutdownTimeout: int(0, 600000),
  allow: str,
  supported: (key, v) => {
    if (typeof v !== 'string') throw new ConfigError(`${key} must be a string`);
    return v;
  },
  grpc: (key, v) => parseGrpcAddress(key, v),
  grpcTls: (key, v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw new ConfigError(`${key} must be a mapping with cert, key and optionally ca (PEM file paths)`);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['cert', 'key', 'ca'].includes(k))
        throw new ConfigError(`${key}: unknown key "${k}" (cert, key, ca)`);
    }
    const out: { cert: string; key: string; ca?: string } = {
      cert: str(`${key}.cert`, o.cert) as string,
      key: str(`${key}.key`, o.key) as string,
    };
    if (o.ca !== undefined) out.ca = str(`${key}.ca`, o.ca) as string;
    return out;
  },
  tls: (key, v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw new ConfigError(`${key} must be a mapping with cert, key and optionally ca, verify`);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['cert', 'key', 'ca', 'verify'].includes(k))
        throw new ConfigError(`${key}: unknown key "${k}" (cert, key, ca, verify)`);
    }
    const out: NonNullable<Config['tls']> = {
      cert: str(`${key}.cert`, o.cert) as string,
      key: str(`${key}.key`, o.key) as string,
    };
    if (o.ca !== undefined) out.ca = str(`${key}.ca`, o.ca) as string;
    if (o.verify !== undefined) out.verify = bool(`${key}.verify`, o.verify) as boolean;
    return out;
  },
  wsMaxMessage: int(1024, 64 * 1024 * 1024),
  grpcToken: str,
  nonceTimeout: int(1, 86400),
  maxCalls: int(0, 10_000_000),
  appMaxPending: int(1, 1_000_000),
  appOverloadDelay: int(0, 60_000),
  pbx: (key, v) => checkPbx(key, v),
  dnsServers: (key, v) => {
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0)
      throw new ConfigError(`${key} must be a list of DNS server addresses (IP or IP:PORT)`);
    return list.map((x, i) => {
      const t = String(x);
      const m = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(t) ?? /^([0-9.]+)(?::\d{1,5})?$/.exec(t);
      // a bare IPv6 address takes no port (its colons would be ambiguous)
      if (m ? isIP(m[1] as string) === 0 : isIP(t) !== 6)
        throw new ConfigError(`${key}[${i}]: not an IP address with an optional port: ${JSON.stringify(x)}`);
      return t;
    });
  },
  dnsCacheTtl: int(0, 86400),
  keepAliveInterval: int(0, 86400),
};

const PBX_KEYS = ['domains', 'users', 'realm', 'registrar', 'recordRoute'];
const REGISTRAR_KEYS: Record<string, [number, number]> = {
  defaultTime: [5, 86400 * 365],
  minTime: [1, 86400 * 365],
  maxTime: [60, 86400 * 365],
};

function mapping(key: string, v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new ConfigError(`${key} must be ${what}`);
  return v as Record<string, unknown>;
}

/** The `pbx` section: domains (non-empty), users (name: password or HA1!hex), options. */
function checkPbx(key: string, v: unknown): PbxConfig {
  const o = mapping(key, v, 'a mapping with domains and users');
  for (const k of Object.keys(o)) {
    if (!PBX_KEYS.includes(k)) throw new ConfigError(`${key}: unknown key "${k}" (${PBX_KEYS.join(', ')})`);
  }
  const domains = typeof o.domains === 'string' ? [o.domains] : o.domains;
  if (!Array.isArray(domains) || domains.length === 0)
    throw new ConfigError(`${key}.domains must be a non-empty list of domains`);
  const out: PbxConfig = {
    domains: domains.map((d, i) => {
      if (typeof d !== 'string' || !/^[A-Za-z0-9.\-_:[\]]+$/.test(d))
        throw new ConfigError(`${key}.domains[${i}]: not a host name or IP: ${JSON.stringify(d)}`);
      return d.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    }),
    users: {},
  };
  const users = mapping(`${key}.users`, o.users ?? {}, 'a mapping of user names to passwords');
  for (const [u, pw] of Object.entries(users)) {
    if (!/^[^\s@:;,<>"]+$/.test(u)) throw new ConfigError(`${key}.users: bad user name ${JSON.stringify(u)}`);
    const text = typeof pw === 'number' ? String(pw) : pw;
    if (typeof text !== 'string')
      throw new ConfigError(`${key}.users.${u} must be a password (or HA1!<hex>)`);
    if (text.startsWith('HA1!') && !/^HA1!([0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/.test(text))
      throw new ConfigError(`${key}.users.${u}: an HA1 is HA1! followed by 32 or 64 hex digits`);
    out.users[u] = text;
  }
  if (o.realm !== undefined) out.realm = str(`${key}.realm`, o.realm) as string;
  if (o.recordRoute !== undefined) out.recordRoute = bool(`${key}.recordRoute`, o.recordRoute) as boolean;
  if (o.registrar !== undefined) {
    const r = mapping(`${key}.registrar`, o.registrar, 'a mapping of defaultTime, minTime, maxTime');
    const reg: NonNullable<PbxConfig['registrar']> = {};
    for (const [k, val] of Object.entries(r)) {
      const range = REGISTRAR_KEYS[k];
      if (!range)
        throw new ConfigError(
          `${key}.registrar: unknown key "${k}" (${Object.keys(REGISTRAR_KEYS).join(', ')})`,
        );
      reg[k as keyof typeof reg] = int(range[0], range[1])(`${key}.registrar.${k}`, val) as number;
    }
    if ((reg.minTime ?? 60) > (reg.maxTime ?? 86400))
      throw new ConfigError(`${key}.registrar: minTime above maxTime`);
    out.registrar = reg;
  }
  return out;
}

/** `HOST:PORT` (HOST an IP, `[IPv6]` or localhost; PORT 0–65535), or false / `off`. */
export function parseGrpcAddress(key: string, v: unknown): string | false {
  if (v === false || v === 'off' || v === 'false') return false;
  const bad = () =>
    new ConfigError(
      `${key} must be HOST:PORT (e.g. 127.0.0.1:50051, port 0 for any) or off, got ${JSON.stringify(v)}`,
    );
  if (typeof v !== 'string') throw bad();
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(v.trim());
  if (!m) throw bad();
  const host = m[1] as string;
  const port = Number(m[2]);
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (port > 65535 || (bare !== 'localhost' && isIP(bare) === 0)) throw bad();
  if (host.startsWith('[') !== (isIP(bare) === 6)) throw bad();
  return `${host}:${port}`;
}

/** Checks and merges a partial config (from a file or flags) over `base`. */
export function mergeConfig(base: Config, partial: Record<string, unknown>, origin: string): Config {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(partial)) {
    const check = CHECKS[key as keyof Config];
    if (!check) throw new ConfigError(`${origin}: unknown key "${key}"`);
    try {
      out[key] = check(key, value);
    } catch (e) {
      throw new ConfigError(`${origin}: ${(e as Error).message}`);
    }
  }
  return out as unknown as Config;
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(
      `config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError(`config file ${path} must hold a mapping of keys`);
  return data as Record<string, unknown>;
}

/**
 * Turns a listen URI into the sockets to open. Without `;transport=` a `sip:` URI means UDP
 * and TCP on the same port, as NkSIP does, and a `sips:` URI TLS. `all` and `all6` mean every
 * IPv4 / IPv6 interface. WS and WSS take a URL path after the port (`sip:all:8080/ws`).
 */
export function parseListen(uri: string): ListenSpec[] {
  let text = uri.trim().replace(/^<(.*)>$/, '$1');
  // the path is no part of SIP URI grammar: taken out before parsing
  let path: string | undefined;
  const withPath = /^([^/;?]*)(\/[^;?]*)(.*)$/.exec(text);
  if (withPath) {
    path = withPath[2] as string;
    text = `${withPath[1]}${withPath[3]}`;
  }
  let parsed: ReturnType<typeof parseUri>;
  try {
    parsed = parseUri(text);
  } catch (e) {
    throw new ConfigError(`bad listen URI ${uri}: ${(e as Error).message}`);
  }
  if (parsed.scheme !== 'sip' && parsed.scheme !== 'sips') {
    throw new ConfigError(`bad listen URI ${uri}: only sip: and sips: listeners exist`);
  }
  const sip = parsed as Extract<typeof parsed, { host: string }>;
  if (sip.user !== undefined) throw new ConfigError(`bad listen URI ${uri}: no user part allowed`);
  const host = sip.host.toLowerCase();
  let address: string;
  if (host === 'all') address = '0.0.0.0';
  else if (host === 'all6') address = '::';
  else if (host === 'localhost') address = '127.0.0.1';
  else {
    address = host.startsWith('[') ? host.slice(1, -1) : host;
    if (isIP(address) === 0)
      throw new ConfigError(`bad listen URI ${uri}: host must be an IP address, all or all6`);
  }
  const tp = sip.params.find(([n]) => n.toLowerCase() === 'transport')?.[1]?.toLowerCase();
  let transports: TransportName[];
  if (tp === undefined) transports = sip.scheme === 'sips' ? ['tls'] : ['udp', 'tcp'];
  else if (tp === 'udp' || tp === 'tcp' || tp === 'tls' || tp === 'ws' || tp === 'wss') transports = [tp];
  else
    throw new ConfigError(`bad listen URI ${uri}: transport ${tp} is not available (udp, tcp, tls, ws, wss)`);
  if (sip.scheme === 'sips' && !transports.every((t) => t === 'tls' || t === 'wss'))
    throw new ConfigError(`bad listen URI ${uri}: sips: needs transport tls or wss`);
  const secure = transports[0] === 'tls' || transports[0] === 'wss';
  const port = sip.port ?? (secure ? 5061 : 5060);
  const isWs = transports[0] === 'ws' || transports[0] === 'wss';
  if (path !== undefined && !isWs)
    throw new ConfigError(`bad listen URI ${uri}: a URL path is for ws and wss listeners only`);
  return transports.map((transport) => {
    const spec: ListenSpec = { transport, address, port, uri };
    if (isWs) spec.path = path ?? '/';
    return spec;
  });
}
