// Bad input against the real CLI server on 127.0.0.1: truncated, oversized, random and
// mangled messages over UDP, garbage and hostile streams over TCP. For each, the server
// answers what can be answered (400 naming the fault where a Via is readable), drops the
// rest, and answers the next valid OPTIONS with 200. Inputs come from a seeded PRNG, so a
// failure reproduces; every wait has a deadline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startCli } from '../support/server-process.js';
import { sleep, TcpPeer, UdpPeer } from '../support/sip-peers.js';
import { ackFor, buildRequest, headerOf, prng, type WireMessage } from '../support/sip-wire.js';

const IDLE = 2;
const ANSWER_MS = 2000;
const GRACE_MS = 5;

let server: RunningServer;
let udp: UdpPeer;
let seq = 0;

beforeAll(async () => {
  server = await startCli({ t1: 50, t2: 400, t4: 200, tcpIdleTimeout: IDLE, logLevel: 'info' });
  udp = await UdpPeer.open('127.0.0.1');
});

afterAll(async () => {
  await udp?.close();
  await server?.stop();
});

const isProbe = (m: WireMessage) => headerOf(m, 'call-id')?.startsWith('probe-') === true;
const statuses = (msgs: WireMessage[]) => msgs.map((m) => m.status ?? -1);

/** UDP retransmissions of one response count once. */
function dedupe(msgs: WireMessage[]): WireMessage[] {
  const seen = new Set<string>();
  return msgs.filter((m) => {
    const key = [m.status, m.reason, headerOf(m, 'call-id'), headerOf(m, 'cseq')].join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function probeOn(peer: UdpPeer | TcpPeer): Promise<number | undefined> {
  const callId = `probe-${++seq}`;
  const transport = peer instanceof UdpPeer ? 'udp' : 'tcp';
  const port = peer instanceof UdpPeer ? peer.port : peer.localPort;
  const req = buildRequest({ transport, port, callId });
  const from = peer.messages.length;
  if (peer instanceof UdpPeer) await peer.send(req, server.port('udp'));
  else await peer.write(req);
  return (await peer.waitFor((m) => headerOf(m, 'call-id') === callId, ANSWER_MS, from))?.status;
}

/** A valid OPTIONS on a new TCP connection gets 200. */
async function probeTcp(): Promise<number | undefined> {
  const conn = await TcpPeer.connect(server.port('tcp'));
  try {
    return await probeOn(conn);
  } finally {
    conn.close();
  }
}

/**
 * Sends one datagram from the shared UDP socket, then a valid OPTIONS that must get 200; the
 * OPTIONS answer is the barrier after which every answer to the datagram has arrived. With
 * `answered`, waits first for an answer to the datagram. Returns the datagram's answers.
 */
async function datagram(data: Buffer, answered = false): Promise<WireMessage[]> {
  const from = udp.messages.length;
  await udp.send(data, server.port('udp'));
  if (answered) await udp.waitFor((m) => !isProbe(m), ANSWER_MS, from);
  expect(await probeOn(udp)).toBe(200);
  await sleep(GRACE_MS);
  return dedupe(udp.messages.slice(from).filter((m) => !isProbe(m)));
}

/** Request text with our Via (sent-by = the shared UDP socket, or `port`), CRLF line ends. */
function request(lines: string[], body = '', port = udp.port, transport = 'UDP'): Buffer {
  const text = lines
    .map((l) => l.replace('VIA', `Via: SIP/2.0/${transport} 127.0.0.1:${port};rport`))
    .join('\r\n');
  return Buffer.from(`${text}\r\n\r\n${body}`, 'latin1');
}

/**
 * An OPTIONS to build later for a given socket; the Call-ID gets the transport appended, so
 * the UDP and TCP copies are never one merged request (RFC 3261 §8.2.2.2, 482).
 */
function options(name: string, opts: { start?: string; extra?: string[]; cl?: string; body?: string } = {}) {
  const body = opts.body ?? '';
  return (port = udp.port, transport = 'UDP') => {
    const callId = `${name}-${transport.toLowerCase()}`;
    return request(
      [
        opts.start ?? 'OPTIONS sip:nksip@127.0.0.1 SIP/2.0',
        `VIA;branch=z9hG4bK-${callId}`,
        'Max-Forwards: 70',
        `From: <sip:fuzz@127.0.0.1>;tag=f-${callId}`,
        'To: <sip:nksip@127.0.0.1>',
        `Call-ID: ${callId}`,
        'CSeq: 1 OPTIONS',
        ...(opts.extra ?? []),
        `Content-Length: ${opts.cl ?? Buffer.byteLength(body, 'latin1')}`,
      ],
      body,
      port,
      transport,
    );
  };
}

const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

/** A valid INVITE whose Content-Length comes right after the Via, so any cut body shows. */
function invite(callId: string, port = udp.port, transport = 'UDP'): { data: Buffer; via: string } {
  const via = `Via: SIP/2.0/${transport} 127.0.0.1:${port};rport;branch=z9hG4bK-${callId}`;
  const data = Buffer.from(
    [
      'INVITE sip:nksip@127.0.0.1 SIP/2.0',
      via,
      `Content-Length: ${SDP.length}`,
      'Max-Forwards: 70',
      `From: "Fuzz" <sip:fuzz@127.0.0.1>;tag=f-${callId}`,
      'To: <sip:nksip@127.0.0.1>',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      'Contact: <sip:fuzz@127.0.0.1>',
      'Content-Type: application/sdp',
      '',
      SDP,
    ].join('\r\n'),
    'latin1',
  );
  return { data, via };
}

/** A 400 that names what is wrong (not the bare default phrase). */
function expectNamed400(m: WireMessage | undefined, what: string): void {
  expect([what, m?.status]).toEqual([what, 400]);
  expect(m?.reason).toMatch(/\S/);
  expect(m?.reason).not.toBe('Bad Request');
}

describe('UDP', () => {
  it('every prefix of a valid INVITE (step 7): 400 once the Via is readable, never a crash', async () => {
    const { data, via } = invite('prefix');
    const viaEnd = data.indexOf(`${via}\r\n`) + via.length + 2;
    const lengths: number[] = [];
    for (let n = 1; n < data.length; n += 7) lengths.push(n);
    for (const n of lengths) {
      const answers = await datagram(data.subarray(0, n), n >= viaEnd);
      if (n >= viaEnd) {
        expect([n, answers.length]).toEqual([n, 1]);
        expectNamed400(answers[0], `prefix ${n}`);
      } else {
        // no Via yet: at most a 400 sent wherever the fragment points, never anything else
        for (const m of answers) expect([n, m.status]).toEqual([n, 400]);
      }
    }
    // the whole message: 100 Trying, then NkSIP's default 603
    const from = udp.messages.length;
    await udp.send(data, server.port('udp'));
    const final = await udp.waitFor((m) => m.status === 603, ANSWER_MS, from);
    expect(statuses(dedupe(udp.messages.slice(from)))).toEqual([100, 603]);
    if (final) await udp.send(ackFor('sip:nksip@127.0.0.1', final), server.port('udp'));
    expect(await probeOn(udp)).toBe(200);
  });

  it('oversized datagrams: 60 KB of junk is dropped, a request with a 60 KB header is answered', async () => {
    const rnd = prng(60);
    const junk = Buffer.alloc(60 * 1024);
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
    expect(await datagram(junk)).toEqual([]);
    expect(await datagram(Buffer.alloc(65_507, 'A'))).toEqual([]);
    const big = options('big-header', { extra: [`X-Padding: ${'p'.repeat(60 * 1024)}`] })();
    expect(big.length).toBeGreaterThan(60 * 1024);
    expect(big.length).toBeLessThan(65_507);
    const answers = await datagram(big, true);
    expect(statuses(answers)).toEqual([200]);
  });

  it('300 random binary datagrams (seeded) get no answer and do not disturb the server', async () => {
    const rnd = prng(4475);
    let answered = 0;
    for (let i = 0; i < 300; i++) {
      const data = Buffer.alloc(1 + Math.floor(rnd() * 1400));
      for (let j = 0; j < data.length; j++) data[j] = Math.floor(rnd() * 256);
      answered += (await datagram(data)).length;
    }
    expect(answered).toBe(0);
  });

  it('200 valid OPTIONS with random bytes overwritten (Via kept): at most one answer each', async () => {
    const rnd = prng(3261);
    for (let i = 0; i < 200; i++) {
      const data = options(`mut-${i}`)();
      const text = data.toString('latin1');
      const viaStart = text.indexOf('\r\nVia:');
      const viaEnd = text.indexOf('\r\n', viaStart + 2) + 2;
      const flips = 1 + Math.floor(rnd() * 6);
      for (let k = 0; k < flips; k++) {
        let at = Math.floor(rnd() * data.length);
        if (at >= viaStart && at < viaEnd) at = viaEnd + ((at - viaStart) % (data.length - viaEnd));
        data[at] = Math.floor(rnd() * 256);
      }
      const answers = await datagram(data);
      const finals = answers.filter((m) => (m.status ?? 0) >= 200);
      expect([i, finals.length <= 1]).toEqual([i, true]);
      for (const m of answers) expect(m.startLine).toMatch(/^SIP\/2\.0 [1-6]\d\d /);
    }
  });
});

/** Requests with a readable Via whose start line or framing is bad, and what they get. */
const MANGLED: {
  name: string;
  data: (port?: number, transport?: string) => Buffer;
  udp: number | null;
  reason?: RegExp;
}[] = [
  { name: 'no start line at all', data: options('g1', { start: 'GARBAGE' }), udp: null },
  {
    name: 'request line without version',
    data: options('g2', { start: 'OPTIONS sip:nksip@127.0.0.1' }),
    udp: null,
  },
  { name: 'HTTP request line', data: options('g3', { start: 'GET / HTTP/1.1' }), udp: null },
  {
    name: 'tab before the method',
    data: options('g4', { start: '\tOPTIONS sip:nksip@127.0.0.1 SIP/2.0' }),
    udp: null,
  },
  {
    name: 'method not a token',
    data: options('g5', { start: 'OPT(IONS sip:nksip@127.0.0.1 SIP/2.0' }),
    udp: null,
  },
  { name: 'bad status line', data: options('g6', { start: 'SIP/2.0 abc OK' }), udp: null },
  {
    name: 'two spaces in the request line',
    data: options('g7', { start: 'OPTIONS  sip:nksip@127.0.0.1 SIP/2.0' }),
    udp: 400,
    reason: /Request-Line/,
  },
  {
    name: 'words after the version',
    data: options('g8', { start: 'OPTIONS sip:nksip@127.0.0.1 SIP/2.0 extra' }),
    udp: 400,
    reason: /Request-Line/,
  },
  { name: 'version 3.0', data: options('g9', { start: 'OPTIONS sip:nksip@127.0.0.1 SIP/3.0' }), udp: 505 },
  {
    name: 'http: Request-URI',
    data: options('g10', { start: 'OPTIONS http://127.0.0.1/ SIP/2.0' }),
    udp: 416,
  },
  {
    name: 'lowercase method (CSeq says OPTIONS)',
    data: options('g11', { start: 'options sip:nksip@127.0.0.1 SIP/2.0' }),
    udp: 400,
    reason: /CSeq/,
  },
  {
    name: 'NUL in the Request-URI',
    data: options('n1', { start: 'OPTIONS sip:nk\0sip@127.0.0.1 SIP/2.0' }),
    udp: 400,
    reason: /Request-URI/,
  },
  {
    name: 'NUL after the version',
    data: options('n2', { start: 'OPTIONS sip:nksip@127.0.0.1 SIP/2.0\0' }),
    udp: null,
  },
  {
    name: 'NUL in a header name',
    data: options('n3', { extra: ['X-\0Bad: 1'] }),
    udp: 400,
    reason: /Header/,
  },
  { name: 'NUL octets in a body', data: options('n4', { body: 'a\0b\0\0c' }), udp: 200 },
  {
    name: 'header line with no colon',
    data: options('c1', { extra: ['This line has no colon'] }),
    udp: 400,
    reason: /Header/,
  },
  {
    name: 'Content-Length of 20 digits',
    data: options('l1', { cl: '99999999999999999999' }),
    udp: 400,
    reason: /Content-Length/,
  },
  {
    name: 'Content-Length 4294967295, no body',
    data: options('l2', { cl: '4294967295' }),
    udp: 400,
    reason: /Content-Length/,
  },
  { name: 'negative Content-Length', data: options('l3', { cl: '-1' }), udp: 400, reason: /Content-Length/ },
];

describe('UDP: mangled start lines, NUL octets, Content-Length, header lines', () => {
  for (const c of MANGLED) {
    it(`${c.name} → ${c.udp ?? 'dropped'}`, async () => {
      const answers = await datagram(c.data(), c.udp !== null);
      expect(statuses(answers)).toEqual(c.udp === null ? [] : [c.udp]);
      if (c.reason) expect(answers[0]?.reason).toMatch(c.reason);
    });
  }

  it('a datagram of NUL octets and one of CRLFs only get no answer', async () => {
    expect(await datagram(Buffer.alloc(1000))).toEqual([]);
    expect(await datagram(Buffer.from('\r\n'.repeat(200)))).toEqual([]);
  });
});

/** On a stream, what each MANGLED message does: an answer, a drop, or a closed connection. */
const STREAM: Record<string, number | null | 'close'> = {
  'Content-Length of 20 digits': 'close',
  'Content-Length 4294967295, no body': 'close',
  'negative Content-Length': 'close',
};

describe('TCP', () => {
  for (const c of MANGLED) {
    const want = c.name in STREAM ? STREAM[c.name] : c.udp;
    it(`${c.name} → ${want ?? 'dropped'}, then the stream still works`, async () => {
      const conn = await TcpPeer.connect(server.port('tcp'));
      try {
        expect(await conn.write(c.data(conn.localPort, 'TCP'))).toBe(true);
        if (want === 'close') {
          expect(await conn.waitClosed(1000)).toBe(true);
          expect(conn.messages).toEqual([]);
          expect(await probeTcp()).toBe(200);
          return;
        }
        if (want !== null) await conn.waitFor(() => true, ANSWER_MS);
        // the same connection: the bad message was framed and dealt with, the next one is read
        expect(await probeOn(conn)).toBe(200);
        const answers = conn.messages.filter((m) => !isProbe(m));
        expect(statuses(answers)).toEqual(want === null ? [] : [want]);
        if (c.reason) expect(answers[0]?.reason).toMatch(c.reason);
      } finally {
        conn.close();
      }
    });
  }

  it('random binary streams ending in CRLFCRLF are dropped and the connection keeps working', async () => {
    const rnd = prng(5626);
    const conn = await TcpPeer.connect(server.port('tcp'));
    try {
      for (let i = 0; i < 40; i++) {
        const junk = Buffer.alloc(1 + Math.floor(rnd() * 8000));
        for (let j = 0; j < junk.length; j++) {
          const b = Math.floor(rnd() * 256);
          junk[j] = b === 13 ? 0x20 : b; // no CR: the only CRLFCRLF is the one we put at the end
        }
        expect(await conn.write(Buffer.concat([junk, Buffer.from('\r\n\r\n')]))).toBe(true);
        expect([i, await probeOn(conn)]).toEqual([i, 200]);
      }
      expect(conn.messages.filter((m) => !isProbe(m))).toEqual([]);
    } finally {
      conn.close();
    }
  });

  it('a peer sending an endless header is disconnected (not buffered forever)', async () => {
    for (const [what, chunk] of [
      ['one endless header line', 'x'.repeat(4096)],
      [
        'endless header lines',
        'X-Fill: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(50),
      ],
    ] as const) {
      const conn = await TcpPeer.connect(server.port('tcp'));
      try {
        let written = 0;
        await conn.write(
          options('endless', { extra: ['X-Endless: '] })(conn.localPort, 'TCP').subarray(0, 200),
        );
        while (!conn.isClosed && written < 4 * 1024 * 1024) {
          if (!(await conn.write(chunk))) break;
          written += chunk.length;
        }
        // the cap is 64 KiB of header: the server must give up well before 4 MiB
        expect([what, await conn.waitClosed(2000)]).toEqual([what, true]);
        expect(written).toBeLessThan(4 * 1024 * 1024);
        expect(written).toBeGreaterThan(60 * 1024);
        expect(conn.messages).toEqual([]);
      } finally {
        conn.close();
      }
    }
    expect(await probeTcp()).toBe(200);
  });

  it('a valid INVITE sent byte by byte gets 100 and 603, and an OPTIONS byte by byte 200', async () => {
    const conn = await TcpPeer.connect(server.port('tcp'));
    try {
      const { data } = invite('bytewise', conn.localPort, 'TCP');
      for (const b of data) {
        await conn.write(Buffer.from([b]));
        await new Promise((r) => setImmediate(r));
      }
      await conn.waitUntil(() => conn.messages.some((m) => m.status === 603), ANSWER_MS);
      expect(statuses(conn.messages)).toEqual([100, 603]);
      const opts = options('bytewise-opt')(conn.localPort, 'TCP');
      for (const b of opts) await conn.write(Buffer.from([b]));
      await conn.waitUntil(() => conn.messages.length === 3, ANSWER_MS);
      expect(statuses(conn.messages)).toEqual([100, 603, 200]);
      expect(conn.isClosed).toBe(false);
    } finally {
      conn.close();
    }
  });

  it('truncated requests followed by a hang-up get no answer', async () => {
    for (const cut of [10, 60, 150, 300]) {
      const conn = await TcpPeer.connect(server.port('tcp'));
      const { data } = invite(`cut-${cut}`, conn.localPort, 'TCP');
      await conn.write(data.subarray(0, cut));
      await sleep(GRACE_MS);
      expect([cut, conn.messages]).toEqual([cut, []]);
      conn.close();
    }
    expect(await probeTcp()).toBe(200);
  });
});

describe('afterwards', () => {
  it('the server is alive, logged no errors, and exits 0 on SIGTERM', async () => {
    expect(server.proc.exitCode).toBeNull();
    expect(await probeOn(udp)).toBe(200);
    expect(await probeTcp()).toBe(200);
    const errors = server.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
    expect(errors).toEqual([]);
    expect(await server.stop()).toBe(0);
  });
});
