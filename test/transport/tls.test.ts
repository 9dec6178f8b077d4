// TLS transport over loopback (RFC 3261 §26, sips:): listen and connect, Via TLS, answers on
// the connection, reuse; certificate verification on by default with a clear error; a wrong
// certificate and a plain TCP peer on the TLS port closed, counts back to zero, the listener
// still serving.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeResponse } from '../../server/src/sip/build.js';
import type { SipRequest } from '../../server/src/sip/message.js';
import { TransportManager, type TransportOptions } from '../../server/src/transport/manager.js';
import {
  cleanup,
  newManager,
  request,
  sleep,
  tcpClient,
  until,
} from '../../server/test/transport-helpers.js';
import { makeTestCerts, type TestCerts, tlsSettings } from '../support/certs.js';

const manager = (opts: TransportOptions = {}) => newManager((o) => new TransportManager(o), opts);

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.remove());

afterEach(async () => {
  await cleanup();
  await sleep(5);
  expect(process.getActiveResourcesInfo().filter((r) => /TCP|TLS/.test(r))).toEqual([]);
});

/** A TLS server (presenting `good`) and a client trusting it, both with a TLS listener. */
async function pair(clientOpts: TransportOptions = {}) {
  const server = await manager({ tls: tlsSettings(certs.good) });
  const port = await server.m.listen({ transport: 'tls', address: '127.0.0.1', port: 0 });
  const client = await manager({ tls: tlsSettings(certs.good, certs.good), ...clientOpts });
  const clientPort = await client.m.listen({ transport: 'tls', address: '127.0.0.1', port: 0 });
  return { server, port, client, clientPort };
}

describe('TLS', () => {
  it('carries a request with Via TLS, answers on its connection, reuses the connection', async () => {
    const { server, port, client, clientPort } = await pair();
    const target = { transport: 'tls' as const, address: '127.0.0.1', port };
    await client.m.sendRequest(request({ callId: 'tls-1' }), target);
    const inc = await server.inbox.next('request over TLS');
    expect(inc.source).toMatchObject({ transport: 'tls', address: '127.0.0.1', localPort: port });
    expect(inc.source.connectionId).toBeTypeOf('number');
    expect(inc.msg.header('via')).toMatch(
      new RegExp(`^SIP/2.0/TLS 127.0.0.1:${clientPort};branch=z9hG4bK-out;rport=\\d+;received=127.0.0.1$`),
    );
    await server.m.sendResponse(makeResponse(inc.msg as SipRequest, 200), inc.source);
    const resp = await client.inbox.next('response over TLS');
    expect(resp.msg.kind === 'response' && resp.msg.status).toBe(200);
    await client.m.sendRequest(request({ callId: 'tls-2' }), target);
    expect((await server.inbox.next('second request')).source.connectionId).toBe(inc.source.connectionId);
    expect(server.m.stats().connections).toBe(1);
    expect(client.m.stats().connections).toBe(1);
  });

  it('refuses a server whose certificate it does not trust: clear error, nothing left open', async () => {
    const server = await manager({ tls: tlsSettings(certs.good) });
    const port = await server.m.listen({ transport: 'tls', address: '127.0.0.1', port: 0 });
    // trusts `other` only: verification is on by default
    const client = await manager({ tls: tlsSettings(certs.other, certs.other) });
    await expect(
      client.m.sendRequest(request(), { transport: 'tls', address: '127.0.0.1', port }),
    ).rejects.toThrow(
      /connect to tls 127\.0\.0\.1:\d+ failed: certificate verification failed: .*SELF_SIGNED/,
    );
    await until(
      () => server.m.stats().connections === 0 && client.m.stats().connections === 0,
      'no connection',
    );
    // without any CA configured the system roots do not know it either
    const bare = await manager();
    await expect(
      bare.m.sendRequest(request(), { transport: 'tls', address: '127.0.0.1', port }),
    ).rejects.toThrow(/certificate verification failed/);
    // and the listener still serves a peer that trusts it
    const good = await manager({ tls: tlsSettings(certs.good, certs.good) });
    await good.m.sendRequest(request({ callId: 'after' }), { transport: 'tls', address: '127.0.0.1', port });
    expect((await server.inbox.next('request after the failures')).msg.callId).toBe('after');
  });

  it('checks the name the request was sent to against the certificate', async () => {
    const { port, client } = await pair();
    await expect(
      client.m.sendRequest(request(), {
        transport: 'tls',
        address: '127.0.0.1',
        port,
        serverName: 'sip.example.com',
      }),
    ).rejects.toThrow(/certificate verification failed: .*sip\.example\.com/);
    expect(client.m.stats().connections).toBe(0);
  });

  it('connects to an untrusted server when verification is off', async () => {
    const server = await manager({ tls: tlsSettings(certs.good) });
    const port = await server.m.listen({ transport: 'tls', address: '127.0.0.1', port: 0 });
    const client = await manager({ tls: { ...tlsSettings(certs.other), verify: false } });
    await client.m.sendRequest(request({ callId: 'noverify' }), {
      transport: 'tls',
      address: '127.0.0.1',
      port,
    });
    expect((await server.inbox.next('request')).msg.callId).toBe('noverify');
  });

  it('closes a plain TCP peer speaking SIP to the TLS port, and keeps serving', async () => {
    const { server, port, client } = await pair();
    const plain = await tcpClient(port);
    plain.socket.write(
      'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-p\r\nContent-Length: 0\r\n\r\n',
    );
    await plain.closed;
    expect(server.inbox.items).toEqual([]);
    expect(server.m.stats().connections).toBe(0);
    await client.m.sendRequest(request({ callId: 'still' }), {
      transport: 'tls',
      address: '127.0.0.1',
      port,
    });
    expect((await server.inbox.next('request after the plain peer')).msg.callId).toBe('still');
  });

  it('sends a request to a peer over the TLS connection that peer opened', async () => {
    const { server, port, client } = await pair();
    await client.m.sendRequest(request({ callId: 'in' }), { transport: 'tls', address: '127.0.0.1', port });
    const inc = await server.inbox.next('request');
    await server.m.sendRequest(request({ method: 'BYE' }), {
      transport: 'tls',
      address: inc.source.address,
      port: inc.source.port,
    });
    const bye = await client.inbox.next('BYE on the same connection');
    expect(bye.msg.kind === 'request' && bye.msg.method).toBe('BYE');
    expect(bye.source.connectionId).toBeTypeOf('number');
    expect(server.m.stats().connections).toBe(1);
  });

  it('refuses to listen on TLS without a certificate', async () => {
    const { m } = await manager();
    await expect(m.listen({ transport: 'tls', address: '127.0.0.1', port: 0 })).rejects.toThrow(
      /no TLS certificate configured/,
    );
    expect(m.stats().listeners).toBe(0);
  });

  it('close() ends TLS listeners and connections', async () => {
    const { server, port, client } = await pair();
    await client.m.sendRequest(request(), { transport: 'tls', address: '127.0.0.1', port });
    await server.inbox.next('request');
    await server.m.close();
    expect(server.m.stats()).toEqual({ listeners: 0, connections: 0 });
    await until(() => client.m.stats().connections === 0, 'client side closed');
    await expect(tcpClient(port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
