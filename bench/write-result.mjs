// Writes a benchmark's figures to bench/results/<name>.json. bench/results/ is git-ignored
// but Biome still checks it, so the JSON is laid out the way Biome's formatter would
// (arrays of plain values on one line) and `biome check .` stays clean after a run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');

export function writeResult(name, data) {
  const text = JSON.stringify(data, null, 2).replace(
    /^( *(?:"[^"]*": )?)\[\n\s+([^[\]{}]*?)\n\s*\](,?)$/gm,
    (whole, start, items, comma) => {
      const line = `${start}[${items.split(/,\n\s+/).join(', ')}]${comma}`;
      return line.length <= 110 ? line : whole;
    },
  );
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${text}\n`);
  return file;
}
