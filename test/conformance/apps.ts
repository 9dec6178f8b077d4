// The conformance app of each language, as a child process: how to start it, how to know it
// joined the server, what it printed, and how to stop it (by PID, nothing broader).
//
// Every conformance app is the NkSIP test peer driven by x-nk-* request headers (see
// examples/typescript/conformance.ts for the reference behaviour) and shares one interface:
//   env NKSIP_SERVER (gRPC host:port), NKSIP_APP (app name, also what it appends to x-nk-id),
//       NKSIP_LISTEN (comma-separated listen URIs; empty: take over the server's listeners),
//       NKSIP_TOKEN, NKSIP_PASS;
//   stdout: one JSON object per line, `{"ev":"ready",...}` once it has joined the server;
//   stdin: one JSON control command per line (requests sent by the app, CANCEL), answered by
//       `provisional` and `result` events carrying the command's id (RunningApp.request).
// Adding a language = adding a row to APPS (see README.md).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');

export interface AppSpec {
  /** The executable (resolved through PATH unless absolute). */
  command: string;
  args: string[];
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Extra environment on top of the NKSIP_* variables. */
  env?: Record<string, string>;
  /** Files that must exist for the app to be runnable (built); absent: the language is skipped. */
  requires: string[];
  /** How to build it, for the error message when it was asked for but is missing. */
  build: string;
}

/** One row per language: TypeScript, Python, Go and Java. */
export const APPS: Record<string, AppSpec> = {
  typescript: {
    command: process.execPath,
    args: [join(ROOT, 'examples/typescript/dist/conformance.js')],
    requires: [join(ROOT, 'examples/typescript/dist/conformance.js'), join(ROOT, 'clients/typescript/dist')],
    build: 'make build',
  },
  python: {
    command: join(ROOT, 'clients/python/.venv/bin/python'),
    args: [join(ROOT, 'examples/python/conformance.py')],
    env: { PYTHONUNBUFFERED: '1' },
    requires: [join(ROOT, 'clients/python/.venv/bin/python'), join(ROOT, 'examples/python/conformance.py')],
    build: 'scripts/install-python-deps.sh',
  },
  go: {
    command: join(ROOT, 'examples/go/bin/conformance'),
    args: [],
    requires: [join(ROOT, 'examples/go/bin/conformance')],
    build: 'scripts/install-go-deps.sh (make test-deps)',
  },
  java: {
    command: 'java',
    // one shaded jar; C1 only and the shared class archive make the JVM start faster
    args: [
      '-XX:TieredStopAtLevel=1',
      '-Xshare:auto',
      '-jar',
      join(ROOT, 'examples/java/conformance/target/nksip-conformance.jar'),
    ],
    requires: [join(ROOT, 'examples/java/conformance/target/nksip-conformance.jar')],
    build: 'scripts/install-java-deps.sh (make test-deps)',
  },
};

/**
 * The languages to run: env CONFORMANCE_LANGS (comma-separated; each must be in APPS and built),
 * else every language whose app is present.
 */
export function conformanceLanguages(): string[] {
  const wanted = (process.env.CONFORMANCE_LANGS ?? '')
    .split(',')
    .map((l) => l.trim().toLowerCase())
    .filter(Boolean);
  if (wanted.length === 0) return Object.keys(APPS).filter((l) => appPresent(l));
  for (const lang of wanted) {
    const spec = APPS[lang];
    if (!spec) throw new Error(`CONFORMANCE_LANGS: no conformance app known for ${JSON.stringify(lang)}`);
    if (!appPresent(lang)) {
      throw new Error(`CONFORMANCE_LANGS: the ${lang} conformance app is not built (${spec.build})`);
    }
  }
  return wanted;
}

export function appPresent(lang: string): boolean {
  return (APPS[lang]?.requires ?? ['']).every((f) => f !== '' && existsSync(f));
}

export type AppEvent = Record<string, unknown> & { ev: string };

export interface AppOptions {
  /** gRPC address of the server, `host:port`. */
  server: string;
  /** App name (NKSIP_APP); instances with the same name join the same app. */
  name?: string;
  /** Listen URIs; none: the app takes over the server's own listeners. */
  listen?: string[];
  token?: string;
  /** Extra environment (NKSIP_PASS, NKSIP_SIP_PASS, NKSIP_PLUGINS, NKSIP_ROUTE...). */
  env?: Record<string, string>;
  /** Milliseconds to wait for the ready line. */
  readyTimeoutMs?: number;
  /** Session timers plugin (NKSIP_TIMERS `se,min_se`, seconds); none: not enabled. */
  timers?: { se: number; minSe: number };
}

/** Options of a control `request`: UacOptions as JSON (headers added, body as text). */
export type UacCommandOptions = Record<string, unknown> & { headers?: [string, string][]; body?: string };

/** A `provisional` or `result` event: a response, or (result only) an error kind. */
export type UacResult = AppEvent & {
  id: string;
  code?: number;
  reason?: string;
  dialog?: string;
  subscription?: string;
  callId?: string;
  cseq?: number;
  headers?: [string, string][];
  body?: string;
  error?: string;
  message?: string;
};

/** The first value of header `name` (lowercase full name) in a result. */
export function resultHeader(r: UacResult | undefined, name: string): string | undefined {
  return r?.headers?.find(([n]) => n === name)?.[1];
}

export class RunningApp {
  /** Every JSON line printed, in order. */
  readonly events: AppEvent[] = [];
  /** Non-JSON stdout and all of stderr, for failure messages. */
  output = '';
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  constructor(
    readonly lang: string,
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        resolve(code ?? (signal ? -1 : null));
        this.wake();
      });
    });
    let buf = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          const obj = JSON.parse(line) as AppEvent;
          if (obj && typeof obj.ev === 'string') this.events.push(obj);
          else this.output += `${line}\n`;
        } catch {
          this.output += `${line}\n`;
        }
      }
      this.wake();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8000);
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first event (from index `from`) matching `pred`, or undefined after `timeoutMs`. */
  async waitEvent(
    pred: (e: AppEvent) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<AppEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Events of kind `ev` (e.g. `callback`) whose fields match `fields`. */
  find(ev: string, fields: Record<string, unknown> = {}): AppEvent[] {
    return this.events.filter((e) => e.ev === ev && Object.entries(fields).every(([k, v]) => e[k] === v));
  }

  private nextCommand = 1;

  /** Writes a control command to the app's stdin; returns its id. */
  command(c: Record<string, unknown>): string {
    const id = `c${this.nextCommand++}`;
    this.proc.stdin?.write(`${JSON.stringify({ ...c, id })}\n`);
    return id;
  }

  /** The `result` event of command `id`, or undefined after `timeoutMs`. */
  result(id: string, timeoutMs = 15_000): Promise<UacResult | undefined> {
    return this.waitEvent((e) => e.ev === 'result' && e.id === id, timeoutMs) as Promise<
      UacResult | undefined
    >;
  }

  /**
   * The app sends a request (NkSIP's nksip_uac): to a URI, or in a dialog / subscription.
   * Resolves with its final response or its error (never rejects; undefined on timeout).
   */
  async request(
    method: string,
    target: string | { dialog: string } | { subscription: string },
    opts: UacCommandOptions = {},
    timeoutMs?: number,
  ): Promise<UacResult | undefined> {
    const id = this.send(method, target, opts);
    return this.result(id, timeoutMs);
  }

  /** Like `request` but returns at once with the command id (for CANCEL and provisionals). */
  send(
    method: string,
    target: string | { dialog: string } | { subscription: string },
    opts: UacCommandOptions = {},
  ): string {
    const where = typeof target === 'string' ? { uri: target } : target;
    return this.command({ cmd: 'request', method, ...where, opts });
  }

  /** CANCELs the INVITE sent as command `call`; resolves with the CANCEL's result. */
  cancel(call: string, reason?: string, timeoutMs?: number): Promise<UacResult | undefined> {
    const id = this.command({ cmd: 'cancel', call, ...(reason !== undefined ? { reason } : {}) });
    return this.result(id, timeoutMs);
  }

  /** The provisional responses command `id` got so far. */
  provisionals(id: string): UacResult[] {
    return this.events.filter((e) => e.ev === 'provisional' && e.id === id) as UacResult[];
  }

  /** Sends `signal` to this process (by its PID) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill(signal);
    const killer = setTimeout(() => {
      if (this.alive) this.proc.kill('SIGKILL');
    }, timeoutMs);
    await this.exited;
    clearTimeout(killer);
  }

  /** A clean stop (SIGTERM: the app sends Stop and exits), SIGKILL if it takes too long. */
  stop(): Promise<void> {
    return this.kill('SIGTERM', 3000);
  }
}

/** Starts the `lang` conformance app and resolves once it printed its ready line. */
export async function startApp(lang: string, o: AppOptions): Promise<RunningApp> {
  const spec = APPS[lang];
  if (!spec) throw new Error(`no conformance app for ${lang}`);
  const name = o.name ?? 'conformance';
  const proc = spawn(spec.command, spec.args, {
    cwd: spec.cwd ?? ROOT,
    env: {
      ...process.env,
      ...spec.env,
      NKSIP_SERVER: o.server,
      NKSIP_APP: name,
      NKSIP_LISTEN: (o.listen ?? []).join(','),
      NKSIP_TOKEN: o.token ?? '',
      ...o.env,
      NKSIP_TIMERS: o.timers ? `${o.timers.se},${o.timers.minSe}` : '',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const app = new RunningApp(lang, name, proc);
  const timeout = o.readyTimeoutMs ?? 10_000;
  const ready = await Promise.race([
    app.waitEvent((e) => e.ev === 'ready', timeout),
    app.exited.then(() => undefined),
  ]);
  if (!ready) {
    await app.kill();
    throw new Error(
      `${lang} conformance app did not become ready in ${timeout} ms: ${app.output.slice(-2000)}`,
    );
  }
  return app;
}
