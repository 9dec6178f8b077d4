// The built-in app when no SipApp claims a request: every request is processed here and
// gets NkSIP's default answer (reference §4). The registrar and PBX routing come later.
import type { SipRequest } from '../sip/message.js';
import type { Source } from '../transport/types.js';
import type { AppHandler } from './app.js';
import { PROCESS } from './decision.js';
import type { Reply } from './reply.js';
import { defaultReply, type UasProfile } from './uas-checks.js';

export function defaultApp(profile: (source: Source) => UasProfile): AppHandler {
  return {
    route: () => PROCESS,
    method: (req: SipRequest, source: Source): Reply =>
      defaultReply(req, profile(source)) ?? { status: 500, reason: 'No Answer' },
  };
}
