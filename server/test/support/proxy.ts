// Test support for the proxy: a UAS core whose app routes every request to the proxy, over a
// real transaction layer on a fake clock and a recording transport, plus helpers to play the
// downstream UASs (answer what the proxy sent) and read what went upstream.
import { DEFAULTS } from '../../src/config.js';
import type { AppHandler } from '../../src/core/app.js';
import type { ProxyOptions, RouteDecision, UriSet } from '../../src/core/decision.js';
import type { TimerSettings } from '../../src/core/timers.js';
import { UasCore } from '../../src/core/uas.js';
import { SipProxy, type SipProxyOptions } from '../../src/proxy/index.js';
import { makeResponse } from '../../src/sip/build.js';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { serialize } from '../../src/sip/serializer.js';
import { FakeClock } from '../../src/transaction/clock.js';
import { TransactionLayer } from '../../src/transaction/layer.js';
import type { Endpoint, Source } from '../../src/transport/types.js';
import { FakeTransport, flush, incoming, parse, source } from './transaction.js';

/** A FakeTransport whose requests to some addresses fail (a transport error for that branch). */
export class ProxyTransport extends FakeTransport {
  readonly unreachable = new Set<string>();

  override sendRequest(req: SipRequest, target: Endpoint): Promise<Endpoint> {
    if (this.unreachable.has(target.address)) {
      this.sent.push({ kind: 'request', msg: req, to: target });
      return Promise.reject(new Error('ECONNREFUSED'));
    }
    return super.sendRequest(req, target);
  }

  /** Requests sent downstream (optionally of one method), with where they went. */
  out(method?: string): { msg: SipRequest; to: Endpoint }[] {
    const res: { msg: SipRequest; to: Endpoint }[] = [];
    for (const s of this.sent) {
      if (s.kind === 'request' && (!method || s.msg.method === method)) res.push({ msg: s.msg, to: s.to });
    }
    return res;
  }

  /** Requests of a method sent to one address. */
  to(address: string, method = 'INVITE'): SipRequest[] {
    return this.out(method)
      .filter((o) => o.to.address === address)
      .map((o) => o.msg);
  }

  /** Responses sent upstream. */
  up(): SipResponse[] {
    return this.responses();
  }
}

export type Decide = (req: SipRequest) => RouteDecision;

export function proxyDecision(targets: UriSet, options: ProxyOptions = {}): Decide {
  return () => ({ kind: 'proxy', targets, options });
}

export interface ProxyHarnessOptions extends Partial<Omit<SipProxyOptions, 'layer' | 'transport' | 'clock'>> {
  decide?: Decide;
  /** The app runs the timers plugin with these settings. */
  timers?: TimerSettings;
}

export function proxyHarness(opts: ProxyHarnessOptions = {}) {
  const clock = new FakeClock();
  const transport = new ProxyTransport();
  const layer = new TransactionLayer({ transport, clock });
  const { decide: d, timers, ...rest } = opts;
  const proxy = new SipProxy({
    layer,
    transport,
    clock,
    resolve: () => Promise.reject(new Error('no DNS')),
    ...rest,
  });
  const acks: SipRequest[] = [];
  /** What the app heard of the proxy's dialogs: `start`, `invite_status:…`, `session:…`, `stop`. */
  const dialogEvents: { handle: string; event: string }[] = [];
  const state = { decide: d ?? proxyDecision([['sip:bob@192.0.2.30']]) };
  const app: AppHandler = {
    route: (req) => state.decide(req),
    method: () => ({ status: 200 }),
    ack: (ack) => void acks.push(ack),
    dialogUpdate: (u, ctx) => {
      const event =
        u.type === 'invite_status'
          ? `invite_status:${typeof u.status === 'string' ? u.status : `stop:${u.status.stop}`}`
          : u.type;
      dialogEvents.push({ handle: ctx.dialog.handle, event });
    },
    sessionUpdate: (u, ctx) =>
      void dialogEvents.push({ handle: ctx.dialog.handle, event: `session:${u.type}` }),
  };
  if (timers) app.timers = () => timers;
  proxy.setApp(app);
  const profile = () => ({ allow: DEFAULTS.allow, supported: ['path'] });
  const core = new UasCore({ transport, layer, profile, app, forwarder: proxy });

  /** A message from upstream (the caller at 192.0.2.10 by default). */
  const send = async (msg: SipRequest | SipResponse, from: Source = source()) => {
    core.receive(incoming(msg, from));
    await flush();
    await flush();
  };

  /** A downstream UAS answers a request the proxy sent (through the wire format). */
  const answer = async (
    req: SipRequest,
    status: number,
    extra: { toTag?: string; headers?: [string, string][]; reason?: string } = {},
  ) => {
    const r = makeResponse(req, status, {
      toTag: extra.toTag ?? `tag${status}`,
      ...(extra.headers ? { headers: extra.headers } : {}),
      ...(extra.reason ? { reason: extra.reason } : {}),
    });
    const resp = parse(serialize(r).toString('latin1')) as SipResponse;
    const to = transport.out().find((o) => o.msg === req)?.to ?? { address: '192.0.2.99', port: 5060 };
    const from: Source = {
      transport: 'udp',
      address: to.address,
      port: to.port,
      localAddress: '192.0.2.1',
      localPort: 5060,
    };
    await send(resp, from);
  };

  /** Runs every timer out: afterwards no transaction and no fork may be left. */
  const settle = async () => {
    await flush();
    for (let i = 0; i < 2000 && clock.nextDue() !== undefined; i++) {
      clock.advanceToNext();
      await flush();
    }
  };

  return {
    clock,
    transport,
    layer,
    proxy,
    core,
    acks,
    dialogEvents,
    send,
    answer,
    settle,
    setDecide: (f: Decide) => {
      state.decide = f;
    },
  };
}

export type ProxyHarness = ReturnType<typeof proxyHarness>;
