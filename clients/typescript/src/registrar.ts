// The app's registrar (NkSIP's nksip_registrar find / qfind / delete / clear), asked over the
// app's stream: `app.registrar.qfind('sip:alice@example.com')` gives a URI set ready for
// `Route.proxy`. The app must have enabled the `registrar` plugin.
import { type ConnectRequest, RegistrarCommand_Op, type RegistrarResult } from './pb.js';

/** A registrar command the server refused (no registrar plugin, invalid AOR) or could not send. */
export class RegistrarError extends Error {
  override readonly name = 'RegistrarError';
}

interface Waiter {
  resolve: (r: RegistrarResult) => void;
  reject: (e: Error) => void;
}

export class AppRegistrar {
  #nextId = 1;
  readonly #pending = new Map<number, Waiter>();

  /** @param send writes a message on the app's stream; false when not connected. */
  constructor(private readonly send: (msg: ConnectRequest) => boolean) {}

  /** The AOR's contact URIs, highest q first, then newest first (a Path rides as `?Route=`). */
  async find(aor: string): Promise<string[]> {
    return (await this.#ask(RegistrarCommand_Op.OP_FIND, aor)).uris;
  }

  /** The AOR's contacts grouped by q, highest first: serial groups of parallel targets. */
  async qfind(aor: string): Promise<string[][]> {
    return (await this.#ask(RegistrarCommand_Op.OP_QFIND, aor)).uriSet.map((g) => g.uris);
  }

  /** Removes the AOR's bindings, or only `contact`'s; false when there was nothing to remove. */
  async delete(aor: string, contact = ''): Promise<boolean> {
    return (await this.#ask(RegistrarCommand_Op.OP_DELETE, aor, contact)).deleted;
  }

  /** Removes every binding of every AOR of this app. */
  async clear(): Promise<void> {
    await this.#ask(RegistrarCommand_Op.OP_CLEAR, '');
  }

  /** A RegistrarResult from the server; false when it answers nothing pending here. */
  result(r: RegistrarResult): boolean {
    const w = this.#pending.get(r.id);
    if (!w) return false;
    this.#pending.delete(r.id);
    if (r.error !== '') w.reject(new RegistrarError(r.error));
    else w.resolve(r);
    return true;
  }

  /** The stream broke or the app stopped: every pending command fails. */
  failAll(why: string): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const w of all) w.reject(new RegistrarError(`registrar command not completed: ${why}`));
  }

  #ask(op: RegistrarCommand_Op, aor: string, contact = ''): Promise<RegistrarResult> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (!this.send({ msg: { $case: 'registrar', value: { id, op, aor, contact } } })) {
        this.#pending.delete(id);
        reject(new RegistrarError('SipApp is not connected: registrar command not sent'));
      }
    });
  }
}
