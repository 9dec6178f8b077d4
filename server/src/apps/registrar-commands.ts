// RegistrarCommands from an app instance (NkSIP's nksip_registrar find / qfind / delete /
// clear): answered from the app's own registrar, the one its registrar plugin created.
import {
  RegistrarCommand_Op as Op,
  type RegistrarCommand,
  type RegistrarResult,
} from '../gen/nksip/v1/service.js';
import type { Registrar } from '../registrar/index.js';
import { isSipUri, parseUri } from '../sip/uri.js';

function result(id: number, extra: Partial<RegistrarResult> = {}): RegistrarResult {
  return { id, uris: [], uriSet: [], deleted: false, error: '', ...extra };
}

/** The AOR as a URI the registrar keys on, or why it is not one. */
function checkAor(aor: string): string | undefined {
  let u: ReturnType<typeof parseUri>;
  try {
    u = parseUri(aor.trim().replace(/^<(.*)>$/, '$1'));
  } catch {
    return `invalid AOR ${JSON.stringify(aor)}`;
  }
  return isSipUri(u) ? undefined : `AOR ${JSON.stringify(aor)} is not a sip or sips URI`;
}

/** Runs one command; never throws (a failure is the result's `error`). */
export async function registrarCommand(
  registrar: Registrar | undefined,
  cmd: RegistrarCommand,
): Promise<RegistrarResult> {
  if (!registrar) return result(cmd.id, { error: 'this app has no registrar: enable the registrar plugin' });
  try {
    if (cmd.op === Op.OP_CLEAR) {
      await registrar.clear();
      return result(cmd.id);
    }
    if (cmd.op !== Op.OP_FIND && cmd.op !== Op.OP_QFIND && cmd.op !== Op.OP_DELETE) {
      return result(cmd.id, { error: `unknown registrar op ${cmd.op}` });
    }
    const bad = checkAor(cmd.aor);
    if (bad) return result(cmd.id, { error: bad });
    const aor = cmd.aor.trim().replace(/^<(.*)>$/, '$1');
    if (cmd.op === Op.OP_DELETE) {
      const contact = cmd.contact.trim().replace(/^<(.*)>$/, '$1');
      return result(cmd.id, { deleted: await registrar.delete(aor, contact === '' ? undefined : contact) });
    }
    const set = await registrar.qfind(aor);
    if (cmd.op === Op.OP_FIND) return result(cmd.id, { uris: set.flat() });
    return result(cmd.id, { uriSet: set.map((uris) => ({ uris })) });
  } catch (err) {
    return result(cmd.id, { error: `registrar failed: ${(err as Error).message}` });
  }
}
