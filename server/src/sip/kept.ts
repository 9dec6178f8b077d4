// Bytes stored for long (a response resent for Timer J's 32 s, the body of an INVITE kept for
// Timer L's). A slice of a received datagram keeps the whole datagram; a small buffer from
// Node's pool keeps its 8 KB slab, shared with the messages of the moment; a buffer of its own
// costs an allocation and some hundred bytes more each. So they share slabs of their own:
// kept bytes are let go about in the order they were made, and a slab empties as a whole.

const SLAB = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let offset = 0;

/** Room for `size` bytes to keep; the caller fills it. */
export function keptBuffer(size: number): Buffer {
  if (size > SLAB / 8) return Buffer.allocUnsafeSlow(size);
  if (offset + size > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    offset = 0;
  }
  const out = slab.subarray(offset, offset + size);
  offset += (size + 7) & ~7;
  return out;
}

/** A copy of `bytes` to keep. */
export function keptCopy(bytes: Buffer): Buffer {
  const out = keptBuffer(bytes.length);
  bytes.copy(out);
  return out;
}
