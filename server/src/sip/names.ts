// Header names: compact forms (RFC 3261 §7.3.3 and extensions), canonical spelling for
// headers we generate, and which headers may carry comma-separated lists (§7.3.1).

const COMPACT: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  rack: 'RAck',
  rseq: 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
};

/**
 * Headers whose grammar is `#element`, so several values may share one line separated by
 * commas. Everything else (notably WWW-Authenticate, Authorization, Date, Call-ID and the
 * unknown ones) is kept whole, since a comma there is part of the value.
 */
const LIST_HEADERS = new Set([
  'via',
  'contact',
  'route',
  'record-route',
  'path',
  'service-route',
  'allow',
  'supported',
  'require',
  'proxy-require',
  'unsupported',
  'accept',
  'accept-encoding',
  'accept-language',
  'allow-events',
  'content-encoding',
  'content-language',
  'in-reply-to',
  'alert-info',
  'call-info',
  'error-info',
  'warning',
  'reason',
  'accept-contact',
  'reject-contact',
  'request-disposition',
]);

const nameCache = new Map<string, string>();

/** The lowercase full name of a header as it appears on the wire, compact forms expanded. */
export function canonicalName(wireName: string): string {
  const cached = nameCache.get(wireName);
  if (cached !== undefined) return cached;
  const lower = wireName.toLowerCase();
  const name = COMPACT[lower] ?? lower;
  if (nameCache.size < 4096) nameCache.set(wireName, name);
  return name;
}

/** The canonical name of a spelling seen before as a valid name, else undefined: one lookup. */
export function knownName(wireName: string): string | undefined {
  return nameCache.get(wireName);
}

/** How we spell a header we write ourselves: `call-id` → `Call-ID`, `x-foo-bar` → `X-Foo-Bar`. */
export function displayName(name: string): string {
  const special = CANONICAL[name];
  if (special) return special;
  const seen = spellings.get(name);
  if (seen !== undefined) return seen;
  let out = '';
  let upper = true;
  for (const ch of name) {
    out += upper ? ch.toUpperCase() : ch;
    upper = ch === '-';
  }
  // the same few names are written on every response: spelled once
  if (spellings.size < 1024) spellings.set(name, out);
  return out;
}

const spellings = new Map<string, string>();

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(name);
}
