// Flow tokens (RFC 5626 §5.2 style) naming a WebSocket client's connection in our Route and
// Record-Route URIs: they round-trip, anything else is not a flow, and an `lr` URI of ours
// gets one as its user part.
import { describe, expect, it } from 'vitest';
import { flowToken, needsFlowToken, parseFlowToken, withFlowUser } from '../../server/src/transport/flow.js';

describe('flow tokens', () => {
  it('round-trip transport, address (IPv6 too) and port in a user-part-safe token', () => {
    for (const flow of [
      { transport: 'ws' as const, address: '127.0.0.1', port: 54321 },
      { transport: 'wss' as const, address: '::1', port: 8443 },
    ]) {
      const token = flowToken(flow);
      expect(token).toMatch(/^nkf-[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(parseFlowToken(token)).toEqual(flow);
    }
  });

  it('are ours only: a token without our MAC, or with another flow under it, is none', () => {
    const good = flowToken({ transport: 'ws', address: '127.0.0.1', port: 54321 });
    const [, sig] = good.split('.');
    const forged = `nkf-${Buffer.from('ws|127.0.0.1|54322').toString('base64url')}`;
    for (const user of [forged, `${forged}.${sig}`, `${good.split('.')[0]}.`, `${good}x`]) {
      expect(parseFlowToken(user)).toBeUndefined();
    }
    expect(parseFlowToken(good)).toEqual({ transport: 'ws', address: '127.0.0.1', port: 54321 });
  });

  it('are not read from other user parts, or from tokens with a bad transport or port', () => {
    const bad = (raw: string) => `nkf-${Buffer.from(raw).toString('base64url')}`;
    for (const user of [
      undefined,
      'alice',
      'nkf-',
      bad('udp|1.2.3.4|5060'),
      bad('ws|1.2.3.4|0'),
      bad('ws||80'),
    ]) {
      expect(parseFlowToken(user)).toBeUndefined();
    }
  });

  it('go into our lr URIs as the user part; only WebSocket peers need them', () => {
    expect(withFlowUser('<sip:127.0.0.1:8080;transport=ws;lr>', 'nkf-x')).toBe(
      '<sip:nkf-x@127.0.0.1:8080;transport=ws;lr>',
    );
    expect([
      needsFlowToken('ws'),
      needsFlowToken('wss'),
      needsFlowToken('tcp'),
      needsFlowToken('udp'),
    ]).toEqual([true, true, false, false]);
  });
});
