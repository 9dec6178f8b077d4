// Strings that are stored for long (a Timer J record, a registration, a sticky Call-ID). A
// header value is a slice of the whole received message text, and a key built by
// concatenation is a tree of such slices: stored as they are, either keeps a message text of
// some hundred bytes alive for as long as it is stored.

/** The key as one flat string: reading a character makes V8 flatten the tree in place. */
export function flat(s: string): string {
  if (s.charCodeAt(0) === -1) return '';
  return s;
}

/** A copy of `s` that holds nothing else alive (a slice keeps its parent; a copy does not). */
export function detached(s: string): string {
  return flat(` ${s}`).slice(1);
}
