// The registrar (RFC 3261 §10.3, RFC 3327 Path, RFC 5626 outbound, RFC 5627 GRUU), after
// NkSIP's `nksip_registrar` with its outbound and gruu plugins: pure logic over a pluggable
// store. It turns a REGISTER into the Reply to send and answers lookups (find / qfind) for a
// proxy; no sockets, no timers.
//
// Outbound (RFC 5626 §6, as NkSIP): with `Supported: outbound`, a REGISTER straight from the
// UA (one Via) binds its Contacts to the flow it came on (the proxy then reaches them only
// over that flow, 430 once it is gone); through proxies, the first hop's Path value (the
// last one) must carry `ob`, else a Contact with reg-id gets 439. Without `Supported:
// outbound` a reg-id is ignored. An instance and reg-id name one binding (a new REGISTER for
// them replaces it); the 200 carries `Require: outbound` when such a binding is used.
// GRUU (RFC 5627, gruu.ts): with `Supported: gruu`, every listed Contact with `+sip.instance`
// gets `pub-gruu` and a new `temp-gruu`; lookups of a GRUU give only that instance's
// contacts, one at a time (serial groups, newest first); a Contact that is a GRUU of the
// AOR gets 403.
//
// Deviations and choices (see also the tests):
// - A non-sip(s) To gets 416 as in NkSIP (RFC 4475 §3.3.4 `unksm2` asks a registrar for 400).
// - "Contact equal to the AOR" (403 "Invalid Contact", NkSIP) compares scheme, user, host and
//   port (defaults filled in); a contact with URI headers is not the AOR (RFC 4475 `regescrt`
//   registers `<sip:user@example.com?Route=...>` for the AOR sip:user@example.com).
// - Contacts may be sip, sips or tel URIs; anything else, or a Contact that does not parse,
//   gets 400 "Bad Contact". A q that is not a number is a bad Contact too; numeric q values
//   above 1 are kept as NkSIP does (its own tests register q=2.1 and q=3).
// - More Contacts in one REGISTER, or more bindings for the AOR afterwards, than
//   `maxBindings` (100) get 403 "Too Many Contacts" and change nothing (final: retrying the
//   same REGISTER cannot help; Kamailio answers 503 here). A full store gets 503.
// - qfind groups by q highest first (RFC 3261 §16.6); NkSIP's code returns them lowest first.

import type { UriSet } from '../core/decision.js';
import type { Reply } from '../core/reply.js';
import { getParam, type Param, quote, removeParam, unquote } from '../sip/grammar.js';
import { type NameAddr, parseNameAddr } from '../sip/headers.js';
import type { SipRequest } from '../sip/message.js';
import {
  aorOf,
  bareHost,
  formatUri,
  isSipUri,
  isTelUri,
  parseUri,
  type SipUri,
  type Uri,
} from '../sip/uri.js';
import { type Clock, realClock } from '../transaction/clock.js';
import { ChurnMap } from '../util/churn-map.js';
import {
  type Binding,
  type BindingSource,
  bindingRoute,
  contactValue,
  defaultPort,
  defaultTransport,
  formatContact,
  instanceKey,
  targetUri,
  uriKey,
} from './binding.js';
import { instanceUrn, newGruuEpoch, newGruuKey, parseGruu, pubGruu, sameInstance, tempGruu } from './gruu.js';
import { MemoryStore, type RegistrarStore, StoreFullError } from './store.js';

export interface RegistrarOptions {
  /** Default: a MemoryStore on the same clock. */
  store?: RegistrarStore;
  clock?: Clock;
  /** Seconds when neither the Contact nor the Expires header says (NkSIP: at least 5). */
  defaultTime?: number;
  /** Seconds; shorter (non-zero, under 3600) requests get 423 (NkSIP: at least 1). */
  minTime?: number;
  /** Seconds; longer requests are cut down to it (NkSIP: at least 60). */
  maxTime?: number;
  /** Most bindings per AOR, and most Contacts in one REGISTER. */
  maxBindings?: number;
  /**
   * 32 bytes sealing temporary GRUUs (gruu.ts). Default: random per registrar, so they do
   * not outlive it; registrars sharing an external store should share one.
   */
  gruuKey?: Buffer;
}

/** A registered contact as a proxy target: its URI and the Route set that reaches it. */
export interface FoundContact {
  uri: string;
  /** Route headers (top first): the Path stored with the binding, else its flow's Route. */
  route: string[];
}

const MAX_EXPIRES = 0xffffffff;

/** What a server with this registrar adds to its Supported (RFC 5626, RFC 5627). */
export const REGISTRAR_TAGS: readonly string[] = ['outbound', 'gruu'];

export class Registrar {
  readonly store: RegistrarStore;
  readonly clock: Clock;
  readonly defaultTime: number;
  readonly minTime: number;
  readonly maxTime: number;
  readonly maxBindings: number;
  private readonly gruuKey: Buffer;
  private readonly locks = new ChurnMap<string, Promise<void>>();

  constructor(opts: RegistrarOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.store = opts.store ?? new MemoryStore({ clock: this.clock });
    this.defaultTime = checkInt('defaultTime', opts.defaultTime ?? 3600, 5);
    this.minTime = checkInt('minTime', opts.minTime ?? 60, 1);
    this.maxTime = checkInt('maxTime', opts.maxTime ?? 86400, 60);
    this.maxBindings = checkInt('maxBindings', opts.maxBindings ?? 100, 1);
    this.gruuKey = opts.gruuKey ?? newGruuKey();
    if (this.gruuKey.length !== 32) throw new RangeError('gruuKey must be 32 bytes');
    if (this.minTime > this.maxTime) throw new RangeError('minTime must not exceed maxTime');
  }

  /** Processes a REGISTER addressed to this registrar and returns the answer to send. */
  async register(req: SipRequest, source?: BindingSource): Promise<Reply> {
    let to: NameAddr;
    let callId: string;
    let cseq: number;
    try {
      to = req.to;
      callId = req.callId;
      cseq = req.cseq.seq;
    } catch {
      return { status: 400, reason: 'Bad Request' };
    }
    if (!isSipUri(to.uri)) return { status: 416, reason: 'Unsupported URI Scheme' };
    const aorUri = to.uri;
    const aor = aorOf(aorUri);

    // Path (RFC 3327 §5.3): only from a UA that said it supports it
    let path: string[];
    try {
      path = req.headerValues('path');
      for (const p of path) parseNameAddr(p);
    } catch {
      return { status: 400, reason: 'Invalid Path' };
    }
    if (path.length > 0 && !supports(req, 'path'))
      return { status: 420, reason: 'Bad Extension', headers: [['Unsupported', 'path']] };

    let raw: string[];
    let contacts: NameAddr[];
    try {
      raw = req.headerValues('contact');
      if (raw.length > this.maxBindings) return { status: 403, reason: 'Too Many Contacts' };
      contacts = req.contacts;
    } catch {
      return { status: 400, reason: 'Bad Contact' };
    }
    const headerExpires = parseDelta(req.header('expires'));
    const wildcard = raw.includes('*');
    if (wildcard) {
      if (raw.length > 1) return { status: 400, reason: 'Invalid Contact' };
      if (headerExpires !== 0) return { status: 400, reason: 'Invalid Expires' };
    }
    let direct: boolean;
    try {
      direct = req.headerValues('via').length === 1;
    } catch {
      return { status: 400, reason: 'Bad Request' };
    }
    const ctx: Ctx = {
      aor,
      aorUri,
      callId,
      cseq,
      contacts,
      path,
      defaultExpires: headerExpires ?? this.defaultTime,
      outbound: outboundState(req, path, direct && source !== undefined),
      gruu: supports(req, 'gruu'),
    };
    if (source !== undefined) ctx.source = source;
    return this.exclusive(aor, () => (wildcard ? this.removeAll(ctx) : this.update(ctx)));
  }

  /**
   * The AOR's current bindings as proxy targets, highest q first, then newest first; for a
   * GRUU, only its instance's bindings.
   */
  async find(aor: string | Uri): Promise<FoundContact[]> {
    return (await this.bindings(aor)).map((b) => ({ uri: b.uri, route: bindingRoute(b) }));
  }

  /**
   * The AOR's bindings as a UriSet for a forking proxy: one group per q value, highest q
   * first, newest first within a group; of an instance's outbound flows only the first is
   * forked to, the others follow as serial groups. A stored Path travels as an escaped
   * `?Route=` header of the URI (NkSIP), which the proxy applies.
   */
  async qfind(aor: string | Uri): Promise<UriSet> {
    const out: UriSet = [];
    if (parseGruu(this.gruuKey, aor) !== undefined) {
      // one UA: its flows are tried one after the other, never forked to (RFC 5626 §5.3)
      for (const b of byNewest(await this.bindings(aor))) out.push([targetUri(b)]);
      return out;
    }
    // RFC 5626 §5.3: one flow of an instance at a time; its other flows come after, in turn
    const flowsOf = new Set<string>();
    const later: Binding[] = [];
    let lastQ: number | undefined;
    for (const b of await this.bindings(aor)) {
      if (b.regId !== undefined && b.instance !== undefined) {
        const inst = instanceUrn(b.instance).toLowerCase();
        if (flowsOf.has(inst)) {
          later.push(b);
          continue;
        }
        flowsOf.add(inst);
      }
      if (b.q !== lastQ) out.push([]);
      lastQ = b.q;
      (out[out.length - 1] as string[]).push(targetUri(b));
    }
    for (const b of byNewest(later)) out.push([targetUri(b)]);
    return out;
  }

  /**
   * The AOR's unexpired bindings, highest q first, then newest first. For a GRUU (`aor` with
   * a `gr` parameter), those of its instance; none for a temporary GRUU the instance's
   * bindings no longer carry (a new Call-ID or an unregistration since).
   */
  async bindings(aor: string | Uri): Promise<Binding[]> {
    const gruu = parseGruu(this.gruuKey, aor);
    const key = gruu?.aor ?? aorKey(aor);
    if (key === undefined) return [];
    const now = this.clock.now();
    const all = sorted((await this.store.get(key)).filter((b) => b.expires > now));
    if (!gruu) return all;
    const mine = all.filter((b) => b.instance !== undefined && sameInstance(b.instance, gruu.instance));
    if (gruu.kind === 'temp' && !mine.some((b) => b.gruuEpoch === gruu.epoch)) return [];
    return mine;
  }

  /**
   * Removes the AOR's bindings, or only the one for `contact` (a contact URI); false when
   * nothing was removed.
   */
  async delete(aor: string | Uri, contact?: string | Uri): Promise<boolean> {
    const key = aorKey(aor);
    if (key === undefined) return false;
    if (contact === undefined) return this.exclusive(key, () => this.store.del(key));
    let ckey: string;
    try {
      ckey = uriKey(typeof contact === 'string' ? parseUri(contact) : contact);
    } catch {
      return false;
    }
    return this.exclusive(key, async () => {
      const now = this.clock.now();
      const all = (await this.store.get(key)).filter((b) => b.expires > now);
      const kept = all.filter((b) => b.key !== ckey && uriKey(parseUri(b.uri)) !== ckey);
      if (kept.length === all.length) return false;
      await this.save(key, kept, now);
      return true;
    });
  }

  /** Removes every binding of every AOR. */
  clear(): Promise<void> {
    return this.store.clear();
  }

  /**
   * Whether a request from `source` comes from a registered contact of `aor` (NkSIP's
   * `is_registered`, behind the `register` token of sip_authorize): the REGISTER came from
   * the same transport, address and port, or the contact URI names that IP address and port.
   */
  async isRegistered(aor: string | Uri, source: BindingSource): Promise<boolean> {
    const t = source.transport.toLowerCase();
    for (const b of await this.bindings(aor)) {
      const s = b.source;
      if (s && s.transport.toLowerCase() === t && s.address === source.address && s.port === source.port)
        return true;
      const u = parseUri(b.uri);
      if (
        isSipUri(u) &&
        defaultTransport(u) === t &&
        bareHost(u.host) === source.address.toLowerCase() &&
        defaultPort(u) === source.port
      )
        return true;
    }
    return false;
  }

  // --- REGISTER processing ---

  /** `Contact: *` with Expires 0: removes every binding, unless one is newer (§10.3 step 6). */
  private async removeAll(ctx: Ctx): Promise<Reply> {
    const now = this.clock.now();
    let stored: Binding[];
    try {
      stored = await this.store.get(ctx.aor);
    } catch {
      return storeError();
    }
    for (const b of stored) {
      if (b.expires > now && b.callId === ctx.callId && b.cseq >= ctx.cseq)
        return { status: 400, reason: 'Rejected Old CSeq' };
    }
    try {
      await this.store.del(ctx.aor);
    } catch {
      return storeError();
    }
    return this.ok([], now, ctx);
  }

  /** Adds, refreshes and removes the request's Contacts (§10.3 steps 6–8); all or nothing. */
  private async update(ctx: Ctx): Promise<Reply> {
    const now = this.clock.now();
    let stored: Binding[];
    try {
      stored = (await this.store.get(ctx.aor)).filter((b) => b.expires > now);
    } catch {
      return storeError();
    }
    if (ctx.contacts.length === 0) return this.ok(stored, now, ctx);

    const before = new Map<string, Binding>();
    for (const b of stored) before.set(b.key, b);
    const result = new Map(before);
    const seen = new Set<string>();
    let withRegId = 0;
    for (const c of ctx.contacts) {
      const parsed = this.parseContact(c, ctx);
      if ('status' in parsed) return parsed;
      if (parsed.flowId && parsed.expires > 0 && ++withRegId > 1)
        return { status: 400, reason: "Several 'reg-id' Options" };
      const { key } = parsed;
      // the Call-ID/CSeq rule is against what was stored, not an earlier Contact of this request
      if (!seen.has(key)) {
        const old = before.get(key);
        if (old && old.callId === ctx.callId && old.cseq >= ctx.cseq)
          return { status: 400, reason: 'Rejected Old CSeq' };
        seen.add(key);
      }
      if (parsed.expires === 0) {
        result.delete(key);
        continue;
      }
      const b: Binding = {
        key,
        contact: formatContact(c.uri, parsed.params, c.displayName),
        uri: parsed.uri,
        params: parsed.params,
        expires: now + parsed.expires * 1000,
        q: parsed.q,
        callId: ctx.callId,
        cseq: ctx.cseq,
        path: ctx.path.slice(),
        updatedAt: now,
      };
      if (c.displayName !== undefined) b.displayName = c.displayName;
      if (parsed.instance !== undefined) {
        b.instance = parsed.instance;
        // temporary GRUUs live while the instance keeps its Call-ID (RFC 5627 §5.4)
        const old = before.get(key);
        b.gruuEpoch =
          old?.gruuEpoch !== undefined &&
          old.callId === ctx.callId &&
          old.instance !== undefined &&
          sameInstance(old.instance, parsed.instance)
            ? old.gruuEpoch
            : newGruuEpoch();
      }
      if (parsed.regId !== undefined) b.regId = parsed.regId;
      if (ctx.outbound === 'flow') b.ob = true;
      if (ctx.source !== undefined) {
        // the fields a binding keeps (a transport Source carries more: connection id, path)
        const { transport, address, port, localAddress, localPort } = ctx.source;
        b.source = { transport, address, port };
        if (localAddress !== undefined && localPort !== undefined)
          Object.assign(b.source, { localAddress, localPort });
      }
      result.delete(key); // a refreshed binding moves to the end, as the newest
      result.set(key, b);
    }
    const bindings = [...result.values()];
    if (bindings.length > this.maxBindings) return { status: 403, reason: 'Too Many Contacts' };
    try {
      await this.save(ctx.aor, bindings, now);
    } catch (e) {
      if (e instanceof StoreFullError) return { status: 503, reason: 'Registrar Full' };
      return storeError();
    }
    return this.ok(bindings, now, ctx);
  }

  private parseContact(c: NameAddr, ctx: Ctx): ParsedContact | Reply {
    const u = c.uri;
    if (!isSipUri(u) && !isTelUri(u)) return { status: 400, reason: 'Bad Contact' };
    if (isSipUri(u) && sameAsAor(u, ctx.aorUri)) return { status: 403, reason: 'Invalid Contact' };
    // a GRUU of this AOR cannot be one of its contacts (RFC 5627 §5.3: it would loop)
    if (isSipUri(u) && parseGruu(this.gruuKey, u)?.aor === ctx.aor)
      return { status: 403, reason: 'Invalid Contact' };
    const expParam = getParam(c.params, 'expires');
    let expires =
      expParam === undefined ? ctx.defaultExpires : (parseDelta(expParam ?? '') ?? ctx.defaultExpires);
    if (expires > 0 && expires < this.minTime && expires < 3600)
      return { status: 423, reason: 'Interval Too Brief', headers: [['Min-Expires', String(this.minTime)]] };
    if (expires > this.maxTime) expires = this.maxTime;
    let q = 1;
    const qParam = getParam(c.params, 'q');
    if (qParam !== undefined) {
      if (qParam === null || !/^\d{1,5}(\.\d{0,5})?$/.test(qParam))
        return { status: 400, reason: 'Bad Contact' };
      q = Number(qParam);
    }
    const inst = getParam(c.params, '+sip.instance');
    const instance = typeof inst === 'string' ? unquote(inst) : undefined;
    let regId: number | undefined;
    let flowId = false;
    const rid = getParam(c.params, 'reg-id');
    if (rid !== undefined) {
      if (rid === null || !/^\d{1,10}$/.test(rid) || Number(rid) < 1 || Number(rid) > 0x7fffffff)
        return { status: 400, reason: 'Invalid reg-id' };
      // through a first hop without outbound, a flow cannot be kept (RFC 5626 §6, NkSIP)
      if (ctx.outbound === 'lacks') return { status: 439, reason: 'First Hop Lacks Outbound Support' };
      // ignored without an instance, or when the UA did not ask for outbound (RFC 5626 §6)
      if (instance !== undefined && ctx.outbound !== 'none') regId = Number(rid);
      flowId = instance !== undefined;
    }
    const out: ParsedContact = {
      key: instance !== undefined && regId !== undefined ? instanceKey(instance, regId) : uriKey(u),
      uri: formatUri(u),
      // the registrar's own GRUU parameters are written afresh in each answer
      params: ['expires', 'pub-gruu', 'temp-gruu'].reduce((ps, n) => removeParam(ps, n), c.params),
      expires,
      q,
      flowId,
    };
    if (instance !== undefined) out.instance = instance;
    if (regId !== undefined) out.regId = regId;
    return out;
  }

  private async save(aor: string, bindings: Binding[], now: number): Promise<void> {
    if (bindings.length === 0) {
      await this.store.del(aor);
      return;
    }
    let last = now;
    for (const b of bindings) if (b.expires > last) last = b.expires;
    await this.store.put(aor, bindings, last - now);
  }

  /**
   * 200 listing every current binding with its remaining time (and its GRUUs when the UA
   * supports them), plus Date, the Path, and `Require: outbound` when a flow is used.
   */
  private ok(bindings: Binding[], now: number, ctx: Ctx): Reply {
    const headers: [string, string][] = [];
    for (const b of byNewest(bindings)) {
      let v = contactValue(b, now);
      if (ctx.gruu && b.instance !== undefined && b.gruuEpoch !== undefined) {
        const temp = tempGruu(this.gruuKey, ctx.aorUri, b.instance, b.gruuEpoch);
        v += `;pub-gruu=${quote(pubGruu(ctx.aorUri, b.instance))};temp-gruu=${quote(temp)}`;
      }
      headers.push(['Contact', v]);
    }
    headers.push(['Date', new Date(now).toUTCString()]);
    for (const p of ctx.path) headers.push(['Path', p]);
    if ((ctx.outbound === 'flow' || ctx.outbound === 'ob') && bindings.some((b) => b.regId !== undefined))
      headers.push(['Require', 'outbound']);
    return { status: 200, reason: 'OK', headers };
  }

  /** Runs `fn` after every earlier operation on the same AOR has finished. */
  private async exclusive<T>(aor: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(aor);
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    this.locks.set(aor, mine);
    try {
      if (prev) await prev;
      return await fn();
    } finally {
      release();
      if (this.locks.get(aor) === mine) this.locks.delete(aor);
    }
  }
}

interface Ctx {
  aor: string;
  aorUri: SipUri;
  callId: string;
  cseq: number;
  contacts: NameAddr[];
  path: string[];
  defaultExpires: number;
  source?: BindingSource;
  outbound: OutboundState;
  /** The UA said `Supported: gruu`. */
  gruu: boolean;
}

/**
 * RFC 5626 §6 as NkSIP decides it: `none` without `Supported: outbound` (reg-id ignored);
 * `flow` straight from the UA (bound to its flow); `ob` through a first hop that keeps the
 * flow (its Path value has `ob`); `lacks` through one that does not (reg-id gets 439).
 */
type OutboundState = 'none' | 'flow' | 'ob' | 'lacks';

function outboundState(req: SipRequest, path: string[], direct: boolean): OutboundState {
  if (!supports(req, 'outbound')) return 'none';
  if (direct) return 'flow';
  const first = path[path.length - 1];
  if (first === undefined) return 'lacks';
  const u = parseNameAddr(first).uri;
  return isSipUri(u) && getParam(u.params, 'ob') !== undefined ? 'ob' : 'lacks';
}

interface ParsedContact {
  key: string;
  uri: string;
  params: Param[];
  /** Seconds, already clamped; 0 removes. */
  expires: number;
  q: number;
  /** It has an instance and a reg-id (one such Contact per REGISTER, RFC 5626 §6). */
  flowId: boolean;
  instance?: string;
  regId?: number;
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}`);
  return v;
}

/** delta-seconds, or undefined when absent or malformed (then the default applies, §20.19). */
function parseDelta(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim();
  if (!/^\d{1,40}$/.test(s)) return undefined;
  return Math.min(Number(s), MAX_EXPIRES);
}

function supports(req: SipRequest, tag: string): boolean {
  for (const v of req.headerValues('supported')) if (v.toLowerCase() === tag) return true;
  return false;
}

function storeError(): Reply {
  return { status: 500, reason: 'Registrar Store Error' };
}

function aorKey(aor: string | Uri): string | undefined {
  let u: Uri;
  try {
    u = typeof aor === 'string' ? parseUri(aor.trim()) : aor;
  } catch {
    return undefined;
  }
  return isSipUri(u) ? aorOf(u) : undefined;
}

function sameAsAor(u: SipUri, aor: SipUri): boolean {
  return u.headers.length === 0 && aorOf(u) === aorOf(aor) && defaultPort(u) === defaultPort(aor);
}

function byNewest(bs: Binding[]): Binding[] {
  return bs.slice().sort((a, b) => b.updatedAt - a.updatedAt);
}

function sorted(bs: Binding[]): Binding[] {
  return bs.slice().sort((a, b) => b.q - a.q || b.updatedAt - a.updatedAt);
}
