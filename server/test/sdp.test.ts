// SDP parse and serialise (sip/sdp.ts): lines kept in order, several m= sections, the o=
// version incremented, directions set, and malformed bodies refused.
import { describe, expect, it } from 'vitest';
import {
  directionOf,
  formatSdp,
  incrementVersion,
  isSdpType,
  parseSdp,
  SdpError,
  setDirection,
  trySdp,
} from '../src/sip/sdp.js';

const OFFER = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com',
  's=-',
  'c=IN IP4 host.atlanta.example.com',
  't=0 0',
  'x-unknown=kept',
  'a=tool:test',
  'm=audio 49170 RTP/AVP 0 8 97',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:97 iLBC/8000',
  'a=sendrecv',
  'm=video 51372/2 RTP/AVP 31 32',
  'b=AS:256',
  'a=rtpmap:31 H261/90000',
  '',
].join('\r\n');

describe('SDP', () => {
  it('parses the origin, session lines and every media section', () => {
    const sdp = parseSdp(OFFER.replace('x-unknown=kept\r\n', ''));
    expect(sdp.origin).toEqual({
      username: 'alice',
      sessionId: '2890844526',
      sessionVersion: '2890844526',
      netType: 'IN',
      addrType: 'IP4',
      address: 'host.atlanta.example.com',
    });
    expect(sdp.sessionName).toBe('-');
    expect(sdp.lines.map((l) => l.type)).toEqual(['c', 't', 'a']);
    expect(sdp.media.map((m) => [m.media, m.port, m.portCount, m.proto, m.formats])).toEqual([
      ['audio', 49170, undefined, 'RTP/AVP', ['0', '8', '97']],
      ['video', 51372, 2, 'RTP/AVP', ['31', '32']],
    ]);
    expect(sdp.media[1]?.lines).toEqual([
      { type: 'b', value: 'AS:256' },
      { type: 'a', value: 'rtpmap:31 H261/90000' },
    ]);
  });

  it('serialises back to the same text (unknown single-letter lines kept in place)', () => {
    const text = OFFER.replace('x-unknown=kept', 'k=prompt');
    expect(formatSdp(parseSdp(text))).toBe(text);
    // LF-only input comes back CRLF
    expect(formatSdp(parseSdp(text.replace(/\r\n/g, '\n')))).toBe(text);
  });

  it('increments the o= version, beyond 2^53 too, without touching the original', () => {
    const sdp = parseSdp(OFFER.replace('x-unknown=kept\r\n', ''));
    const next = incrementVersion(sdp);
    expect(next.origin.sessionVersion).toBe('2890844527');
    expect(sdp.origin.sessionVersion).toBe('2890844526');
    const big = parseSdp(formatSdp(sdp).replace('2890844526 2890844526', '1 9007199254740993'));
    expect(incrementVersion(big).origin.sessionVersion).toBe('9007199254740994');
  });

  it('reads and sets directions per media section', () => {
    const sdp = parseSdp(OFFER.replace('x-unknown=kept\r\n', ''));
    expect(directionOf(sdp, 0)).toBe('sendrecv');
    expect(directionOf(sdp, 1)).toBe('sendrecv');
    const held = setDirection(sdp, 'sendonly');
    expect(directionOf(held, 0)).toBe('sendonly');
    expect(directionOf(held, 1)).toBe('sendonly');
    const text = formatSdp(held);
    expect(text.match(/a=sendonly/g)).toHaveLength(2);
    expect(text).not.toContain('a=sendrecv');
    expect(directionOf(setDirection(held, 'inactive'), 0)).toBe('inactive');
    // a session-level direction applies to media without their own
    const session = parseSdp(
      'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\na=recvonly\r\nm=audio 1 RTP/AVP 0\r\n',
    );
    expect(directionOf(session, 0)).toBe('recvonly');
  });

  it('refuses malformed bodies', () => {
    const bad = [
      '',
      'hello world',
      'v=1\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n',
      'v=0\r\ns=-\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n',
      'v=0\r\no=- x 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n',
      'v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n',
      'v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\n',
      'v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n',
      'v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=audio port RTP/AVP 0\r\n',
      'v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nmedia line\r\n',
    ];
    for (const b of bad) {
      expect(() => parseSdp(b), JSON.stringify(b)).toThrow(SdpError);
      expect(trySdp(b)).toBeUndefined();
    }
  });

  it('knows its content type', () => {
    expect(isSdpType('application/sdp')).toBe(true);
    expect(isSdpType('Application/SDP; charset=utf-8')).toBe(true);
    expect(isSdpType('text/plain')).toBe(false);
    expect(isSdpType(undefined)).toBe(false);
  });
});
