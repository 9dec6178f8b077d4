// A tiny authoritative DNS server for tests, on 127.0.0.1 over UDP: answers NAPTR, SRV, A
// and AAAA from a table (NXDOMAIN otherwise) and counts the queries it got, so the RFC 3263
// locator can be tested through node:dns's real Resolver without the outside network.
import { createSocket } from 'node:dgram';

export type DnsRecord =
  | { type: 'A'; address: string; ttl?: number }
  | { type: 'AAAA'; address: string; ttl?: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl?: number }
  | {
      type: 'NAPTR';
      order: number;
      preference: number;
      flags: string;
      service: string;
      regexp?: string;
      replacement: string;
      ttl?: number;
    };

const TYPES: Record<DnsRecord['type'], number> = { A: 1, AAAA: 28, SRV: 33, NAPTR: 35 };

export interface TestDns {
  /** `127.0.0.1:port`, for Resolver.setServers. */
  server: string;
  /** Records by lowercased name; change them at will. */
  zone: Map<string, DnsRecord[]>;
  /** `TYPE name` of every query received. */
  queries: string[];
  close(): Promise<void>;
}

function encodeName(name: string): Buffer {
  const parts = name
    .replace(/\.$/, '')
    .split('.')
    .filter((p) => p !== '');
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])),
    Buffer.from([0]),
  ]);
}

function charString(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
}

function u16(...n: number[]): Buffer {
  const b = Buffer.alloc(n.length * 2);
  for (const [i, v] of n.entries()) b.writeUInt16BE(v, i * 2);
  return b;
}

function rdata(r: DnsRecord): Buffer {
  switch (r.type) {
    case 'A':
      return Buffer.from(r.address.split('.').map(Number));
    case 'AAAA': {
      const [head = '', tail = ''] = r.address.split('::');
      const h = head === '' ? [] : head.split(':');
      const t = tail === '' ? [] : tail.split(':');
      const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
      return u16(...groups.map((g) => Number.parseInt(g, 16)));
    }
    case 'SRV':
      return Buffer.concat([u16(r.priority, r.weight, r.port), encodeName(r.target)]);
    case 'NAPTR':
      return Buffer.concat([
        u16(r.order, r.preference),
        charString(r.flags),
        charString(r.service),
        charString(r.regexp ?? ''),
        encodeName(r.replacement),
      ]);
  }
}

/** Reads the question: name (no compression in queries) and type; the offset after it. */
function question(msg: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let at = 12;
  while ((msg[at] as number) > 0) {
    const len = msg[at] as number;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString());
    at += 1 + len;
  }
  at += 1;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at), end: at + 4 };
}

export async function startTestDns(zone: Record<string, DnsRecord[]> = {}): Promise<TestDns> {
  const socket = createSocket('udp4');
  const table = new Map(Object.entries(zone).map(([k, v]) => [k.toLowerCase(), v]));
  const queries: string[] = [];
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 17) return;
    const q = question(msg);
    const typeName = Object.entries(TYPES).find(([, v]) => v === q.type)?.[0] ?? String(q.type);
    queries.push(`${typeName} ${q.name}`);
    const records = table.get(q.name);
    const answers = (records ?? []).filter((r) => TYPES[r.type] === q.type);
    // NXDOMAIN for an unknown name, an empty answer (NODATA) for a known one
    const rcode = records === undefined ? 3 : 0;
    const header = u16(msg.readUInt16BE(0), 0x8400 | 0x0100 | rcode, 1, answers.length, 0, 0);
    const rrs = answers.map((r) => {
      const data = rdata(r);
      const ttl = Buffer.alloc(4);
      ttl.writeUInt32BE(r.ttl ?? 60);
      return Buffer.concat([u16(0xc00c, q.type, 1), ttl, u16(data.length), data]);
    });
    socket.send(Buffer.concat([header, msg.subarray(12, q.end), ...rrs]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    zone: table,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
