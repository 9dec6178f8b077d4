// The read-only views a callback gets of the protobuf Request: URIs and addresses with their
// parameter lookups, the tag, and the body as the exact bytes.
import { describe, expect, it } from 'vitest';
import { SipRequest } from '../src/message.js';
import { Request } from '../src/pb.js';

const uri = (user: string, params: [string, string][] = []) => ({
  raw: `sip:${user}@example.com`,
  scheme: 'sip',
  user,
  host: 'example.com',
  port: 0,
  params: params.map(([name, value]) => ({ name, value })),
  headers: [],
});

describe('SipRequest views', () => {
  it('read URIs, addresses, tags and the body of the protobuf request', () => {
    const body = Buffer.from('v=0\r\n');
    // the body arrives as a view into a larger decoded message
    const frame = Buffer.concat([Buffer.from('xx'), body, Buffer.from('yy')]);
    const pb = Request.fromPartial({
      method: 'INVITE',
      ruri: uri('bob', [
        ['transport', 'tcp'],
        ['lr', ''],
      ]),
      from: {
        raw: '"A" <sip:a@example.com>;tag=t1',
        displayName: 'A',
        uri: uri('a'),
        params: [{ name: 'tag', value: 't1' }],
      },
      to: { raw: '<sip:bob@example.com>', displayName: '', uri: uri('bob'), params: [] },
      routes: [{ raw: '<sip:p.example.com;lr>', displayName: '', uri: uri('p', [['lr', '']]), params: [] }],
      body: frame.subarray(2, 2 + body.length),
    });
    const req = new SipRequest(pb);
    expect(req.ruri.user).toBe('bob');
    expect(req.ruri.param('TRANSPORT')).toBe('tcp');
    expect(req.ruri.param('lr')).toBe('');
    expect(req.ruri.param('maddr')).toBeUndefined();
    expect(req.from.tag).toBe('t1');
    expect(req.from.param('tag')).toBe('t1');
    expect(req.from.uri.user).toBe('a');
    expect(req.to.tag).toBe('');
    expect(req.to.uri.param('x')).toBeUndefined();
    expect(req.routes.map((r) => r.uri.param('lr'))).toEqual(['']);
    expect(req.contacts).toEqual([]);
    expect(req.body.equals(body)).toBe(true);
    expect(req.text).toBe('v=0\r\n');
    // absent addresses read as empty, never throw
    const bare = new SipRequest(Request.fromPartial({ method: 'OPTIONS' }));
    expect(bare.from.uri.param('x')).toBeUndefined();
    expect(bare.ruri.host).toBe('');
    expect(bare.body.length).toBe(0);
  });
});
