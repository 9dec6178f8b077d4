// The parent side of the in-process pipeline benches (pipeline-bench.mjs, proxy-pipeline.mjs):
// runs the script's child in a fresh process per round, for this checkout and, with
// --base=DIR, for another checkout's build in alternating rounds, and prints the medians.
// A child prints its CPU µs per unit, then optionally the app's.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The value of `--name=value` on the command line, or `dflt`. */
export function opt(name, dflt) {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
}

/**
 * In a child (`--child`): runs `child(dir, count)`. Otherwise runs the rounds of `script`
 * (its import.meta.url) with `--<count>=N` (default `dflt`) and `extra` arguments passed on.
 */
export async function abRounds(script, unit, child, { count, dflt, extra = [] }) {
  const n = Number(opt(count, dflt));
  if (args.includes('--child')) {
    await child(resolve(opt('dir', root)), n);
    return;
  }
  const base = opt('base', undefined);
  const rounds = Number(opt('rounds', 3));
  const dirs = base ? { base: resolve(base), this: root } : { this: root };
  const runs = Object.fromEntries(Object.keys(dirs).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [label, dir] of Object.entries(dirs)) {
      const out = spawnSync(
        process.execPath,
        [fileURLToPath(script), '--child', `--dir=${dir}`, `--${count}=${n}`, ...extra],
        { encoding: 'utf8' },
      );
      if (out.status !== 0) throw new Error(`${label}: ${out.stderr}`);
      const [us, appUs] = out.stdout.trim().split(/\s+/).map(Number);
      runs[label].push(us);
      const app = appUs !== undefined ? `, app ${appUs.toFixed(2)} µs/${unit}` : '';
      console.log(`round ${r + 1} ${label.padEnd(5)} ${us.toFixed(2)} µs/${unit}${app} (${dir})`);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const [label, a] of Object.entries(runs))
    console.log(`${label.padEnd(5)} median ${median(a).toFixed(2)} µs/${unit}`);
  if (base) console.log(`this/base: ×${(median(runs.this) / median(runs.base)).toFixed(2)}`);
}
