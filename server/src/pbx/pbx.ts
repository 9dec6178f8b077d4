// The built-in PBX (NkSIP's NkPBX sample, reference §8): the app that serves the server's own
// listeners when no SipApp claims them and the config file has a `pbx` section. A registrar
// for its domains, digest authentication against the users of the config (plain passwords or
// HA1), and a proxy that forks to the registered contacts of the Request-URI's AOR (parallel
// within a q value, serial across q values, Record-Route), 404 for an unknown user, 480 for a
// known one with nothing registered.
//
// No open relay: a request out of a dialog for a domain it does not serve gets 403 before
// anything else, and requests in a dialog are relayed only along a route set that names us,
// for a caller authorised as below. Authorisation (NkSIP order, before route): the `register`
// token (the source is a registered contact of the From) or a valid digest; REGISTER gets 401
// challenges, everything else 407; a wrong password 403. A digest vouches only for its own
// user: a REGISTER binds the AOR of the user who authenticated (To user = digest user; the
// `register` token does not let one register), and other requests go out in their own name
// (From user = digest user), so one user cannot take another's calls or speak for him. An
// OPTIONS to the server itself (no user part) is answered 200 without a challenge, for
// monitoring.
import type { Logger } from 'pino';
import type { AppHandler, AuthDecision, AuthList } from '../core/app.js';
import { PROCESS, type RouteDecision } from '../core/decision.js';
import type { Reply } from '../core/reply.js';
import { defaultReply, type UasProfile } from '../core/uas-checks.js';
import { MemoryStore, REGISTRAR_TAGS, Registrar } from '../registrar/index.js';
import { type SipRequest, toText } from '../sip/message.js';
import { bareHost, isSipUri, type Uri } from '../sip/uri.js';
import type { Clock } from '../transaction/clock.js';
import type { Source } from '../transport/types.js';

export interface PbxConfig {
  /** Domains served (AOR hosts, Request-URI hosts); the first is the default realm. */
  domains: string[];
  /** User name → password, or `HA1!<hex>` (H(user:realm:password) for the realm below). */
  users: Record<string, string>;
  /** Digest realm of the challenges; default the first domain. */
  realm?: string;
  /** Registrar times, seconds (NkSIP sip_registrar_*_time). */
  registrar?: { defaultTime?: number; minTime?: number; maxTime?: number };
  /** Record-Route proxied requests (default true). */
  recordRoute?: boolean;
}

export interface PbxOptions {
  config: PbxConfig;
  profile: (source: Source) => UasProfile;
  clock: Clock;
  logger?: Logger;
}

export interface Pbx extends AppHandler {
  readonly registrar: Registrar;
  /** Stops the registrar's expiry sweeper. */
  close(): void;
}

const FORBIDDEN_DOMAIN: Reply = { status: 403, reason: 'Domain Not Served' };

export function pbxApp(opts: PbxOptions): Pbx {
  const { config, clock, logger } = opts;
  const domains = new Set(config.domains.map((d) => d.toLowerCase()));
  const realm = config.realm ?? config.domains[0] ?? 'nksip';
  const recordRoute = config.recordRoute ?? true;
  const store = new MemoryStore({ clock });
  store.startSweeper();
  const registrar = new Registrar({ store, clock, ...config.registrar });
  const users = new Map(Object.entries(config.users));

  /** Host of a SIP URI, lowercase, IPv6 without brackets; undefined for other schemes. */
  const hostOf = (u: Uri): string | undefined => (isSipUri(u) ? bareHost(u.host).toLowerCase() : undefined);
  const ours = (host: string | undefined, source: Source) =>
    host !== undefined && (domains.has(host) || host === source.localAddress.toLowerCase());

  const profile = (source: Source): UasProfile => {
    const p = opts.profile(source);
    const supported = [...p.supported, ...REGISTRAR_TAGS.filter((t) => !p.supported.includes(t))];
    return { ...p, supported, allow: /\bREGISTER\b/i.test(p.allow) ? p.allow : `${p.allow},REGISTER` };
  };

  /** Out of a dialog, is the Request-URI ours? (In a dialog it is a contact: see route.) */
  const forUs = (req: SipRequest, source: Source): boolean => {
    try {
      return ours(hostOf(req.ruri), source);
    } catch {
      return false;
    }
  };

  const toServer = (req: SipRequest, source: Source): boolean => {
    try {
      const u = req.ruri;
      return isSipUri(u) && u.user === undefined && ours(hostOf(u), source);
    } catch {
      return false;
    }
  };

  /** The user part of a SIP URI as text ('' for none or another scheme). */
  const userOf = (u: Uri): string => (isSipUri(u) && u.user !== undefined ? toText(u.user) : '');

  const authorize = (req: SipRequest, source: Source, auth: AuthList): AuthDecision => {
    const inDialog = req.toTag !== undefined;
    if (!inDialog && !forUs(req, source)) return { kind: 'reply', reply: FORBIDDEN_DOMAIN };
    if (req.method === 'OPTIONS' && toServer(req, source)) return { kind: 'ok' };
    const isRegister = req.method === 'REGISTER';
    if (!isRegister && (auth.register || auth.dialog)) return { kind: 'ok' };
    const who = userOf(isRegister ? req.to.uri : req.from.uri);
    const valid = auth.digests.filter((d) => d.ok);
    if (valid.some((d) => d.user === who)) return { kind: 'ok' };
    if (auth.digests.length > 0) return { kind: 'forbidden' };
    return req.method === 'REGISTER'
      ? { kind: 'authenticate', realm }
      : { kind: 'proxy_authenticate', realm };
  };

  const route = async (req: SipRequest, source: Source): Promise<RouteDecision> => {
    if (req.toTag !== undefined) {
      // in a dialog: relayed along a route set that names us (the proxy drops our Route and
      // goes on to the next one or the Request-URI), else answered here (481 and friends)
      return req.hasHeader('route') ? { kind: 'proxy', targets: [], options: {} } : PROCESS;
    }
    if (req.method === 'CANCEL' || req.method === 'ACK') return PROCESS;
    if (!forUs(req, source)) return { kind: 'reply', reply: FORBIDDEN_DOMAIN };
    const u = req.ruri;
    if (req.method === 'REGISTER' || !isSipUri(u) || u.user === undefined) return PROCESS;
    const targets = await registrar.qfind(u);
    if (targets.length > 0) return { kind: 'proxy', targets, options: { recordRoute } };
    const user = toText(u.user);
    return {
      kind: 'reply',
      reply: users.has(user) ? { status: 480, reason: 'Temporarily Unavailable' } : { status: 404 },
    };
  };

  const method = async (req: SipRequest, source: Source): Promise<Reply> => {
    const p = profile(source);
    if (req.method === 'REGISTER') {
      const r = await registrar.register(req, source);
      if (r.status >= 200 && r.status < 300) {
        const user = isSipUri(req.to.uri) ? req.to.uri.user : undefined;
        logger?.info({ aor: user, source: `${source.address}:${source.port}` }, 'pbx: registered');
        return {
          ...r,
          headers: [...(r.headers ?? []), ['Allow', p.allow], ['Supported', p.supported.join(', ')]],
        };
      }
      return r;
    }
    return defaultReply(req, p) ?? { status: 500, reason: 'No Answer' };
  };

  return {
    registrar,
    route,
    method,
    authorize,
    getUserPass: (user) => users.get(user) ?? false,
    isRegistered: (req, source) => {
      try {
        return registrar.isRegistered(req.from.uri, source).catch(() => false);
      } catch {
        return false;
      }
    },
    close: () => store.stopSweeper(),
  };
}
