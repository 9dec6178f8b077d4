// Self-signed certificates for the TLS and WSS tests, made by scripts/make-test-cert.sh into
// a temporary directory once per test file: `good` names 127.0.0.1, ::1 and localhost; `other`
// is another self-signed certificate for the same names (a peer we do not trust).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsSettings } from '../../server/src/transport/tls.js';
import { ROOT } from './server-process.js';

export interface TestCert {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCerts {
  good: TestCert;
  other: TestCert;
  /** Removes the files. */
  remove(): void;
}

function make(dir: string): TestCert {
  execFileSync(join(ROOT, 'scripts/make-test-cert.sh'), [dir], { stdio: 'ignore' });
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

export function makeTestCerts(): TestCerts {
  const base = mkdtempSync(join(tmpdir(), 'nksip-certs-'));
  return {
    good: make(join(base, 'good')),
    other: make(join(base, 'other')),
    remove: () => rmSync(base, { recursive: true, force: true }),
  };
}

/** Settings of a side that presents `own` and trusts `trusted` (verification on). */
export function tlsSettings(own: TestCert, trusted?: TestCert): TlsSettings {
  return trusted ? { cert: own.cert, key: own.key, ca: trusted.cert } : { cert: own.cert, key: own.key };
}
