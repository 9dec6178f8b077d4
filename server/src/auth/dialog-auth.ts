// Per-dialog authorisation lists (NkSIP's `auths` of a call, get_authorized_list and
// clear_authorized_list): the transport, address and port of the peer once it has been
// authorised in a dialog. An in-dialog request from one of them carries the `dialog` token to
// `authorize`, so the peer need not answer a challenge for every BYE or re-INVITE.
//
// As NkSIP: the UAS side adds the source of a request it answers 2xx in the dialog and of an
// in-dialog request `authorize` let through; the UAC side adds where a 2xx in the dialog came
// from. Kept beside the dialog (a WeakMap), so a dialog that goes takes its list with it.
import type { Dialog } from '../core/dialog/dialog.js';
import type { Endpoint } from '../transport/types.js';

/** `udp:127.0.0.1:5070`: how a source is listed. */
export function endpointKey(ep: Endpoint): string {
  const host = ep.address.includes(':') ? `[${ep.address.toLowerCase()}]` : ep.address.toLowerCase();
  return `${ep.transport.toLowerCase()}:${host}:${ep.port}`;
}

export class DialogAuth {
  private readonly lists = new WeakMap<Dialog, Set<string>>();

  add(dialog: Dialog, ep: Endpoint): void {
    if (dialog.ended) return;
    const key = endpointKey(ep);
    const set = this.lists.get(dialog);
    if (set) set.add(key);
    else this.lists.set(dialog, new Set([key]));
  }

  has(dialog: Dialog, ep: Endpoint): boolean {
    return !dialog.ended && (this.lists.get(dialog)?.has(endpointKey(ep)) ?? false);
  }

  list(dialog: Dialog): string[] {
    return [...(this.lists.get(dialog) ?? [])];
  }

  /** Empties the list; returns what it held. */
  clear(dialog: Dialog): string[] {
    const out = this.list(dialog);
    this.lists.delete(dialog);
    return out;
  }
}
