// The RFC 5118 IPv6 torture messages sent to the real CLI server listening on ::1 only, over
// UDP and TCP: each gets the answer its verdict calls for (NkSIP t22 torture_1..10), its
// responses carry the IPv6 received/rport of the sender, and the server keeps serving.
// The top Via's sent-by becomes our own [::1] socket; IPv6 literals elsewhere in the header
// section ::1 and IPv4 ones 127.0.0.1, so nothing can leave the machine.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningServer, startCli } from '../support/server-process.js';
import { sleep, TcpPeer, UdpPeer, until } from '../support/sip-peers.js';
import {
  ackFor,
  buildRequest,
  foreignAddresses,
  headerOf,
  headSection,
  rewriteForReplay,
  type Transport,
  type WireMessage,
} from '../support/sip-wire.js';

const DIR = join(ROOT, 'test/fixtures/sip-torture');

/** Whether ::1 can be bound here (containers without IPv6 cannot). */
const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = createSocket({ type: 'udp6', ipv6Only: true });
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => s.close(() => resolve(true)));
});

// the answers of a UAS with NkSIP's defaults, as in torture-replay.test.ts
const RFC5118: [string, number[], string?][] = [
  ['ipv6-good', [405]],
  ['ipv6-bad', [400], 'Bad Request-URI'],
  ['port-ambiguous', [405]],
  ['port-unambiguous', [405]],
  ['via-received-param-with-delim', [481]],
  ['via-received-param-no-delim', [200]],
  ['ipv6-in-sdp', [100, 603]],
  ['mult-ip-in-header', [481]],
  ['mult-ip-in-sdp', [100, 603]],
  ['ipv4-mapped-ipv6', [100, 603]],
  ['ipv6-bug-abnf-3-colons', [200]],
  ['ipv6-correct-abnf-2-colons', [200]],
];

let server: RunningServer | undefined;
let n = 0;

/** The fixture for loopback on ::1, with a Call-ID of its own (fixtures share theirs). */
function load(name: string, port: number, transport: Transport): Buffer {
  const text = rewriteForReplay(readFileSync(join(DIR, `${name}.dat`)), port, transport).toString('latin1');
  const suffix = `-v6-${++n}`;
  const out = text
    .replace(/(\r\nVia:[ \t]*SIP\/2\.0\/[A-Z]+[ \t]+)127\.0\.0\.1:/i, '$1[::1]:')
    .replace(/(\r\n(?:Call-ID|i)[ \t]*:[ \t]*)([^\r\n]+)/i, `$1$2${suffix}`);
  return Buffer.from(out, 'latin1');
}

const statuses = (ms: { status?: number }[]) => [...new Set(ms.map((m) => m.status ?? 0))].sort();

beforeAll(async () => {
  if (!hasIpv6) return;
  server = await startCli({ listen: ['sip:[::1]:0'], t1: 50, t4: 200, logLevel: 'info' });
});

afterAll(async () => {
  await server?.stop();
});

describe.skipIf(!hasIpv6)('RFC 5118 on a server listening on ::1 (skipped when ::1 is unavailable)', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    for (const [name, want, reason] of RFC5118) {
      it(`${name} over ${transport}`, async () => {
        const srv = server as RunningServer;
        const port = srv.port(transport, '[::1]');
        const peer = transport === 'udp' ? await UdpPeer.open('::1') : await TcpPeer.connect(port, '::1');
        try {
          const local = peer instanceof UdpPeer ? peer.port : peer.localPort;
          const data = load(name, local, transport);
          expect(foreignAddresses(headSection(data))).toEqual([]);
          if (peer instanceof UdpPeer) await peer.send(data, port);
          else await peer.write(data);
          await until(() => want.every((s) => peer.messages.some((m) => m.status === s)), 3000);
          await sleep(50);
          expect(statuses(peer.messages)).toEqual([...want].sort());
          const final = peer.messages.find((m) => (m.status ?? 0) >= 200);
          if (reason) expect(final?.reason).toBe(reason);
          if (final && want[0] !== 400) {
            // our IPv6 sent-by comes back as sent
            expect(headerOf(final, 'via')).toMatch(
              new RegExp(`^SIP/2\\.0/${transport} \\[::1\\]:${local}[;,]`, 'i'),
            );
          }
          const ruri = data.toString('latin1').split('\r\n')[0]?.split(' ')[1] ?? '';
          if (final && (final.status ?? 0) >= 300 && / INVITE$/.test(headerOf(final, 'cseq') ?? '')) {
            const ack = ackFor(ruri, final);
            if (peer instanceof UdpPeer) await peer.send(ack, port);
            else await peer.write(ack);
          }
        } finally {
          if (peer instanceof UdpPeer) await peer.close();
          else peer.close();
        }
      });
    }
  }

  it('received and rport for an IPv6 source whose Via names another address (t22 basic)', async () => {
    const srv = server as RunningServer;
    const peer = await UdpPeer.open('::1');
    try {
      const req = buildRequest({
        transport: 'udp',
        host: '[2001:db8::99]',
        port: 5099,
        callId: `rport-${++n}`,
      });
      await peer.send(req, srv.port('udp', '[::1]'));
      // answered to the source (received/rport), not to the sent-by of the Via
      const resp = await peer.waitFor((m) => m.status === 200, 3000);
      expect(headerOf(resp as WireMessage, 'via')).toBe(
        `SIP/2.0/UDP [2001:db8::99]:5099;rport=${peer.port};branch=z9hG4bK-rport-${n};received=::1`,
      );
    } finally {
      await peer.close();
    }
  });

  it('the server is still running', () => {
    expect(server?.proc.exitCode).toBeNull();
  });
});
