import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

// types.check.ts holds `@ts-expect-error` lines: a wrong decision must not compile, and tsc
// fails on any of those lines that does compile.
it('wrong decisions do not compile (tsc --noEmit on types.check.ts)', async () => {
  const tsc = join(here, '../../../node_modules/typescript/bin/tsc');
  const run = promisify(execFile)(process.execPath, [tsc, '-p', join(here, 'tsconfig.json'), '--noEmit']);
  const result = await run.then(
    () => '',
    (e: { stdout?: string }) => e.stdout ?? String(e),
  );
  expect(result).toBe('');
}, 60_000);
