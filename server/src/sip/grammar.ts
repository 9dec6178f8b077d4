// Lexical pieces of the RFC 3261 grammar (§25.1) shared by the header parsers.
// Header text is held as "binary" (latin1) strings, one char per octet, so that bytes
// survive a parse/serialise round trip exactly; see `message.ts`.

/** A parameter as received: name case kept, `null` value for a bare flag (`;lr`). */
export type Param = [name: string, value: string | null];

export class SipSyntaxError extends Error {
  override name = 'SipSyntaxError';
}

const TOKEN = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") {
  TOKEN[c.charCodeAt(0)] = 1;
}

export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

export function isWs(code: number): boolean {
  return code === 32 || code === 9 || code === 13 || code === 10;
}

/** Index just past the quoted string that starts at `start` (which must be a `"`), or -1. */
export function skipQuoted(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 /* \ */) {
      i++;
    } else if (c === 34 /* " */) {
      return i + 1;
    }
  }
  return -1;
}

/** Removes the quotes and quoted-pair escapes of a quoted-string. */
export function unquote(s: string): string {
  if (s.length < 2 || s[0] !== '"' || s[s.length - 1] !== '"') return s;
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    if (s[i] === '\\' && i + 1 < s.length - 1) i++;
    out += s[i];
  }
  return out;
}

export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (m) => `\\${m}`)}"`;
}

/**
 * Splits a header value at top-level commas: not inside a quoted string or `<...>`.
 * Throws on an unterminated quote or angle bracket.
 */
export function splitTopLevel(value: string, sep = 44 /* , */): string[] {
  const out: string[] = [];
  let start = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34) {
      const end = skipQuoted(value, i);
      if (end < 0) throw new SipSyntaxError('unterminated quoted string');
      i = end - 1;
    } else if (c === 60 /* < */) {
      angle = true;
    } else if (c === 62 /* > */) {
      angle = false;
    } else if (c === sep && !angle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (angle) throw new SipSyntaxError('unterminated <');
  out.push(value.slice(start).trim());
  return out;
}

/**
 * Parses `;name=value;flag` parameters (the leading `;` included) with LWS allowed around
 * the separators. Values may be tokens, quoted strings or bracketed IPv6 references.
 */
export function parseParams(s: string): Param[] {
  if (s.includes('"') || s.includes('<')) return paramsOfParts(splitTopLevel(s, 59 /* ; */));
  // without quotes or brackets every ';' separates: one pass over the text, no split arrays
  const params: Param[] = [];
  let semi = s.indexOf(';');
  const lead = trimmedSlice(s, 0, semi < 0 ? s.length : semi);
  if (lead !== '') throw new SipSyntaxError(`unexpected text before parameters: ${lead}`);
  while (semi >= 0) {
    const a = semi + 1;
    semi = s.indexOf(';', a);
    params.push(paramOf(trimmedSlice(s, a, semi < 0 ? s.length : semi)));
  }
  return params;
}

/**
 * The parameters of a value already split at its top-level `;` and trimmed (the first part,
 * before any `;`, must be empty): what parseParams does with quoted or bracketed values.
 */
export function paramsOfParts(parts: readonly string[]): Param[] {
  if (parts[0] !== '') throw new SipSyntaxError(`unexpected text before parameters: ${parts[0]}`);
  const params: Param[] = [];
  for (let i = 1; i < parts.length; i++) params.push(paramOf(parts[i] as string));
  return params;
}

/** One trimmed `name=value` or `flag`. */
function paramOf(part: string): Param {
  if (part === '') throw new SipSyntaxError('empty parameter');
  const eq = part.indexOf('=');
  return eq < 0 ? flagParam(part) : valueParam(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
}

function flagParam(part: string): Param {
  if (!isToken(part)) throw new SipSyntaxError(`bad parameter ${part}`);
  return [part, null];
}

function valueParam(name: string, value: string): Param {
  if (!isToken(name)) throw new SipSyntaxError(`bad parameter name ${name}`);
  if (value === '') throw new SipSyntaxError(`empty value for parameter ${name}`);
  if (value[0] === '"') {
    if (skipQuoted(value, 0) !== value.length) throw new SipSyntaxError(`bad quoted value for ${name}`);
  } else if (value[0] === '[') {
    if (!/^\[[0-9a-fA-F:.]+\]$/.test(value)) throw new SipSyntaxError(`bad value for ${name}`);
  } else if (!isParamValue(value)) {
    throw new SipSyntaxError(`bad value for parameter ${name}`);
  }
  return [name, value];
}

/** The characters String.prototype.trim removes that a binary (latin1) string can hold. */
function isTrimmed(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

/** `s.slice(a, b).trim()` without the untrimmed slice. */
function trimmedSlice(s: string, a: number, b: number): string {
  while (a < b && isTrimmed(s.charCodeAt(a))) a++;
  while (b > a && isTrimmed(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

function isParamValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    // token chars plus ':' so unbracketed IPv6 `received=2001:db8::9` stays legal (RFC 5118 §4.5)
    if (!isTokenChar(c) && c !== 58 && c < 128) return false;
  }
  return true;
}

export function getParam(params: readonly Param[], name: string): string | null | undefined {
  for (const [n, v] of params) if (n.length === name.length && n.toLowerCase() === name) return v;
  return undefined;
}

export function hasParam(params: readonly Param[], name: string): boolean {
  return getParam(params, name) !== undefined;
}

/** Returns a copy with `name` set to `value` (replacing any previous one, keeping its place). */
export function setParam(params: readonly Param[], name: string, value: string | null): Param[] {
  const out: Param[] = [];
  let done = false;
  for (const p of params) {
    if (p[0].toLowerCase() === name) {
      if (!done) out.push([p[0], value]);
      done = true;
    } else {
      out.push(p);
    }
  }
  if (!done) out.push([name, value]);
  return out;
}

export function removeParam(params: readonly Param[], name: string): Param[] {
  return params.filter((p) => p[0].toLowerCase() !== name);
}

export function formatParams(params: readonly Param[]): string {
  let out = '';
  for (const [n, v] of params) out += v === null ? `;${n}` : `;${n}=${v}`;
  return out;
}

/** Decodes %HH escapes once (no recursive unescaping, RFC 4475 §3.1.1.3). */
export function unescapeUri(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** Parses a non-negative decimal that must fit in 32 bits; leading zeros are fine. */
export function parseUint32(s: string): number | undefined {
  if (!/^[0-9]{1,40}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}
