// NkSIP t01 stun against the conformance app: the app asks the server for a STUN Binding
// request (control command `stun`, NkSIP's nksip_uac:stun) from its own UDP listener to the
// server's SIP port, where every UDP listener is also a STUN server, and gets back its local
// and public address; a URI that is none is an error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children } from './harness.js';

const languages = conformanceLanguages();
/** Conformance apps that have the `stun` control command (the others get it with the SDK call). */
const WITH_STUN = new Set(['typescript', 'python', 'go', 'java']);

describe.each(languages)('%s conformance app: NkSIP t01 stun', (lang) => {
  const todo = !WITH_STUN.has(lang);
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let appPort: number;

  beforeAll(async () => {
    if (todo) return;
    server = await children.server();
    app = await children.app(lang, server, { name: 'confstun', listen: ['sip:127.0.0.1:0'] });
    const ready = app.find('ready')[0];
    const udp = (ready?.listeners as string[] | undefined)?.find((l) => l.startsWith('udp:'));
    appPort = Number(udp?.slice(udp.lastIndexOf(':') + 1));
  });

  afterAll(async () => {
    await children.stopAll();
  });

  it.skipIf(todo)(
    `stun returns the app's local and public address${todo ? ' (skipped: no stun command in this app yet)' : ''}`,
    async () => {
      expect(appPort).toBeGreaterThan(0);
      const id = app.command({ cmd: 'stun', uri: `sip:127.0.0.1:${server.port('udp')}` });
      const r = await app.result(id, 10_000);
      expect(r?.error, JSON.stringify(r)).toBeUndefined();
      expect(r?.local).toEqual({ address: '127.0.0.1', port: appPort });
      expect(r?.public).toEqual({ address: '127.0.0.1', port: appPort });
    },
  );

  it.skipIf(todo)(
    `a URI that is none is an invalid_uri error${todo ? ' (skipped: no stun command in this app yet)' : ''}`,
    async () => {
      const r = await app.result(app.command({ cmd: 'stun', uri: 'not a uri' }), 10_000);
      // the kind in the language's own casing (invalidUri, invalid_uri, INVALID_URI)
      expect(String(r?.error).toLowerCase().replace(/_/g, '')).toBe('invaliduri');
    },
  );
});
