// The transaction layer's public face for the cores.
export { ClientInviteTransaction } from './client-invite.js';
export { ClientNonInviteTransaction } from './client-non-invite.js';
export { type Clock, FakeClock, realClock, type TimerHandle } from './clock.js';
export {
  type ClientTransaction,
  type ServerTransaction,
  TransactionLayer,
  type TransactionLayerOptions,
} from './layer.js';
export { ServerInviteTransaction } from './server-invite.js';
export { ServerNonInviteTransaction } from './server-non-invite.js';
export { DEFAULT_TIMERS, type TimerConfig } from './timers.js';
export type { ClientHandler, ServerFailure, ServerTxn, TransactionUser, TxnState } from './types.js';
