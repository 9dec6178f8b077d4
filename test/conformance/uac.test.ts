// UAC commands sent by the conformance app (x-nk-uac on a MESSAGE): the request leaves the
// server, reaches a sipp UAS, and its final response comes back to the app, which reports it in
// its answer to the MESSAGE (x-nk-uac-status).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, SipClient, type SippProcess, sipp, sippSettle } from './harness.js';

const languages = conformanceLanguages();

describe.each(languages)('%s conformance app: UAC commands from the app', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;

  beforeAll(async () => {
    server = await children.server();
    app = await children.app(lang, server, { name: 'confu' });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  /** A MESSAGE to the app asking it to send `method` to `uri`; resolves with the MESSAGE's answer. */
  async function uac(method: string, uri: string, extra: string[] = []): Promise<WireMessage | undefined> {
    const { res } = await client.request(
      {
        method: 'MESSAGE',
        headers: [`x-nk-uac: ${method} ${uri}`, ...extra],
        body: 'go',
        contentType: 'text/plain',
      },
      6000,
    );
    return res;
  }

  it('OPTIONS from the app reaches a sipp UAS; its 200 comes back to the app', async () => {
    const uas = children.track(
      await sipp({ scenario: 'uas-options.xml', timeoutSec: 5, extra: ['-trace_msg'] }),
    );
    await sippSettle();
    const res = await uac('OPTIONS', `sip:uas@127.0.0.1:${uas.port}`, [
      'x-nk-uac-header: x-conf-mark: uac-1',
    ]);
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(headerOf(res!, 'x-nk-uac-status')).toBe('200');
    expect(await uas.exited, uas.output()).toBe(0);
    // the request the UAS got: an OPTIONS to the URI given, with the header the app added
    const got = uas.messages();
    expect(got).toMatch(new RegExp(`OPTIONS sip:uas@127\\.0\\.0\\.1:${uas.port}`));
    expect(got).toMatch(/x-conf-mark: uac-1/i);
    expect(app.find('uac', { method: 'OPTIONS' }).at(-1)?.['x-nk-uac-status']).toBe('200');
  });

  it('a non-2xx final answer comes back as it is (INVITE to a UAS answering 180, 486)', async () => {
    const uas = children.track(await sipp({ scenario: 'uas-busy.xml', timeoutSec: 5 }));
    await sippSettle();
    const res = await uac('INVITE', `sip:uas@127.0.0.1:${uas.port}`);
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(headerOf(res!, 'x-nk-uac-status')).toBe('486');
    // the UAS got its ACK (the server's, for a non-2xx)
    expect(await uas.exited, uas.output()).toBe(0);
  });

  describe('INVITE from the app to a sipp UAS (auto 2xx ACK, then BYE)', () => {
    let run: Promise<{ res: WireMessage | undefined; uas: SippProcess; uasCode: number | null }> | undefined;
    const invite = () => {
      run ??= (async () => {
        const uas = children.track(
          await sipp({ scenario: 'uas-call.xml', timeoutSec: 4, extra: ['-trace_msg'] }),
        );
        await sippSettle();
        const res = await uac('INVITE', `sip:uas@127.0.0.1:${uas.port}`);
        // the UAS ends once it has the BYE; bounded, since without one it waits for its timeout
        const uasCode = await Promise.race([
          uas.exited,
          new Promise<null>((r) => setTimeout(() => r(null), 1500)),
        ]);
        await uas.kill();
        return { res, uas, uasCode };
      })();
      return run;
    };

    it('the INVITE is answered 200 and the SDK ACKs the 2xx', async () => {
      const { res, uas } = await invite();
      expect(res?.status, describeMessage(res)).toBe(200);
      expect(headerOf(res!, 'x-nk-uac-status'), describeMessage(res)).toBe('200');
      const got = uas.messages();
      expect(got).toMatch(/INVITE sip:uas@127\.0\.0\.1/);
      expect(got).toMatch(/Content-Type: application\/sdp/i);
      expect(got, 'the UAS got no ACK for its 200').toMatch(/\nACK sip:/);
    });

    // The app hangs up through the dialog handle of the 2xx.
    it('the app hangs up, BYE reaches the UAS and its 200 comes back', async () => {
      const { res, uas, uasCode } = await invite();
      expect(headerOf(res!, 'x-nk-uac-bye-status'), describeMessage(res)).toBe('200');
      expect(uasCode, uas.output()).toBe(0);
    });
  });
});
