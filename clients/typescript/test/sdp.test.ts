// The SDK's SDP helpers: a new offer, an answer to it, version increments, directions.
import { describe, expect, it } from 'vitest';
import { answerSdp, incrementSdp, newSdp, sdpDirection, sdpVersion, setSdpDirection } from '../src/index.js';

describe('SDP helpers', () => {
  it('builds an offer and an answer with the same media in order', () => {
    const offer = newSdp({
      host: '10.0.0.1',
      sessionId: 42,
      media: [
        { port: 5000, formats: [0, 8] },
        { media: 'video', port: 5002, formats: [31], direction: 'sendonly' },
      ],
    });
    expect(offer).toContain('o=- 42 42 IN IP4 10.0.0.1\r\n');
    expect(offer).toContain(
      'm=audio 5000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n',
    );
    const ans = answerSdp(offer, { host: '10.0.0.2', port: 7000, formats: [8, 31] });
    expect(ans).toContain('c=IN IP4 10.0.0.2\r\n');
    expect(ans).toContain('m=audio 7000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n');
    // sendonly offered: recvonly answered
    expect(ans).toContain('m=video 7002 RTP/AVP 31\r\na=recvonly\r\n');
    // nothing acceptable: the stream is refused with port 0
    expect(answerSdp(offer, { formats: [18] })).toContain('m=audio 0 RTP/AVP 0\r\n');
  });

  it('increments the version and sets directions, keeping the other lines', () => {
    const offer = newSdp({ sessionId: 7, media: [{ port: 1 }, { port: 3 }] });
    const next = incrementSdp(offer);
    expect(sdpVersion(offer)).toBe('7');
    expect(sdpVersion(next)).toBe('8');
    expect(next.replace(/o=.*\r\n/, '')).toBe(offer.replace(/o=.*\r\n/, ''));
    const held = setSdpDirection(next, 'sendonly');
    expect(held.match(/a=sendonly/g)).toHaveLength(2);
    expect(held).not.toContain('a=sendrecv');
    expect(sdpDirection(held)).toBe('sendonly');
    expect(sdpDirection(setSdpDirection(held, 'inactive'))).toBe('inactive');
    expect(() => incrementSdp('v=0\r\no=bad\r\n')).toThrow(TypeError);
  });
});
