// Top self-time functions of a V8 CPU profile (node --cpu-prof), and self time by area
// (the server's apps layer, the rest of the server, the SDK, generated protobuf code, grpc-js,
// @bufbuild/protobuf, Node internals, GC). Used on the profiles of
// `node bench/app-options.mjs --cpu-prof`.
//
//   node bench/profile-top.mjs FILE.cpuprofile [--top=25] [--busy] [--callers=NAME]
//
// --busy: percentages of the non-idle time ((idle) left out). --callers=NAME: the call stacks
// (4 frames up) through which the function NAME spends its self time.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { root } from './lib/load.mjs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) throw new Error('usage: node bench/profile-top.mjs FILE.cpuprofile [--top=25] [--busy]');
const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
const busy = args.includes('--busy');
const callersOf = args.find((a) => a.startsWith('--callers='))?.slice('--callers='.length);

const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map(); // node id -> µs
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}

/** Where a function lives. */
function area(url, name) {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return '(program): native, outside JS';
  if (!url) return 'native / builtins';
  if (url.startsWith('node:')) return 'Node internals';
  if (url.includes('/node_modules/@grpc/')) return 'grpc-js';
  if (url.includes('/node_modules/@bufbuild/')) return '@bufbuild/protobuf';
  if (url.includes('/node_modules/')) return 'other node_modules';
  if (/\/gen\//.test(url)) return 'generated protobuf code';
  if (url.includes('/dist/server/src/apps/')) return 'server: apps layer';
  if (url.includes('/dist/server/src/')) return 'server: SIP (transport, transactions, core)';
  if (url.includes('/clients/typescript/dist/')) return 'SDK (@nksip/sipapp)';
  if (url.includes('/bench/')) return 'bench app';
  return 'other';
}

const fns = new Map();
const areas = new Map();
let total = 0;
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  const { functionName, url, lineNumber } = n.callFrame;
  const name = functionName || '(anonymous)';
  const a = area(url, name);
  if (busy && a === 'idle') continue;
  total += us;
  const short = url ? relative(root, url.replace(/^file:\/\//, '')) : '';
  const key = `${name} ${short}:${lineNumber + 1}`;
  const f = fns.get(key) ?? { name, where: short ? `${short}:${lineNumber + 1}` : '', area: a, us: 0 };
  f.us += us;
  fns.set(key, f);
  areas.set(a, (areas.get(a) ?? 0) + us);
}

const pct = (us) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled${busy ? ' (idle left out)' : ''}\n`);
console.log('self time by area');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) console.log(`${pct(us)} ${ms(us)}  ${a}`);
console.log(`\ntop ${top} functions by self time`);
for (const f of [...fns.values()].sort((x, y) => y.us - x.us).slice(0, top)) {
  console.log(`${pct(f.us)} ${ms(f.us)}  ${f.name}  ${f.where}  [${f.area}]`);
}

if (callersOf) {
  const stacks = new Map();
  let sum = 0;
  for (const [id, us] of selfUs) {
    if (byId.get(id).callFrame.functionName !== callersOf) continue;
    const frames = [];
    for (let p = parent.get(id); p !== undefined && frames.length < 4; p = parent.get(p)) {
      const cf = byId.get(p).callFrame;
      if (cf.functionName === '(root)') break;
      const short = cf.url ? relative(root, cf.url.replace(/^file:\/\//, '')) : '';
      frames.push(`${cf.functionName || '(anonymous)'}${short ? ` ${short}:${cf.lineNumber + 1}` : ''}`);
    }
    const key = frames.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + us);
    sum += us;
  }
  console.log(`\n${callersOf}: ${ms(sum)} self, by caller`);
  for (const [k, us] of [...stacks].sort((x, y) => y[1] - x[1]).slice(0, 12)) {
    console.log(`${pct(us)} ${ms(us)}  < ${k}`);
  }
}
