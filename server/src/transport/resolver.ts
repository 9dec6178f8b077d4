// Locating SIP servers (RFC 3263 §4): from a URI's host, port and transport to the ordered
// list of (transport, IP, port) to try, through NAPTR → SRV → A/AAAA, with a cache. The
// caller tries the targets in order and moves to the next on a transport error, a timeout or
// a 503 (§4.3). DNS comes through an injectable `DnsBackend` (node:dns's Resolver by
// default) so tests answer from a server of their own or from a table.
import { Resolver as NodeResolver, lookup as systemLookup } from 'node:dns/promises';
import { ipFamily, normalizeIp, stripBrackets } from './address.js';
import type { Endpoint, TransportName } from './types.js';

export interface NaptrRecord {
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
  order: number;
  preference: number;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface AddressRecord {
  address: string;
  /** Seconds. */
  ttl: number;
}

/** The DNS queries RFC 3263 needs; each rejects (ENOTFOUND, ENODATA...) when there is no answer. */
export interface DnsBackend {
  resolveNaptr(name: string): Promise<NaptrRecord[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<AddressRecord[]>;
  resolve6(name: string): Promise<AddressRecord[]>;
}

/** node:dns's Resolver; `servers` (`ip` or `ip:port`, `[v6]:port`) replace the system's. */
export function systemDns(servers?: readonly string[], timeoutMs = 2000): DnsBackend {
  const r = new NodeResolver({ timeout: timeoutMs, tries: 2 });
  if (servers && servers.length > 0) r.setServers([...servers]);
  return {
    resolveNaptr: (n) => r.resolveNaptr(n),
    resolveSrv: (n) => r.resolveSrv(n),
    resolve4: (n) => r.resolve4(n, { ttl: true }),
    resolve6: (n) => r.resolve6(n, { ttl: true }),
  };
}

/** What RFC 3263 needs of a SIP URI (the next hop: a Route or the Request-URI). */
export interface LocateInput {
  /** `sips` restricts the choice to TLS (and WSS). */
  secure: boolean;
  /** maddr when present, else the host; bare (no IPv6 brackets). */
  host: string;
  /** The URI's port, when it has one. */
  port?: number;
  /** The URI's `transport` parameter, lowercased, when it has one. */
  transport?: TransportName;
}

export interface LocatorOptions {
  dns?: DnsBackend;
  /** The transports we can send on now (with a listener); NAPTR and SRV answers are filtered by them. */
  transports?: () => ReadonlySet<TransportName>;
  /** Seconds NAPTR and SRV answers are kept (node's resolver does not report their TTL). Default 300. */
  cacheTtl?: number;
  /** Seconds a name with no records (or a failed query) is remembered as such. Default 30. */
  negativeTtl?: number;
  /** Weighted choice among SRV records of one priority (RFC 2782); Math.random by default. */
  random?: () => number;
  now?: () => number;
  /**
   * The system's name lookup (hosts file, mDNS...): for single-label names such as
   * `localhost`, which DNS is not asked about, and for names DNS has no address for.
   * `dns.lookup` by default.
   */
  lookup?: (host: string) => Promise<string[]>;
}

const defaultLookup = async (host: string): Promise<string[]> =>
  (await systemLookup(host, { all: true })).map((a) => a.address);

export class LocateError extends Error {
  override name = 'LocateError';
}

// §4.1 and RFC 7118 §5: NAPTR services and SRV prefixes of each transport
const NAPTR_SERVICE: Record<string, { transport: TransportName; secure: boolean }> = {
  'sip+d2u': { transport: 'udp', secure: false },
  'sip+d2t': { transport: 'tcp', secure: false },
  'sips+d2t': { transport: 'tls', secure: true },
  'sip+d2w': { transport: 'ws', secure: false },
  'sips+d2w': { transport: 'wss', secure: true },
};
const SRV_PREFIX: Record<TransportName, string> = {
  udp: '_sip._udp',
  tcp: '_sip._tcp',
  tls: '_sips._tcp',
  ws: '_sip._ws',
  wss: '_sips._ws',
};
const SECURE: ReadonlySet<TransportName> = new Set(['tls', 'wss']);
const DEFAULT_TRANSPORTS: ReadonlySet<TransportName> = new Set(['udp', 'tcp']);

function defaultPortOf(t: TransportName): number {
  return SECURE.has(t) ? 5061 : 5060;
}

interface CacheEntry {
  expires: number;
  value: Promise<unknown>;
}

export class ServerLocator {
  private readonly dns: DnsBackend;
  private readonly transports: () => ReadonlySet<TransportName>;
  private readonly cacheTtl: number;
  private readonly negativeTtl: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly lookup: (host: string) => Promise<string[]>;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(opts: LocatorOptions = {}) {
    this.dns = opts.dns ?? systemDns();
    this.transports = opts.transports ?? (() => DEFAULT_TRANSPORTS);
    this.cacheTtl = opts.cacheTtl ?? 300;
    this.negativeTtl = opts.negativeTtl ?? 30;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.lookup = opts.lookup ?? defaultLookup;
  }

  /** Entries in the cache (for stats and tests). */
  get cached(): number {
    return this.cache.size;
  }

  clearCache(): void {
    this.cache.clear();
  }

  /**
   * The targets for `input`, in the order to try them. Rejects with a LocateError when DNS
   * points nowhere (no records, SRV target ".", no transport we have).
   */
  async locate(input: LocateInput): Promise<Endpoint[]> {
    const host = stripBrackets(input.host);
    const out = await this.targets({ ...input, host });
    if (out.length === 0) throw new LocateError(`no address for ${host}`);
    return out;
  }

  private async targets(input: LocateInput): Promise<Endpoint[]> {
    const { host, port, secure } = input;
    // §4.1: an explicit transport, else UDP (TLS for sips) for an IP or an explicit port
    const transport = input.transport ?? (secure ? 'tls' : 'udp');
    if (ipFamily(host) !== 0) {
      return [{ transport, address: normalizeIp(host), port: port ?? defaultPortOf(transport) }];
    }
    // §4.2: an explicit port skips NAPTR and SRV; so does a name only the host knows
    if (port !== undefined || isLocalName(host)) {
      return this.addresses(host, transport, port ?? defaultPortOf(transport));
    }
    if (input.transport !== undefined) {
      const viaSrv = await this.srvTargets(`${SRV_PREFIX[transport]}.${host}`, transport);
      return viaSrv ?? this.addresses(host, transport, defaultPortOf(transport));
    }
    const have = this.transports();
    for (const choice of await this.naptrChoices(host, secure, have)) {
      const viaSrv = await this.srvTargets(choice.replacement, choice.transport);
      if (viaSrv) return viaSrv;
    }
    // §4.1: no NAPTR: SRV for each transport we support (sips: only the secure ones)
    for (const t of ['udp', 'tcp', 'tls', 'ws', 'wss'] as const) {
      if (!have.has(t) || (secure && !SECURE.has(t))) continue;
      const viaSrv = await this.srvTargets(`${SRV_PREFIX[t]}.${host}`, t);
      if (viaSrv) return viaSrv;
    }
    return this.addresses(host, transport, defaultPortOf(transport));
  }

  /** NAPTR records we can use (flag "s", a known service we have), in order and preference. */
  private async naptrChoices(
    host: string,
    secure: boolean,
    have: ReadonlySet<TransportName>,
  ): Promise<{ replacement: string; transport: TransportName }[]> {
    const records = await this.query('naptr', host, () => this.dns.resolveNaptr(host), this.cacheTtl);
    return records
      .filter((r) => r.flags.toLowerCase() === 's')
      .map((r) => ({ r, svc: NAPTR_SERVICE[r.service.toLowerCase()] }))
      .filter(
        (x): x is { r: NaptrRecord; svc: { transport: TransportName; secure: boolean } } =>
          x.svc !== undefined && have.has(x.svc.transport) && (!secure || x.svc.secure),
      )
      .sort((a, b) => a.r.order - b.r.order || a.r.preference - b.r.preference)
      .map((x) => ({ replacement: x.r.replacement, transport: x.svc.transport }));
  }

  /**
   * The addresses of an SRV name's targets, in RFC 2782 order; undefined when the name has
   * no SRV records (the caller falls back), [] when it says "no service here" (target ".").
   */
  private async srvTargets(name: string, transport: TransportName): Promise<Endpoint[] | undefined> {
    const records = await this.query('srv', name, () => this.dns.resolveSrv(name), this.cacheTtl);
    if (records.length === 0) return undefined;
    const usable = records.filter((r) => r.name !== '' && r.name !== '.');
    const out: Endpoint[] = [];
    for (const r of this.srvOrder(usable)) out.push(...(await this.addresses(r.name, transport, r.port)));
    return out;
  }

  /** RFC 2782: lowest priority first; within one, a weighted random draw without repetition. */
  private srvOrder(records: SrvRecord[]): SrvRecord[] {
    const byPriority = new Map<number, SrvRecord[]>();
    for (const r of records) {
      const list = byPriority.get(r.priority) ?? [];
      list.push(r);
      byPriority.set(r.priority, list);
    }
    const out: SrvRecord[] = [];
    for (const prio of [...byPriority.keys()].sort((a, b) => a - b)) {
      // zero weights first, as RFC 2782 asks, so they keep a small chance
      const left = (byPriority.get(prio) as SrvRecord[]).sort((a, b) => a.weight - b.weight);
      while (left.length > 0) {
        const total = left.reduce((s, r) => s + r.weight, 0);
        const pick = this.random() * (total + 1);
        let sum = 0;
        let i = left.findIndex((r) => {
          sum += r.weight;
          return sum >= pick;
        });
        if (i < 0) i = left.length - 1;
        out.push(...left.splice(i, 1));
      }
    }
    return out;
  }

  /**
   * A and AAAA of a name at `port` (IPv4 first), else what the system lookup says; [] when
   * nothing knows it.
   */
  private async addresses(host: string, transport: TransportName, port: number): Promise<Endpoint[]> {
    if (ipFamily(host) !== 0) return [{ transport, address: normalizeIp(host), port }];
    let found: string[] = [];
    if (!isLocalName(host)) {
      const [v4, v6] = await Promise.all([
        this.query('a', host, () => this.dns.resolve4(host), undefined),
        this.query('aaaa', host, () => this.dns.resolve6(host), undefined),
      ]);
      found = [...v4, ...v6].map((a) => a.address);
    }
    if (found.length === 0) {
      const local = await this.query(
        'lookup',
        host,
        () => this.lookup(host).then((list) => list.map((address) => ({ address, ttl: this.negativeTtl }))),
        undefined,
      );
      found = local.map((a) => a.address);
    }
    return found.map((a) => ({ transport, address: normalizeIp(a), port }));
  }

  /**
   * One query through the cache. No answer (any DNS error) counts as an empty one, kept for
   * `negativeTtl`. `ttl` undefined: the records' own (A/AAAA).
   */
  private query<T>(
    type: string,
    name: string,
    run: () => Promise<T[]>,
    ttl: number | undefined,
  ): Promise<T[]> {
    const key = `${type}|${name.toLowerCase()}`;
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) return hit.value as Promise<T[]>;
    const entry: CacheEntry = { expires: now + this.negativeTtl * 1000, value: Promise.resolve([]) };
    const value = run().then(
      (records) => {
        const secs =
          records.length === 0
            ? this.negativeTtl
            : (ttl ?? Math.min(...records.map((r) => (r as unknown as AddressRecord).ttl ?? this.cacheTtl)));
        entry.expires = this.now() + secs * 1000;
        return records;
      },
      () => [] as T[],
    );
    entry.value = value;
    this.cache.set(key, entry);
    if (this.cache.size > 10_000) this.evict(now);
    return value;
  }

  private evict(now: number): void {
    for (const [k, e] of this.cache) if (e.expires <= now) this.cache.delete(k);
    if (this.cache.size > 10_000) this.cache.clear();
  }
}

/** `localhost`, `*.localhost` and single-label names: the hosts file's, not DNS's. */
function isLocalName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return !h.includes('.') || h.endsWith('.localhost');
}
