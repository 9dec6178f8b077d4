// Heap held by what a function leaves reachable, measured around full collections.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * A full collection after the current job: objects only a WeakRef still points at are gone
 * (a WeakRef keeps its target alive until the job that made or read it ends).
 */
export async function collect(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

/**
 * Bytes still in the heap after `make` ran and a full GC, while what it returned is kept.
 * Whatever `make` built and dropped is gone by then; what it returned holds the rest.
 */
export function heldBy<T>(make: () => T): { held: number; kept: T } {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = make();
  gc();
  return { held: process.memoryUsage().heapUsed - before, kept };
}

/** A 4 MiB one-byte string built at run time (a literal would live in the code anyway). */
export function bigText(): string {
  return Array.from({ length: 4096 }, (_, i) => `${i}`.padEnd(1024, 'x')).join('');
}
