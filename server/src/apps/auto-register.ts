// Automatic registrations and pings of one app instance (NkSIP's nksip_uac_auto_register,
// reference §6): a REGISTER refreshed before the registrar's expiry, with the same Call-ID and
// a growing CSeq, or an OPTIONS every interval. The instance hears of every change of state
// (an AutoResult with id 0, and a RegistrationStatus notification for registrations); a
// 500/503 with Retry-After is retried after it. Everything stops with `stop` or when the
// instance leaves; a registration then sends Expires 0.
import type { Logger } from 'pino';
import type { UacListener } from '../core/uac.js';
import type { UacRequestSpec } from '../core/uac-build.js';
import {
  type AutoCommand,
  type AutoResult,
  type AutoStatus,
  type ConnectResponse,
  AutoCommand_Kind as Kind,
  AutoCommand_Op as Op,
} from '../gen/nksip/v1/service.js';
import { newTag } from '../sip/ids.js';
import { fromText, type SipResponse } from '../sip/message.js';
import { parseUri } from '../sip/uri.js';
import { type Clock, realClock, type TimerHandle } from '../transaction/clock.js';
import type { LocalAddress } from '../transport/types.js';
import type { AppSettings } from './app-config.js';
import { headerOpFromPb } from './convert.js';
import { passFromPb, type UacPort, uacDefaultsOf } from './uac-commands.js';

export const DEFAULT_INTERVAL_S = 300;
/** Longest wait before retrying after a failure without Retry-After, seconds. */
export const RETRY_S = 30;

interface Entry {
  readonly kind: Kind;
  readonly name: string;
  readonly base: UacRequestSpec;
  readonly interval: number;
  readonly callId: string;
  cseq: number;
  /** undefined until the first attempt ended. */
  ok: boolean | undefined;
  code: number;
  nextAt: number;
  timer: TimerHandle | undefined;
  inFlight: boolean;
  stopped: boolean;
  /** The start command waiting for the first result. */
  startId: number | undefined;
}

export class AutoSession {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly uac: UacPort | undefined,
    private readonly settings: AppSettings,
    private readonly emit: (msg: ConnectResponse) => void,
    private readonly clock: Clock = realClock,
    private readonly log?: Logger,
    /** The listeners the app is served on (its requests leave from them). */
    private readonly listeners?: () => readonly LocalAddress[],
  ) {}

  /** Live entries (registrations and pings), for leak checks. */
  get size(): number {
    return this.entries.size;
  }

  handle(cmd: AutoCommand): void {
    const fail = (error: string) => this.result({ id: cmd.id, entries: [], error });
    if (cmd.kind !== Kind.KIND_REGISTER && cmd.kind !== Kind.KIND_PING) {
      fail(`unknown kind ${cmd.kind}`);
      return;
    }
    if (cmd.op === Op.OP_STATUS) {
      const entries = [...this.entries.values()]
        .filter((e) => e.kind === cmd.kind)
        .map((e) => this.status(e));
      this.result({ id: cmd.id, entries, error: '' });
      return;
    }
    if (cmd.name === '') {
      fail('name is required');
      return;
    }
    const key = `${cmd.kind}:${cmd.name}`;
    if (cmd.op === Op.OP_STOP) {
      const e = this.entries.get(key);
      if (!e) {
        fail(`no ${kindName(cmd.kind)} named ${JSON.stringify(cmd.name)}`);
        return;
      }
      this.stop(e, (status) => this.result({ id: cmd.id, entries: [status], error: '' }));
      return;
    }
    if (cmd.op !== Op.OP_START) {
      fail(`unknown op ${cmd.op}`);
      return;
    }
    if (!this.uac) {
      fail('this server has no UAC core');
      return;
    }
    let base: UacRequestSpec;
    try {
      base = this.spec(cmd);
    } catch (e) {
      fail((e as Error).message);
      return;
    }
    const old = this.entries.get(key);
    if (old) this.stop(old, () => {}, false);
    const e: Entry = {
      kind: cmd.kind,
      name: cmd.name,
      base,
      interval: cmd.interval > 0 ? cmd.interval : DEFAULT_INTERVAL_S,
      callId: `${newTag()}${newTag()}`,
      cseq: 0,
      ok: undefined,
      code: 0,
      nextAt: this.clock.now(),
      timer: undefined,
      inFlight: false,
      stopped: false,
      startId: cmd.id,
    };
    this.entries.set(key, e);
    this.attempt(e);
  }

  /** The instance left: every entry stops, registrations are removed (nobody is told). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of [...this.entries.values()]) this.stop(e, () => {});
  }

  private spec(cmd: AutoCommand): UacRequestSpec {
    const uri = cmd.uri.trim();
    if (uri === '') throw new Error('uri is required to start');
    try {
      parseUri(uri.replace(/^<(.*)>$/, '$1'));
    } catch {
      throw new Error(`invalid uri ${JSON.stringify(cmd.uri)}`);
    }
    const register = cmd.kind === Kind.KIND_REGISTER;
    const spec: UacRequestSpec = { method: register ? 'REGISTER' : 'OPTIONS', uri: fromText(uri) };
    if (register) {
      spec.makeContact = true;
      spec.toAsFrom = true;
    }
    const o = cmd.options;
    if (o) {
      if (o.from !== '') spec.from = fromText(o.from);
      if (o.route.length > 0) spec.route = o.route.map(fromText);
      if (o.headers.length > 0) spec.headers = o.headers.map(headerOpFromPb);
      if (o.localHost !== '') spec.localHost = o.localHost;
    }
    return spec;
  }

  private send(e: Entry, expires: number | undefined, listener: UacListener): void {
    const spec: UacRequestSpec = { ...e.base, callId: e.callId, cseq: ++e.cseq };
    if (expires !== undefined) spec.expires = expires;
    try {
      // as the app's own requests: its defaults and listeners, its credentials for 401/407
      const defaults = uacDefaultsOf(this.settings, this.listeners?.());
      const auth = { pass: this.settings.pass.map(passFromPb) };
      if (!this.uac?.send(spec, listener, defaults, auth)) listener.error('service_unavailable', 'not sent');
    } catch (err) {
      this.log?.debug({ err, name: e.name }, 'auto register/ping not sent');
      listener.error('service_unavailable', (err as Error).message);
    }
  }

  private attempt(e: Entry): void {
    e.timer = undefined;
    if (e.stopped || e.inFlight) return;
    e.inFlight = true;
    const register = e.kind === Kind.KIND_REGISTER;
    this.send(e, register ? e.interval : undefined, {
      final: (resp) => this.outcome(e, resp.status, resp),
      error: () => this.outcome(e, 0, undefined),
    });
  }

  private outcome(e: Entry, code: number, resp: SipResponse | undefined): void {
    e.inFlight = false;
    if (e.stopped) return;
    const ok = code >= 200 && code < 300;
    const changed = e.ok !== ok;
    e.ok = ok;
    e.code = code;
    const waitS = ok ? this.refreshIn(e, resp) : retryAfter(resp, e.interval);
    e.nextAt = this.clock.now() + waitS * 1000;
    e.timer = this.clock.setTimer(waitS * 1000, () => this.attempt(e));
    const status = this.status(e);
    if (e.startId !== undefined) {
      this.result({ id: e.startId, entries: [status], error: '' });
      e.startId = undefined;
    } else if (changed) {
      this.result({ id: 0, entries: [status], error: '' });
    }
    if (changed && e.kind === Kind.KIND_REGISTER) {
      this.out({
        msg: {
          $case: 'notification',
          value: { event: { $case: 'registration', value: { id: e.name, ok, code } } },
        },
      });
    }
  }

  /** A registration refreshes at 90 % of what the registrar granted; a ping every interval. */
  private refreshIn(e: Entry, resp: SipResponse | undefined): number {
    if (e.kind !== Kind.KIND_REGISTER) return e.interval;
    const granted = grantedExpires(resp) ?? e.interval;
    return Math.max(1, Math.floor(granted * 0.9));
  }

  private stop(e: Entry, done: (s: AutoStatus) => void, unregister = true): void {
    e.stopped = true;
    if (e.timer) this.clock.clearTimer(e.timer);
    e.timer = undefined;
    this.entries.delete(`${e.kind}:${e.name}`);
    if (e.startId !== undefined) {
      this.result({ id: e.startId, entries: [], error: 'stopped before the first result' });
      e.startId = undefined;
    }
    const finish = (code: number) => {
      e.code = code;
      e.ok = false;
      done({ ...this.status(e), nextIn: 0 });
    };
    if (!unregister || e.kind !== Kind.KIND_REGISTER || e.ok !== true) {
      finish(e.code);
      return;
    }
    this.send(e, 0, { final: (resp) => finish(resp.status), error: () => finish(0) });
  }

  private status(e: Entry): AutoStatus {
    const left = e.timer ? Math.max(0, Math.ceil((e.nextAt - this.clock.now()) / 1000)) : 0;
    return { kind: e.kind, name: e.name, ok: e.ok === true, code: e.code, nextIn: left };
  }

  private result(r: AutoResult): void {
    this.out({ msg: { $case: 'autoResult', value: r } });
  }

  private out(msg: ConnectResponse): void {
    if (this.closed) return;
    try {
      this.emit(msg);
    } catch (err) {
      this.log?.debug({ err }, 'auto register/ping result not written');
    }
  }
}

const kindName = (k: Kind): string => (k === Kind.KIND_REGISTER ? 'registration' : 'ping');

/** Expires the registrar granted: the first Contact's `expires`, else the Expires header. */
function grantedExpires(resp: SipResponse | undefined): number | undefined {
  if (!resp) return undefined;
  try {
    for (const c of resp.contacts) {
      const p = c.params.find(([n]) => n.toLowerCase() === 'expires')?.[1];
      if (typeof p === 'string' && /^\d{1,10}$/.test(p)) return Number(p);
    }
  } catch {
    // an unreadable Contact: the Expires header then
  }
  const h = resp.header('expires')?.trim();
  return h && /^\d{1,10}$/.test(h) ? Number(h) : undefined;
}

/** Seconds before a retry: Retry-After of a 500/503, else min(interval, RETRY_S). */
function retryAfter(resp: SipResponse | undefined, interval: number): number {
  const fallback = Math.min(interval, RETRY_S);
  if (!resp || (resp.status !== 503 && resp.status !== 500)) return fallback;
  const m = /^\s*(\d{1,9})/.exec(resp.header('retry-after') ?? '');
  return m ? Math.max(1, Number(m[1])) : fallback;
}
