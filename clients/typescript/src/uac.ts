// Requests the app sends (proto UacCommand) and what comes back (UacEvent), as promises.
import { type HeadersInput, toHeaderOps } from './headers.js';
import { SipResponse } from './message.js';
import { type UacOptions as PbUacOptions, type UacCommand, UacErrorKind, type UacEvent } from './pb.js';
import { type Body, toBuffer } from './reply.js';

/** Credentials for automatic digest answers to 401/407. */
export interface Credential {
  /** Absent: any realm. */
  realm?: string;
  user?: string;
  /** Password, or `HA1!` followed by the hex HA1. */
  password: string;
}

/** Options of a request the app sends (proto UacOptions in camelCase); all optional. */
export interface UacOptions {
  headers?: HeadersInput;
  body?: Body;
  contentType?: string;
  /** Contact to send. */
  contact?: string;
  /** Have the server build a Contact from the listener used. */
  makeContact?: boolean;
  /** From as name-addr text (default: the app's `from`). */
  from?: string;
  /** To as name-addr text (default: the target URI). */
  to?: string;
  /** Route URIs (outbound proxy), in order; the app's `route` when absent. */
  route?: readonly string[];
  callId?: string;
  cseq?: number;
  /** Expires (REGISTER, SUBSCRIBE, PUBLISH); for INVITE, CANCEL after this many seconds. */
  expires?: number;
  /**
   * Digest credentials (a bare string: the password for any realm): the server answers
   * 401/407 with them, then with the app's `pass`, and reports only the final outcome.
   */
  pass?: string | readonly Credential[];
  /** How many challenges the server answers for this request (default 5; 0: none). */
  authMaxTries?: number;
  /** Event header (SUBSCRIBE, NOTIFY, PUBLISH). */
  event?: string;
  /** Refer-To (REFER). */
  referTo?: string;
  /** REGISTER: Expires 0 for our Contact. */
  unregister?: boolean;
  /** REGISTER: `Contact: *` with Expires 0. */
  unregisterAll?: boolean;
  /** REGISTER: To equal to From. */
  toAsFrom?: boolean;
  /** INVITE: ACK a 2xx automatically. */
  auto2xxAck?: boolean;
  /** INVITE: no automatic CANCEL when `expires` passes. */
  noAutoExpire?: boolean;
  /** Reason header (BYE, CANCEL). */
  reason?: string;
  /** NOTIFY: Subscription-State (default `active`). */
  subscriptionState?: string;
  /** PUBLISH: SIP-If-Match. */
  sipIfMatch?: string;
  /** Host for Via and Contact instead of the listener's. */
  localHost?: string;
  /**
   * Ask the server for provisional responses (implied by `onProvisional`, and always on for
   * INVITE so the request handle is known early for `cancel`).
   */
  provisionals?: boolean;
  /** Called with each provisional response. */
  onProvisional?: (response: SipResponse) => void;
  /**
   * INVITE (100rel): the body of the PRACKs the server sends for reliable provisional
   * responses: the SDP answer to an offer in the 1xx, else a new offer (NkSIP prack_callback).
   */
  prackBody?: Body;
  /** INVITE: no automatic PRACK; send it with `app.prack(dialog)` (the RAck is added). */
  manualPrack?: boolean;
  /** INVITE/UPDATE: ask for a session timer of this many seconds (RFC 4028). */
  sessionExpires?: number;
  /** INVITE/UPDATE: the Min-SE to send, seconds. */
  minSe?: number;
  /**
   * re-INVITE/UPDATE without `body`: refresh the session with the dialog's last local SDP,
   * version incremented, direction set: `active` (sendrecv), `hold` (sendonly), `inactive`,
   * `recvonly`, or `keep`.
   */
  refresh?: RefreshMode;
}

/** How `refresh` sets the media direction of the SDP it sends again. */
export type RefreshMode = 'active' | 'hold' | 'inactive' | 'sendrecv' | 'sendonly' | 'recvonly' | 'keep';

/** Why a request could not be sent or completed. */
export type UacErrorKindName =
  | 'unspecified'
  | 'invalidUri'
  | 'invalidFrom'
  | 'invalidTo'
  | 'invalidRoute'
  | 'invalidContact'
  | 'invalidOption'
  | 'unknownDialog'
  | 'unknownRequest'
  | 'requestPending'
  | 'serviceUnavailable'
  | 'tooManyCalls'
  | 'invalidEvent'
  | 'invalidReferTo'
  | 'notImplemented'
  /** The stream to the server broke (or the app stopped) before the final response. */
  | 'disconnected'
  /** The app is not connected to the server. */
  | 'notConnected';

const KIND_NAMES: Record<UacErrorKind, UacErrorKindName> = {
  [UacErrorKind.UAC_ERROR_KIND_UNSPECIFIED]: 'unspecified',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_URI]: 'invalidUri',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_FROM]: 'invalidFrom',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_TO]: 'invalidTo',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_ROUTE]: 'invalidRoute',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_CONTACT]: 'invalidContact',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_OPTION]: 'invalidOption',
  [UacErrorKind.UAC_ERROR_KIND_UNKNOWN_DIALOG]: 'unknownDialog',
  [UacErrorKind.UAC_ERROR_KIND_UNKNOWN_REQUEST]: 'unknownRequest',
  [UacErrorKind.UAC_ERROR_KIND_REQUEST_PENDING]: 'requestPending',
  [UacErrorKind.UAC_ERROR_KIND_SERVICE_UNAVAILABLE]: 'serviceUnavailable',
  [UacErrorKind.UAC_ERROR_KIND_TOO_MANY_CALLS]: 'tooManyCalls',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_EVENT]: 'invalidEvent',
  [UacErrorKind.UAC_ERROR_KIND_INVALID_REFER_TO]: 'invalidReferTo',
  [UacErrorKind.UAC_ERROR_KIND_NOT_IMPLEMENTED]: 'notImplemented',
};

/** A request failed before a final response (NkSIP's `{error, Reason}`). */
export class UacError extends Error {
  override readonly name = 'UacError';
  constructor(
    readonly kind: UacErrorKindName,
    message: string,
    /** The request's Call-ID, when the server told it. */
    readonly callId = '',
  ) {
    super(message || kind);
  }
}

export const uacErrorKind = (k: UacErrorKind): UacErrorKindName => KIND_NAMES[k] ?? 'unspecified';

/** Credentials as the contract's (a bare string: the password for any realm). */
export function toProtoPass(
  pass: string | readonly Credential[] | undefined,
): { realm: string; user: string; password: string }[] {
  if (pass === undefined) return [];
  if (typeof pass === 'string') return [{ realm: '', user: '', password: pass }];
  return pass.map((c) => ({ realm: c.realm ?? '', user: c.user ?? '', password: c.password }));
}

export function toProtoUacOptions(o: UacOptions, provisionals: boolean): PbUacOptions {
  const pass = toProtoPass(o.pass);
  return {
    headers: toHeaderOps(o.headers),
    body: toBuffer(o.body),
    contentType: o.contentType ?? '',
    contact: o.contact ?? '',
    makeContact: o.makeContact ?? false,
    from: o.from ?? '',
    to: o.to ?? '',
    route: [...(o.route ?? [])],
    callId: o.callId ?? '',
    cseq: o.cseq,
    expires: o.expires,
    provisionals,
    pass,
    event: o.event ?? '',
    referTo: o.referTo ?? '',
    unregister: o.unregister ?? false,
    unregisterAll: o.unregisterAll ?? false,
    toAsFrom: o.toAsFrom ?? false,
    auto2xxAck: o.auto2xxAck ?? false,
    noAutoExpire: o.noAutoExpire ?? false,
    reason: o.reason ?? '',
    subscriptionState: o.subscriptionState ?? '',
    sipIfMatch: o.sipIfMatch ?? '',
    localHost: o.localHost ?? '',
    authMaxTries: o.authMaxTries,
    prackBody: toBuffer(o.prackBody),
    manualPrack: o.manualPrack ?? false,
    sessionExpires: o.sessionExpires ?? 0,
    minSe: o.minSe ?? 0,
    refresh: o.refresh ?? '',
  };
}

/**
 * A request in flight. Await it (or `.final`) for the final response; iterate it
 * (`for await (const p of call)`) for its provisional responses; `cancel()` an INVITE.
 * Rejects with a UacError.
 */
export class UacCall implements PromiseLike<SipResponse>, AsyncIterable<SipResponse> {
  /** Resolves with the final response. */
  readonly final: Promise<SipResponse>;
  #resolve!: (r: SipResponse) => void;
  #reject!: (e: UacError) => void;
  #settled = false;
  #handle = '';
  #handleWaiters: ((h: string) => void)[] = [];
  #provisionals: SipResponse[] = [];
  #iterWaiters: (() => void)[] = [];

  constructor(
    readonly command: UacCommand,
    private readonly onProvisional: ((r: SipResponse) => void) | undefined,
    private readonly canceller: (requestHandle: string, reason?: string) => UacCall,
  ) {
    this.final = new Promise<SipResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A caller that never awaits a failed call must not crash the process.
    this.final.catch(() => undefined);
  }

  get id(): number {
    return this.command.id;
  }

  get method(): string {
    return this.command.method;
  }

  /** The request handle, once an event carried it ('' before). */
  get requestHandle(): string {
    return this.#handle;
  }

  /** Resolves with the request handle as soon as the server tells it. */
  handle(): Promise<string> {
    if (this.#handle !== '') return Promise.resolve(this.#handle);
    return new Promise((resolve) => this.#handleWaiters.push(resolve));
  }

  /** Sends CANCEL for this INVITE, once its request handle is known. Resolves with the CANCEL's response. */
  async cancel(reason?: string): Promise<SipResponse> {
    return this.canceller(await this.handle(), reason);
  }

  // biome-ignore lint/suspicious/noThenProperty: a UacCall is awaitable on purpose.
  then<A = SipResponse, B = never>(
    onFulfilled?: ((r: SipResponse) => A | PromiseLike<A>) | null,
    onRejected?: ((e: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.final.then(onFulfilled, onRejected);
  }

  catch<B = never>(onRejected: (e: unknown) => B | PromiseLike<B>): Promise<SipResponse | B> {
    return this.final.catch(onRejected);
  }

  /** The provisional responses, in order, until the final one. */
  async *[Symbol.asyncIterator](): AsyncIterator<SipResponse> {
    let i = 0;
    for (;;) {
      if (i < this.#provisionals.length) {
        yield this.#provisionals[i++] as SipResponse;
        continue;
      }
      if (this.#settled) return;
      await new Promise<void>((resolve) => this.#iterWaiters.push(resolve));
    }
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Feeds a UacEvent for this request. Returns true once the request is complete. */
  event(ev: UacEvent): boolean {
    if (ev.requestHandle !== '' && this.#handle === '') {
      this.#handle = ev.requestHandle;
      for (const w of this.#handleWaiters.splice(0)) w(this.#handle);
    }
    const meta = {
      requestHandle: ev.requestHandle || this.#handle,
      dialogHandle: ev.dialogHandle,
      subscriptionHandle: ev.subscriptionHandle,
      rseq: ev.rseq,
    };
    switch (ev.event?.$case) {
      case 'provisional': {
        const r = new SipResponse(ev.event.value, meta);
        this.#provisionals.push(r);
        this.#wake();
        this.onProvisional?.(r);
        return false;
      }
      case 'final':
        this.#settle();
        this.#resolve(new SipResponse(ev.event.value, meta));
        return true;
      case 'error':
        this.fail(new UacError(uacErrorKind(ev.event.value.kind), ev.event.value.message, ev.callId));
        return true;
      default:
        return false;
    }
  }

  /** Rejects the call (stream broken, app stopped). */
  fail(err: UacError): void {
    this.#settle();
    this.#reject(err);
    for (const w of this.#handleWaiters.splice(0)) w('');
  }

  #settle(): void {
    this.#settled = true;
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#iterWaiters.splice(0)) w();
  }
}
