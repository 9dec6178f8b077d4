// Replays every RFC 4475 / RFC 5118 torture message against the real CLI server over UDP and
// over TCP on 127.0.0.1 and checks each gets the answer its verdict calls for, with the
// server still answering a fresh OPTIONS after every one. Before sending, the header section
// is rewritten so that nothing can leave the machine: the top Via's sent-by becomes our own
// socket, other IPv4 literals 127.0.0.1, IPv6 literals ::1 (request line and body untouched).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../server/src/config.js';
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
/** tcpIdleTimeout of the server under test, seconds. */
const IDLE = 1;
/** How long an expected answer may take. */
const ANSWER_MS = 2000;
/** How long we listen to be sure no (further) answer comes. */
const QUIET_MS = 300;
const SETTLE_MS = 60;
const T1 = 50;

interface Row {
  /** Every response expected, 100 Trying included, over each transport (retransmissions aside). */
  udp: number[];
  tcp: number[];
  /** Reason phrase of the 400/505 (the fault it names). */
  reason?: string;
  /** TCP: the server closes the connection, at once on a framing error, or after IDLE s. */
  tcpClose?: 'framing' | 'idle';
  /** Headers the final response must carry (value as sent). */
  headers?: Record<string, string>;
  /** UDP: the answers go to the Via `received` address, ::1 here (RFC 3261 §18.2.2). */
  udpToReceived?: true;
}

const same = (statuses: number[], extra: Partial<Row> = {}): Row => ({
  udp: statuses,
  tcp: statuses,
  ...extra,
});
const bad = (reason: string): Row => same([400], { reason });
// the server's default Allow: what its built-in app answers with
const ALLOW = DEFAULTS.allow;

/**
 * The exact answers of this server (a UAS with NkSIP's defaults: no dialogs, no registrar).
 * INVITEs that pass the stateless checks get 100 Trying first; malformed requests get a
 * stateless 400 naming the fault (505 for a wrong version); responses get nothing.
 */
const TABLE: Record<string, Row> = {
  // RFC 4475 3.1.1 valid
  wsinv: same([100, 481]), // To tag, no such dialog
  intmeth: same([501], { headers: { allow: ALLOW } }),
  esc01: same([100, 603]),
  escnull: same([405], { headers: { allow: ALLOW } }),
  esc02: same([501]), // RE%47IST%45R is not REGISTER
  lwsdisp: same([200]),
  longreq: same([100, 603]),
  // UDP: trailing INVITE octets ignored (RFC 3261 §18.3); TCP: they are the next message,
  // whose SDP offer has a malformed line (`m =video`): 488 before the app is asked
  dblreq: { udp: [405], tcp: [405, 100, 488] },
  semiuri: same([200]),
  transports: same([200]),
  mpart01: same([603]), // MESSAGE outside a dialog
  unreason: same([]),
  noreason: same([]),
  // RFC 4475 3.1.2 invalid
  badinv01: bad('Bad Via'),
  // TCP: the server waits for the 9999 octets, then the idle timeout closes the connection
  clerr: { udp: [400], reason: 'Content-Length Exceeds Body', tcp: [], tcpClose: 'idle' },
  ncl: { udp: [400], reason: 'Bad Content-Length', tcp: [], tcpClose: 'framing' },
  scalar02: bad('Bad CSeq'),
  scalarlg: same([]),
  quotbal: bad('Bad To'),
  ltgtruri: bad('Bad Request-URI'),
  lwsruri: bad('Bad Request-Line'),
  lwsstart: bad('Bad Request-Line'),
  trws: bad('Bad Request-Line'),
  escruri: bad('Bad Request-URI'),
  baddate: bad('Bad Date'),
  regbadct: bad('Bad Contact'),
  badaspec: bad('Bad To'),
  // no empty line after the headers: on TCP the header block never ends
  baddn: { udp: [400], reason: 'Bad From', tcp: [], tcpClose: 'idle' },
  badvers: same([505], { reason: 'Version Not Supported' }),
  mismatch01: bad('CSeq Method Mismatch'),
  mismatch02: bad('CSeq Method Mismatch'),
  bigcode: same([]),
  // RFC 4475 3.2, 3.3
  badbranch: same([200]),
  insuf: bad('Missing From'),
  unkscm: same([416]),
  novelsc: same([416]),
  unksm2: same([405]),
  bext01: same([420], { headers: { unsupported: 'nothingSupportsThis, nothingSupportsThisEither' } }),
  invut: same([100, 415], { headers: { accept: 'application/sdp' } }),
  regaut01: same([405]),
  multi01: bad('Duplicate From'),
  mcl01: { udp: [400], reason: 'Conflicting Content-Length', tcp: [], tcpClose: 'framing' },
  bcast: same([]),
  zeromf: same([200]), // OPTIONS is answered whatever its Max-Forwards
  cparam01: same([405]),
  cparam02: same([405]),
  regescrt: same([405]),
  sdp01: same([100, 406]),
  // RFC 4475 3.4: over TCP there is no Content-Length, so the SDP is garbage on the stream
  // that never completes a header block: the idle timeout closes the connection
  inv2543: { udp: [100, 603], tcp: [100, 603], tcpClose: 'idle' },
  // RFC 5118
  'ipv6-good': same([405]),
  'ipv6-bad': bad('Bad Request-URI'),
  'port-ambiguous': same([405]),
  'port-unambiguous': same([405]),
  // UDP: the answer goes to the Via `received` address, [::1] after the rewrite (§18.2.2)
  'via-received-param-with-delim': same([481], { udpToReceived: true }), // BYE with a To tag
  'via-received-param-no-delim': same([200], { udpToReceived: true }),
  'ipv6-in-sdp': same([100, 603]),
  'mult-ip-in-header': same([481]), // BYE with a To tag
  'mult-ip-in-sdp': same([100, 603]),
  'ipv4-mapped-ipv6': same([100, 603]),
  'ipv6-bug-abnf-3-colons': same([200]),
  'ipv6-correct-abnf-2-colons': same([200]),
};

const tsv = readFileSync(join(DIR, 'expected.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split('\t') as [string, string, string, string]);

function load(name: string): Buffer {
  return readFileSync(join(DIR, `${name}.dat`));
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const statuses = (msgs: WireMessage[]) => msgs.map((m) => m.status ?? -1);

/** Whether `got` holds every status of `want` (as a multiset). */
function covers(got: number[], want: number[]): boolean {
  const left = [...got];
  for (const w of want) {
    const i = left.indexOf(w);
    if (i < 0) return false;
    left.splice(i, 1);
  }
  return true;
}

/** UDP retransmissions of a response are the same message again: count each once. */
function dedupe(msgs: WireMessage[]): WireMessage[] {
  const seen = new Set<string>();
  return msgs.filter((m) => {
    const key = [m.status, m.reason, headerOf(m, 'call-id'), headerOf(m, 'cseq'), headerOf(m, 'to')].join(
      '|',
    );
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Call-IDs in the whole rewritten datagram (dblreq carries two). */
function callIdsOf(data: Buffer): string[] {
  return [...data.toString('latin1').matchAll(/\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)/gi)].map((m) =>
    (m[1] as string).trim(),
  );
}

/** Assertions shared by both transports on the answers to one torture message. */
function checkAnswers(name: string, row: Row, want: number[], answers: WireMessage[], data: Buffer): void {
  expect([name, sorted(statuses(answers))]).toEqual([name, sorted(want)]);
  const ids = callIdsOf(data);
  for (const m of answers) {
    expect(m.startLine).toMatch(/^SIP\/2\.0 \d{3} /);
    if (ids.length > 0) expect(ids).toContain(headerOf(m, 'call-id'));
    const final = (m.status ?? 0) >= 200;
    if (final && row.reason !== undefined) expect([name, m.reason]).toEqual([name, row.reason]);
    if (final)
      for (const [h, v] of Object.entries(row.headers ?? {}))
        expect([name, h, headerOf(m, h)]).toEqual([name, h, v]);
  }
  // within one transaction, 100 Trying comes before the final response
  const trying = answers.findIndex((m) => m.status === 100);
  if (trying >= 0) {
    const id = headerOf(answers[trying] as WireMessage, 'call-id');
    const finalIdx = answers.findIndex((m) => (m.status ?? 0) >= 200 && headerOf(m, 'call-id') === id);
    expect(finalIdx).toBeGreaterThan(trying);
  }
}

/**
 * Some fixtures share Call-ID, From tag and CSeq (the RFC 5118 examples reuse them). While
 * the transaction of the first one lives, the second is a merged request and gets 482
 * (RFC 3261 §8.2.2.2), so a replay waits until the earlier transaction has ended: Timer J
 * (64*T1) after its final response over UDP; on TCP non-INVITE transactions end at once.
 */
const txnEnds = new Map<string, number>();

function mergeKey(data: Buffer): string | undefined {
  const text = data.toString('latin1').replace(/\r\n[ \t]+/g, ' ');
  const field = (re: RegExp) => re.exec(text)?.[1]?.trim();
  const callId = field(/\r\n(?:call-id|i)[ \t]*:([^\r\n]*)/i);
  const from = field(/\r\n(?:from|f)[ \t]*:([^\r\n]*)/i);
  const cseq = field(/\r\ncseq[ \t]*:([^\r\n]*)/i)?.replace(/\s+/g, ' ');
  const tag = from === undefined ? undefined : /;\s*tag\s*=\s*([^;,\s>]+)/i.exec(from)?.[1];
  if (callId === undefined || tag === undefined || cseq === undefined) return undefined;
  return `${callId}|${tag}|${cseq}`;
}

/** 400 and 505 are sent without a transaction, so they never meet a merged request. */
const stateless = (want: number[]) => want.every((s) => s === 400 || s === 505);

async function waitForEarlierTransaction(key: string | undefined, want: number[]): Promise<void> {
  const end = key === undefined ? undefined : txnEnds.get(key);
  if (end === undefined || want.length === 0 || stateless(want)) return;
  const left = end - Date.now();
  if (left > 0) await sleep(left);
}

function noteTransaction(key: string | undefined, answers: WireMessage[], transport: Transport): void {
  if (key === undefined || stateless(statuses(answers).filter((s) => s >= 200))) return;
  const lifetime = transport === 'udp' || key.endsWith(' INVITE') ? 64 * T1 + 150 : 0;
  txnEnds.set(key, Date.now() + lifetime);
}

let server: RunningServer;
let probes = 0;

beforeAll(async () => {
  server = await startCli({
    // a UDP listener on ::1 too, for answers sent to a Via `received` of ::1
    listen: ['sip:127.0.0.1:0', 'sip:[::1]:0;transport=udp'],
    t1: T1,
    t2: 400,
    t4: 200,
    tcpIdleTimeout: IDLE,
    logLevel: 'info',
  });
});

afterAll(async () => {
  await server?.stop();
});

/** A fresh valid OPTIONS on this socket/connection must get 200. */
async function probe(peer: UdpPeer | TcpPeer, transport: Transport): Promise<number | undefined> {
  const callId = `probe-${++probes}-${transport}`;
  const port = peer instanceof UdpPeer ? peer.port : peer.localPort;
  const req = buildRequest({ transport, port, callId });
  const from = peer.messages.length;
  if (peer instanceof UdpPeer) await peer.send(req, server.port('udp'));
  else await peer.write(req);
  const resp = await peer.waitFor((m) => headerOf(m, 'call-id') === callId, ANSWER_MS, from);
  return resp?.status;
}

/** A UDP socket on 127.0.0.1 and one on ::1 with the same port number. */
async function udpPair(): Promise<[UdpPeer, UdpPeer]> {
  for (let attempt = 0; ; attempt++) {
    const v4 = await UdpPeer.open('127.0.0.1');
    try {
      return [v4, await UdpPeer.open('::1', v4.port)];
    } catch (err) {
      await v4.close();
      if (attempt >= 20) throw err;
    }
  }
}

describe('torture corpus table', () => {
  it('covers every fixture and agrees with the verdicts of expected.tsv', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.dat'))
      .map((f) => f.slice(0, -4));
    expect(files).toHaveLength(61);
    expect(Object.keys(TABLE).sort()).toEqual(files.sort());
    expect(tsv.map((r) => r[0]).sort()).toEqual(files.sort());
    for (const [name, verdict] of tsv) {
      const row = TABLE[name] as Row;
      const isResponse = load(name).toString('latin1').startsWith('SIP/');
      const final = row.udp.filter((s) => s >= 200);
      if (isResponse) expect([name, row.udp, row.tcp]).toEqual([name, [], []]);
      else if (verdict === 'invalid') expect([name, final]).toEqual([name, [name === 'badvers' ? 505 : 400]]);
      else expect([name, final.length, final.includes(400)]).toEqual([name, 1, false]);
    }
  });
});

describe.each(['udp', 'tcp'] as const)('torture replay over %s', (transport) => {
  for (const [name, , section] of tsv) {
    it(`${name} (${section})`, async () => {
      const row = TABLE[name] as Row;
      if (transport === 'udp') await replayUdp(name, row);
      else await replayTcp(name, row);
    });
  }

  it('the server is still running', () => {
    expect(server.proc.exitCode).toBeNull();
  });
});

async function replayUdp(name: string, row: Row): Promise<void> {
  const [v4, v6] = await udpPair();
  try {
    const data = rewriteForReplay(load(name), v4.port, 'udp');
    expect(foreignAddresses(headSection(data))).toEqual([]);
    const key = mergeKey(data);
    await waitForEarlierTransaction(key, row.udp);
    await v4.send(data, server.port('udp'));
    const all = () => [...v4.messages, ...v6.messages];
    if (row.udp.length > 0) await until(() => covers(statuses(all()), row.udp), ANSWER_MS);
    await sleep(row.udp.length > 0 ? SETTLE_MS : QUIET_MS);
    const answers = dedupe(all());
    noteTransaction(key, answers, 'udp');
    // ACK the non-2xx finals to INVITEs so the server stops retransmitting them
    const ruri = data.toString('latin1').split('\r\n')[0]?.split(' ')[1] ?? '';
    for (const m of answers) {
      if ((m.status ?? 0) >= 300 && / INVITE$/.test(headerOf(m, 'cseq') ?? '')) {
        await v4.send(ackFor(ruri, m), server.port('udp'));
      }
    }
    checkAnswers(name, row, row.udp, answers, data);
    const where = row.udpToReceived ? [0, row.udp.length] : [row.udp.length, 0];
    expect([name, dedupe(v4.messages).length, dedupe(v6.messages).length]).toEqual([name, ...where]);
    expect(await probe(v4, 'udp')).toBe(200);
  } finally {
    await Promise.all([v4.close(), v6.close()]);
  }
}

async function replayTcp(name: string, row: Row): Promise<void> {
  // before connecting, so the wait cannot run into the idle timeout
  const key = mergeKey(rewriteForReplay(load(name), 0, 'tcp'));
  await waitForEarlierTransaction(key, row.tcp);
  const conn = await TcpPeer.connect(server.port('tcp'));
  let fresh: TcpPeer | undefined;
  try {
    const data = rewriteForReplay(load(name), conn.localPort, 'tcp');
    expect(foreignAddresses(headSection(data))).toEqual([]);
    expect(await conn.write(data)).toBe(true);
    if (row.tcp.length > 0) await conn.waitUntil(() => covers(statuses(conn.messages), row.tcp), ANSWER_MS);
    if (row.tcpClose === 'framing') {
      expect([name, await conn.waitClosed(1000)]).toEqual([name, true]);
    } else if (row.tcpClose === 'idle') {
      // still waiting for the rest of the message, then given up on after the idle timeout
      expect([name, await conn.waitClosed(QUIET_MS)]).toEqual([name, false]);
      expect([name, await conn.waitClosed(IDLE * 1000 + 2000)]).toEqual([name, true]);
    } else {
      await sleep(row.tcp.length > 0 ? SETTLE_MS : QUIET_MS);
      checkAnswers(name, row, row.tcp, conn.messages, data);
      expect([name, conn.isClosed]).toEqual([name, false]);
    }
    noteTransaction(key, conn.messages, 'tcp');
    checkAnswers(name, row, row.tcp, conn.messages, data);
    if (conn.isClosed) {
      fresh = await TcpPeer.connect(server.port('tcp'));
      expect(await probe(fresh, 'tcp')).toBe(200);
    } else {
      // same connection: the stream is still framed right after this message
      expect(await probe(conn, 'tcp')).toBe(200);
    }
  } finally {
    conn.close();
    fresh?.close();
  }
}
