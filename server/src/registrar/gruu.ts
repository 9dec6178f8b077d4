// GRUUs (RFC 5627) as the registrar issues and resolves them. Pure functions, no store.
//
// - The public GRUU is the AOR with `;gr=<instance URN>` (§3.1): anyone may know it.
// - A temporary GRUU is `sip:<opaque>@<AOR host>;gr` (§3.2). It must not reveal the AOR or
//   the instance, and must not be forgeable: the opaque part is the AOR, the instance and the
//   binding's GRUU epoch sealed with AES-256-GCM under a key of the registrar (a random one
//   per process unless configured), with a fresh IV each time, so each REGISTER gets a new
//   one. It resolves while a binding of that instance carries the same epoch: the epoch
//   stays while the instance refreshes under one Call-ID and is renewed when the Call-ID
//   changes or the binding goes (§5.4: earlier temporary GRUUs are then invalid).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { getParam } from '../sip/grammar.js';
import { aorOf, formatUri, isSipUri, parseUri, type SipUri, type Uri } from '../sip/uri.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEP = '\u0001';

/** A fresh key for sealing temporary GRUUs (32 bytes). */
export function newGruuKey(): Buffer {
  return randomBytes(32);
}

/** A fresh GRUU epoch for a binding (opaque, stored with it). */
export function newGruuEpoch(): string {
  return randomBytes(9).toString('base64url');
}

/** `<urn:uuid:...>` (as stored) → `urn:uuid:...`, the `gr` parameter value. */
export function instanceUrn(instance: string): string {
  return instance.replace(/^<(.*)>$/, '$1');
}

/** Instance IDs compare as URNs do: case-insensitively here (urn:uuid is hex). */
export function sameInstance(a: string, b: string): boolean {
  return instanceUrn(a).toLowerCase() === instanceUrn(b).toLowerCase();
}

/** The public GRUU of `instance` under the AOR URI `aor` (its scheme, user and host). */
export function pubGruu(aor: SipUri, instance: string): string {
  const base: SipUri = {
    scheme: aor.scheme,
    host: aor.host,
    params: [['gr', instanceUrn(instance)]],
    headers: [],
  };
  if (aor.user !== undefined) base.user = aor.user;
  return formatUri(base);
}

/** A new temporary GRUU for the AOR URI `aor`, `instance` and the binding's `epoch`. */
export function tempGruu(key: Buffer, aor: SipUri, instance: string, epoch: string): string {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update([aorOf(aor), instance, epoch].join(SEP), 'utf8'), c.final()]);
  const user = Buffer.concat([iv, body, c.getAuthTag()]).toString('base64url');
  return formatUri({ scheme: aor.scheme, user, host: aor.host, params: [['gr', null]], headers: [] });
}

export type GruuRef =
  | { kind: 'pub'; aor: string; instance: string }
  | { kind: 'temp'; aor: string; instance: string; epoch: string };

/**
 * What a URI names when it is a GRUU of ours: a public one (`gr=<urn>`) or a temporary one
 * (`gr` without a value and an opaque part we sealed). Undefined otherwise, a `gr` without a
 * value on a user part we did not seal included (looked up as a plain AOR, as NkSIP does).
 */
export function parseGruu(key: Buffer, uri: string | Uri): GruuRef | undefined {
  let u: Uri;
  try {
    u = typeof uri === 'string' ? parseUri(uri.trim()) : uri;
  } catch {
    return undefined;
  }
  if (!isSipUri(u)) return undefined;
  const gr = getParam(u.params, 'gr');
  if (gr === undefined) return undefined;
  if (typeof gr === 'string' && gr !== '') return { kind: 'pub', aor: aorOf(u), instance: `<${gr}>` };
  const sealed = unseal(key, u.user);
  if (!sealed) return undefined;
  return { kind: 'temp', ...sealed };
}

function unseal(
  key: Buffer,
  user: string | undefined,
): { aor: string; instance: string; epoch: string } | undefined {
  if (user === undefined || !/^[A-Za-z0-9_-]+$/.test(user)) return undefined;
  const raw = Buffer.from(user, 'base64url');
  if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    d.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const text = Buffer.concat([
      d.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
      d.final(),
    ]).toString('utf8');
    const [aor, instance, epoch, ...rest] = text.split(SEP);
    if (aor === undefined || instance === undefined || epoch === undefined || rest.length > 0)
      return undefined;
    return { aor, instance, epoch };
  } catch {
    return undefined;
  }
}
