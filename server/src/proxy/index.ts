// The proxy service (RFC 3261 §16): what the entry layer wires into the UAS core.
export { bestResponse } from './best.js';
export type { LocalContact, LocalListener } from './local.js';
export { DEFAULT_TIMER_C, SipProxy, type SipProxyOptions } from './proxy.js';
