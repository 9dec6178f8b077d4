// Messages back to bytes. Headers that still carry their received line are written as they
// came, so a message passed on unchanged keeps what it carried; the rest are written with
// the canonical spelling of their name.
import { keptBuffer } from './kept.js';
import type { SipMessage } from './message.js';
import { displayName } from './names.js';

export function serializeHead(msg: SipMessage, contentLength = msg.body.length): string {
  // one array joined once: appending to a string makes a tree of pieces to flatten later
  const parts: string[] = [
    msg.kind === 'request'
      ? `${msg.method} ${msg.uri} ${msg.version}`
      : `${msg.version} ${msg.status} ${msg.reason}`,
  ];
  let wroteLength = false;
  for (const h of msg.headers) {
    if (h.name === 'content-length') {
      if (wroteLength) continue;
      wroteLength = true;
      // the body may have changed (or been cut, RFC 3261 §18.3), so the length is always ours
      parts.push(
        h.raw !== undefined && Number(h.value) === contentLength ? h.raw : `Content-Length: ${contentLength}`,
      );
      continue;
    }
    parts.push(h.raw ?? `${displayName(h.name)}: ${h.value}`);
  }
  if (!wroteLength) parts.push(`Content-Length: ${contentLength}`);
  parts.push('', '');
  return parts.join('\r\n');
}

export function serialize(msg: SipMessage): Buffer {
  const head = serializeHead(msg);
  if (msg.body.length === 0) return Buffer.from(head, 'latin1');
  return withBody(head, msg.body, Buffer.allocUnsafe(head.length + msg.body.length));
}

/** The bytes of a message kept for long (a response resent for Timer J's 32 s): see kept.ts. */
export function serializeKept(msg: SipMessage): Buffer {
  const head = serializeHead(msg);
  return withBody(head, msg.body, keptBuffer(head.length + msg.body.length));
}

function withBody(head: string, body: Buffer, out: Buffer): Buffer {
  out.write(head, 0, 'latin1'); // one octet per char
  body.copy(out, head.length);
  return out;
}
