// Automatic registrations and pings (NkSIP's start_register / start_ping, reference §6), kept
// by the server for this instance: `await app.auto.startRegister('main', 'sip:registrar')`
// resolves with the first result; changes afterwards arrive as the app's `autoStatus` event
// (and `registration` for registrations). They stop with stopRegister / stopPing, or when the
// instance leaves (a registration then sends Expires 0).
import { type HeadersInput, toHeaderOps } from './headers.js';
import {
  type AutoCommand,
  AutoCommand_Kind,
  AutoCommand_Op,
  type AutoResult,
  type ConnectRequest,
  type AutoStatus as PbAutoStatus,
  UacOptions,
} from './pb.js';

export type AutoKind = 'register' | 'ping';

/** One automatic registration or ping and its state. */
export interface AutoStatus {
  readonly kind: AutoKind;
  readonly name: string;
  /** The last attempt got a 2xx. */
  readonly ok: boolean;
  /** Status of the last final response; 0 when none came. */
  readonly code: number;
  /** Seconds until the next attempt (0 once stopped). */
  readonly nextIn: number;
}

export interface AutoOptions {
  /** Expires of the REGISTER, or seconds between pings (default 300). */
  interval?: number;
  /** From (the AOR registered); the app's `from` when absent. */
  from?: string;
  /** Route URIs (outbound proxy); the app's `route` when absent. */
  route?: readonly string[];
  headers?: HeadersInput;
  localHost?: string;
}

/** A start/stop/status the server refused, or could not complete. */
export class AutoError extends Error {
  override readonly name = 'AutoError';
}

const KIND: Record<AutoKind, AutoCommand_Kind> = {
  register: AutoCommand_Kind.KIND_REGISTER,
  ping: AutoCommand_Kind.KIND_PING,
};

export function toAutoStatus(s: PbAutoStatus): AutoStatus {
  return {
    kind: s.kind === AutoCommand_Kind.KIND_PING ? 'ping' : 'register',
    name: s.name,
    ok: s.ok,
    code: s.code,
    nextIn: s.nextIn,
  };
}

interface Waiter {
  resolve: (r: AutoResult) => void;
  reject: (e: Error) => void;
}

export class AppAuto {
  #nextId = 1;
  readonly #pending = new Map<number, Waiter>();

  /**
   * @param send writes a message on the app's stream; false when not connected
   * @param changed gets every change nobody asked about
   */
  constructor(
    private readonly send: (msg: ConnectRequest) => boolean,
    private readonly changed: (s: AutoStatus) => void,
  ) {}

  /** Registers From at `registrar` and keeps it registered; resolves with the first result. */
  async startRegister(name: string, registrar: string, opts: AutoOptions = {}): Promise<AutoStatus> {
    return this.#start('register', name, registrar, opts);
  }

  /** Unregisters (Expires 0) and stops refreshing. */
  async stopRegister(name: string): Promise<AutoStatus> {
    return this.#stop('register', name);
  }

  /** Every automatic registration of this instance. */
  async registers(): Promise<AutoStatus[]> {
    return this.#status('register');
  }

  /** Sends OPTIONS to `uri` every interval; resolves with the first result. */
  async startPing(name: string, uri: string, opts: AutoOptions = {}): Promise<AutoStatus> {
    return this.#start('ping', name, uri, opts);
  }

  async stopPing(name: string): Promise<AutoStatus> {
    return this.#stop('ping', name);
  }

  async pings(): Promise<AutoStatus[]> {
    return this.#status('ping');
  }

  /** An AutoResult from the server. */
  result(r: AutoResult): void {
    if (r.id === 0) {
      for (const s of r.entries) this.changed(toAutoStatus(s));
      return;
    }
    const w = this.#pending.get(r.id);
    if (!w) return;
    this.#pending.delete(r.id);
    if (r.error !== '') w.reject(new AutoError(r.error));
    else w.resolve(r);
  }

  failAll(why: string): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const w of all) w.reject(new AutoError(`auto register/ping command not completed: ${why}`));
  }

  async #start(kind: AutoKind, name: string, uri: string, o: AutoOptions): Promise<AutoStatus> {
    const options = UacOptions.fromPartial({
      from: o.from ?? '',
      route: [...(o.route ?? [])],
      headers: toHeaderOps(o.headers),
      localHost: o.localHost ?? '',
    });
    const r = await this.#ask({
      kind: KIND[kind],
      op: AutoCommand_Op.OP_START,
      name,
      uri,
      interval: o.interval ?? 0,
      options,
    });
    return toAutoStatus(r.entries[0] as PbAutoStatus);
  }

  async #stop(kind: AutoKind, name: string): Promise<AutoStatus> {
    const r = await this.#ask({
      kind: KIND[kind],
      op: AutoCommand_Op.OP_STOP,
      name,
      uri: '',
      interval: 0,
      options: undefined,
    });
    return toAutoStatus(r.entries[0] as PbAutoStatus);
  }

  async #status(kind: AutoKind): Promise<AutoStatus[]> {
    const r = await this.#ask({
      kind: KIND[kind],
      op: AutoCommand_Op.OP_STATUS,
      name: '',
      uri: '',
      interval: 0,
      options: undefined,
    });
    return r.entries.map(toAutoStatus);
  }

  #ask(c: Omit<AutoCommand, 'id'>): Promise<AutoResult> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (!this.send({ msg: { $case: 'auto', value: { id, ...c } } })) {
        this.#pending.delete(id);
        reject(new AutoError('SipApp is not connected: auto register/ping command not sent'));
      }
    });
  }
}
