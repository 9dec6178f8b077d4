// Messages back to bytes. Headers that still carry their received line are written as they
// came, so a message passed on unchanged keeps what it carried; the rest are written with
// the canonical spelling of their name.
import type { SipMessage } from './message.js';
import { displayName } from './names.js';

export function serializeHead(msg: SipMessage, contentLength = msg.body.length): string {
  let out =
    msg.kind === 'request'
      ? `${msg.method} ${msg.uri} ${msg.version}\r\n`
      : `${msg.version} ${msg.status} ${msg.reason}\r\n`;
  let wroteLength = false;
  for (const h of msg.headers) {
    if (h.name === 'content-length') {
      if (wroteLength) continue;
      wroteLength = true;
      // the body may have changed (or been cut, RFC 3261 §18.3), so the length is always ours
      out +=
        h.raw !== undefined && Number(h.value) === contentLength
          ? `${h.raw}\r\n`
          : `Content-Length: ${contentLength}\r\n`;
      continue;
    }
    out += h.raw !== undefined ? `${h.raw}\r\n` : `${displayName(h.name)}: ${h.value}\r\n`;
  }
  if (!wroteLength) out += `Content-Length: ${contentLength}\r\n`;
  return `${out}\r\n`;
}

export function serialize(msg: SipMessage): Buffer {
  const head = serializeHead(msg);
  if (msg.body.length === 0) return Buffer.from(head, 'latin1');
  const headLen = Buffer.byteLength(head, 'latin1');
  const out = Buffer.allocUnsafe(headLen + msg.body.length);
  out.write(head, 0, 'latin1');
  msg.body.copy(out, headLen);
  return out;
}
