// The registrar's memory per registered AOR and CPU per REGISTER, in-process (no sockets):
// N REGISTERs of N users (one Contact each, sipp-like text) into a Registrar on the default
// MemoryStore; heap after a full GC, before and after, divided by N.
//
//   npm run build && node --expose-gc bench/registrar-memory.mjs [--users=N]
import { MemoryStore, Registrar } from '../dist/server/src/registrar/index.js';
import { parseMessage } from '../dist/server/src/sip/parser.js';

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const n = Number(process.argv.find((a) => a.startsWith('--users='))?.slice(8) ?? 20000);
const registrar = new Registrar({ store: new MemoryStore() });
const source = { transport: 'udp', address: '127.0.0.1', port: 5070 };
const text = (i) =>
  'REGISTER sip:127.0.0.1 SIP/2.0\r\n' +
  `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-${i}-1\r\nMax-Forwards: 70\r\n` +
  `From: <sip:user${i}@127.0.0.1>;tag=${i}SIPpTag001\r\nTo: <sip:user${i}@127.0.0.1>\r\n` +
  `Call-ID: ${i}-1234@127.0.0.1\r\nCSeq: 1 REGISTER\r\n` +
  `Contact: <sip:user${i}@127.0.0.1:5070;transport=udp>\r\nExpires: 3600\r\n` +
  'User-Agent: sipp-bench\r\nContent-Length: 0\r\n\r\n';

globalThis.gc();
const heap0 = process.memoryUsage().heapUsed;
const cpu0 = process.cpuUsage();
for (let i = 0; i < n; i++) {
  const r = await registrar.register(parseMessage(Buffer.from(text(i), 'latin1')).msg, source);
  if (r.status !== 200) throw new Error(`REGISTER ${i}: ${r.status} ${r.reason}`);
}
const cpu = process.cpuUsage(cpu0);
globalThis.gc();
const heap = process.memoryUsage().heapUsed - heap0;
if (registrar.store.size !== n) throw new Error(`${registrar.store.size} AORs stored, ${n} expected`);
console.log(
  `${n} AORs: ${Math.round(heap / n)} heap bytes per AOR; ` +
    `${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU per REGISTER (parse + registrar)`,
);
