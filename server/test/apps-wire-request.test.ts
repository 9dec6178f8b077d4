// A callback's request written straight from the SIP message (wire-request.ts) must be byte
// for byte what requestToPb and the generated encoder make of it, for every request the
// stack lets through and for the malformed ones it would still pass on (torture corpus).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { requestToPb } from '../src/apps/convert.js';
import { WireRequest, wireRequest, writeRequest } from '../src/apps/wire-request.js';
import { Callback, CallbackKind, ConnectResponse } from '../src/gen/nksip/v1/service.js';
import { Request as PbRequest } from '../src/gen/nksip/v1/sip.js';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { parse, request, richInvite, source } from './support/transaction.js';

const TORTURE = join(import.meta.dirname, '../../test/fixtures/sip-torture');

/** Every request of the corpus the parser gives a message for (accepted or not by validation). */
function tortureRequests(): [string, SipRequest][] {
  const out: [string, SipRequest][] = [];
  for (const f of readdirSync(TORTURE).filter((n) => n.endsWith('.dat'))) {
    try {
      const m = parseMessage(readFileSync(join(TORTURE, f))).msg;
      if (m.kind === 'request') out.push([f, m]);
    } catch {
      // unparseable: never reaches an app
    }
  }
  return out;
}

function reference(req: SipRequest, withSource: boolean): Uint8Array {
  return PbRequest.encode(requestToPb(req, withSource ? source() : undefined)).finish();
}

function written(req: SipRequest, withSource: boolean): Uint8Array {
  const w = new BinaryWriter();
  writeRequest(w, req, withSource ? source() : undefined);
  return w.finish();
}

const TYPICAL = [
  [
    'REGISTER sip:127.0.0.1:5060 SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5198;branch=z9hG4bK-1-1-0',
    'Max-Forwards: 70',
    'From: <sip:user1@127.0.0.1>;tag=1SIPpTag001',
    'To: <sip:user1@127.0.0.1>',
    'Call-ID: 1-1@127.0.0.1',
    'CSeq: 1 REGISTER',
    'Contact: <sip:user1@127.0.0.1:5198;transport=UDP>;+sip.instance="<urn:uuid:1>";reg-id=1',
    'Expires: 3600',
    'Content-Length: 0',
    '',
    '',
  ],
  [
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKstar',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:a@example.com>',
    'Call-ID: star@x',
    'CSeq: 2 REGISTER',
    'Contact: *',
    'Expires: 0',
    'Max-Forwards: 0',
    'Content-Length: 0',
    '',
    '',
  ],
  [
    'MESSAGE tel:+1-201-555-0123;phone-context=example.com SIP/2.0',
    'Via: SIP/2.0/TCP client.example.com;branch=z9hG4bKtel',
    'From: sip:a@example.com;tag=2',
    'To: <tel:+1-201-555-0123>',
    'Call-ID: tel@x',
    'CSeq: 3 MESSAGE',
    'Route: "Proxy One" <sip:p1@proxy;lr>;x=1, sip:p2@proxy',
    'Content-Length: 0',
    '',
    '',
  ],
].map((lines) => parse(Buffer.from(lines.join('\r\n'), 'utf8').toString('latin1')) as SipRequest);

describe('writeRequest', () => {
  it('writes what requestToPb and the generated encoder make of typical requests', () => {
    for (const req of [
      ...TYPICAL,
      richInvite(),
      request({ method: 'OPTIONS' }),
      request({ method: 'BYE', toTag: 'x' }),
    ]) {
      for (const withSource of [true, false]) {
        expect(Buffer.from(written(req, withSource)), req.method).toEqual(
          Buffer.from(reference(req, withSource)),
        );
      }
    }
  });

  it('writes what requestToPb makes of every request of the torture corpus, malformed ones too', () => {
    const reqs = tortureRequests();
    expect(reqs.length).toBeGreaterThan(30);
    for (const [name, req] of reqs) {
      expect(Buffer.from(written(req, true)), name).toEqual(Buffer.from(reference(req, true)));
    }
  });
});

describe('WireRequest', () => {
  it('is written by the generated encoders wherever a message holds it', () => {
    const req = richInvite();
    const cb = (request: PbRequest) =>
      ConnectResponse.encode({
        msg: {
          $case: 'callback',
          value: Callback.fromPartial({ id: 7, kind: CallbackKind.CALLBACK_KIND_ROUTE, request }),
        },
      }).finish();
    expect(Buffer.from(cb(wireRequest(req, source())))).toEqual(Buffer.from(cb(requestToPb(req, source()))));
  });

  it('reads as the app will: its fields decode its own encoding', () => {
    const req = TYPICAL[0] as SipRequest;
    const w = wireRequest(req, source());
    expect(w).toBeInstanceOf(WireRequest);
    expect(w.method).toBe('REGISTER');
    expect(w.callId).toBe('1-1@127.0.0.1');
    expect(w.contacts[0]?.params.map((p) => p.name)).toEqual(['+sip.instance', 'reg-id']);
    expect(w.transport?.remoteIp).toBe('192.0.2.10');
    expect({ ...PbRequest.decode(PbRequest.encode(w).finish()) }).toEqual(
      PbRequest.decode(PbRequest.encode(requestToPb(req, source())).finish()),
    );
  });

  it('is the request as it was when the callback was made, whatever happens to it before it is sent', () => {
    const req = richInvite();
    const before = reference(req, true);
    const w = wireRequest(req, source());
    req.addHeader('X-Later', 'changed').prependHeader('Route', '<sip:later@proxy;lr>');
    req.uri = 'sip:someone-else@example.com';
    expect(Buffer.from(PbRequest.encode(w).finish())).toEqual(Buffer.from(before));
    expect(w.headers.some((h) => h.name === 'x-later')).toBe(false);
  });

  it('plain Request objects still go through the generated encoder', () => {
    const plain = PbRequest.fromPartial({ method: 'OPTIONS', callId: 'c' });
    expect(PbRequest.decode(PbRequest.encode(plain).finish())).toEqual(plain);
  });
});
