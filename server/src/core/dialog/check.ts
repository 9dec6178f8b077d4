// What the UAS does with a request that carries a To tag (RFC 3261 §12.2.2), in NkSIP's
// order and with its answers (nksip_call_uas_dialog, reference §4 step 5):
//   - no dialog matches → 481 (a NOTIFY the subscription layer expects excepted);
//   - a CSeq lower than the last one received → 500 "Old CSeq in Dialog" (ACK and CANCEL
//     are not checked: they carry their INVITE's number);
//   - a re-INVITE while our own INVITE is in progress → 491 (glare, RFC 3261 §14.2); while
//     the peer's previous one is still unanswered or unacknowledged → 500 "Processing
//     Previous INVITE" with a Retry-After of 0–10 s;
//   - a re-INVITE after a BYE → 481;
//   - an UPDATE with an offer while our own offer is unanswered → 491, while the peer's
//     previous offer is unanswered → 500 with a Retry-After (RFC 3311 §5.2).
// A request that passes is recorded in the dialog (remote CSeq, INVITE usage, BYE).
// An ACK never gets a response: it confirms the dialog, is a retransmission, or is dropped.
import type { SipRequest } from '../../sip/message.js';
import { type Reply, reply } from '../reply.js';
import { sdpOf } from '../session.js';
import type { Dialog, DialogUpdate } from './dialog.js';
import type { DialogTable } from './table.js';

export type InDialogResult =
  /** No To tag, or a CANCEL: not a dialog matter (CANCEL matches its INVITE transaction). */
  | { kind: 'none' }
  /** Go on with the method; `dialog` is undefined only for a NOTIFY accepted by `isExpectedNotify`. */
  | { kind: 'process'; dialog: Dialog | undefined; updates: DialogUpdate[] }
  /** Answer with this, statelessly with respect to the dialog (NkSIP adds `no_dialog`). */
  | { kind: 'reply'; reply: Reply; dialog: Dialog | undefined }
  /** An ACK that reached its dialog: `confirmed` it, or was a `retransmission`. */
  | { kind: 'ack'; dialog: Dialog; result: 'confirmed' | 'retransmission'; updates: DialogUpdate[] }
  /** An ACK that matches nothing: dropped, no response. */
  | { kind: 'drop'; why: string };

export interface InDialogOptions {
  now: number;
  /** Retry-After seconds for "500 Processing Previous INVITE"; NkSIP picks 0–10 at random. */
  retryAfter?: () => number;
  /**
   * A NOTIFY whose dialog does not exist yet may belong to a SUBSCRIBE or REFER we sent
   * (RFC 6665 §4.1.2.4: the NOTIFY can arrive before the 2xx); the subscription layer says.
   */
  isExpectedNotify?: (req: SipRequest) => boolean;
}

export const OLD_CSEQ = 'Old CSeq in Dialog';
export const PROCESSING_PREVIOUS_INVITE = 'Processing Previous INVITE';

function randomRetryAfter(): number {
  return Math.floor(Math.random() * 11);
}

/**
 * The reply an in-dialog request gets from the dialog checks alone, or undefined when it may
 * proceed. Pure: the dialog is not touched. ACK is not checked here (see `receiveInDialog`).
 */
export function inDialogError(
  dialog: Dialog,
  req: SipRequest,
  retryAfter: () => number = randomRetryAfter,
): Reply | undefined {
  if (req.method === 'ACK' || req.method === 'CANCEL') return undefined;
  // §12.2.2: lower than the remote sequence is out of order; NkSIP's phrase
  if (dialog.remoteSeq !== undefined && req.cseq.seq < dialog.remoteSeq) return reply(500, OLD_CSEQ);
  if (req.method === 'UPDATE' && sdpOf(req)) {
    if (dialog.session.offerPending('local')) return reply(491);
    if (dialog.session.offerPending('remote')) {
      return reply(500, 'Offer Pending', [['Retry-After', String(retryAfter())]]);
    }
  }
  if (req.method === 'INVITE') {
    switch (dialog.inviteStatus) {
      case 'proceeding_uac':
      case 'accepted_uac':
        return reply(491);
      case 'proceeding_uas':
      case 'accepted_uas':
        return reply(500, PROCESSING_PREVIOUS_INVITE, [['Retry-After', String(retryAfter())]]);
      case 'bye':
        return reply(481);
      default:
        return undefined;
    }
  }
  return undefined;
}

/**
 * Matches a request with a To tag to its dialog, applies the checks and, when it passes,
 * records it in the dialog. For the UAS core before the method is processed.
 */
export function receiveInDialog(table: DialogTable, req: SipRequest, opts: InDialogOptions): InDialogResult {
  if (req.method === 'CANCEL' || req.toTag === undefined) return { kind: 'none' };
  const dialog = table.findUas(req);
  if (req.method === 'ACK') {
    if (!dialog) return { kind: 'drop', why: 'ACK for no dialog' };
    const { result, updates } = dialog.ackReceived(req, opts.now);
    if (result === 'unmatched')
      return { kind: 'drop', why: `ACK in INVITE state ${dialog.inviteStatus ?? 'none'}` };
    return { kind: 'ack', dialog, result, updates };
  }
  if (!dialog) {
    if (req.method === 'NOTIFY' && opts.isExpectedNotify?.(req)) {
      return { kind: 'process', dialog: undefined, updates: [] };
    }
    return { kind: 'reply', reply: reply(481), dialog: undefined };
  }
  const error = inDialogError(dialog, req, opts.retryAfter);
  if (error) return { kind: 'reply', reply: error, dialog };
  return { kind: 'process', dialog, updates: dialog.requestReceived(req, opts.now) };
}
