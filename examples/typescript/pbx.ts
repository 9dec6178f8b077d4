// pbx: NkSIP's NkPBX sample (reference §8) as a SipApp, the built-in PBX of the server done
// from outside. A registrar (the registrar plugin) and a forking proxy for its domains:
//
//   - digest authentication: REGISTER is challenged with 401, everything else with 407; a
//     wrong password gets 403. A request from a registered contact of its From user, or from
//     the other end of a dialog, needs no digest. A digest vouches only for its own user: a
//     REGISTER binds the To user who authenticated, other requests go out as the From user.
//   - OPTIONS to the PBX itself (no user part) is answered 200 without a challenge.
//   - <user>@<domain>: proxied to the user's registered contacts (parallel within a q value,
//     serial across q values, Record-Route); 480 when nothing is registered, 404 for a user
//     the PBX does not know.
//   - 200@<domain>: every registered contact but the caller's, all in parallel.
//   - 201@<domain>: the same contacts shuffled and tried in pairs, one pair after the other,
//     without Record-Route.
//   - any other domain: 403, never relayed (no open relay).
//
//   node examples/typescript/dist/pbx.js --user alice:1234 --user bob:5678
//
// Flags (the same in examples/python/pbx.py and examples/go/pbx):
//   --server HOST:PORT   the server's gRPC address (default $NKSIP_SERVER or 127.0.0.1:50051)
//   --name NAME          the app's name (default pbx)
//   --listen URI         a listener of its own (repeatable); none: the server's own listeners
//   --domain DOMAIN      a domain served (repeatable; default nksip); the address a request
//                        came to is always served too
//   --realm REALM        the digest realm (default the first domain)
//   --user NAME:PASSWORD a user (repeatable); the password may be HA1!<hex of MD5(name:realm:password)>
//   --users FILE         users from a JSON object {"name": "password", ...}
//   --token TOKEN        the server's shared secret (default $NKSIP_TOKEN)
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  Authorize,
  forbidden,
  notFound,
  Route,
  type RouteDecision,
  SipApp,
  type SipRequest,
  temporarilyUnavailable,
  type UriSet,
} from '@nksip/sipapp';

const { values: flags } = parseArgs({
  options: {
    server: { type: 'string', default: process.env.NKSIP_SERVER ?? '127.0.0.1:50051' },
    name: { type: 'string', default: 'pbx' },
    listen: { type: 'string', multiple: true, default: [] },
    domain: { type: 'string', multiple: true, default: [] },
    realm: { type: 'string' },
    user: { type: 'string', multiple: true, default: [] },
    users: { type: 'string' },
    token: { type: 'string', default: process.env.NKSIP_TOKEN },
  },
});

const domains = flags.domain.length > 0 ? flags.domain.map((d) => d.toLowerCase()) : ['nksip'];
const realm = flags.realm ?? domains[0]!;
const users = new Map<string, string>(
  Object.entries(
    flags.users ? (JSON.parse(readFileSync(flags.users, 'utf8')) as Record<string, string>) : {},
  ),
);
for (const u of flags.user) {
  const i = u.indexOf(':');
  if (i <= 0) throw new Error(`--user ${u}: expected NAME:PASSWORD`);
  users.set(u.slice(0, i), u.slice(i + 1));
}

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};

/** Our domains, and the address the request came to (a softphone may use either). */
const ours = (host: string, req: SipRequest): boolean => {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return domains.includes(h) || h === req.transport.localIp.toLowerCase();
};
const isSip = (scheme: string) => scheme === 'sip' || scheme === 'sips';

let app: SipApp;

/** Every registered contact of every user but `caller`, on `domain`. */
async function everyoneBut(caller: string, domain: string): Promise<string[]> {
  const found = await Promise.all(
    [...users.keys()].filter((u) => u !== caller).map((u) => app.registrar.find(`sip:${u}@${domain}`)),
  );
  return found.flat();
}

/** Shuffled, then in pairs: NkPBX's 201. */
function shuffledPairs(uris: string[]): UriSet {
  const s = [...uris];
  for (let i = s.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const pairs: string[][] = [];
  for (let i = 0; i < s.length; i += 2) pairs.push(s.slice(i, i + 2));
  return pairs;
}

async function route(req: SipRequest): Promise<RouteDecision> {
  // in a dialog: along its route set when it names us (the server drops our own Route), else
  // answered here (481 and the like)
  if (req.to.tag !== '') return req.routes.length > 0 ? Route.proxy() : Route.process();
  if (req.method === 'ACK' || req.method === 'CANCEL') return Route.process();
  const { scheme, user, host } = req.ruri;
  if (!isSip(scheme) || !ours(host, req)) return Route.reply(forbidden('Domain Not Served'));
  if (req.method === 'REGISTER' || user === '') return Route.process();
  const caller = req.from.uri.user;
  if (user === '200' || user === '201') {
    const all = await everyoneBut(caller, host);
    log(`${req.method} ${user}@${host} from ${caller}: ${all.length} contacts`);
    if (all.length === 0) return Route.reply(temporarilyUnavailable());
    return user === '200'
      ? Route.proxy([all], { recordRoute: true })
      : Route.proxy(shuffledPairs(all), { recordRoute: false });
  }
  const set = await app.registrar.qfind(`sip:${user}@${host}`);
  log(`${req.method} ${user}@${host} from ${caller}: ${JSON.stringify(set)}`);
  if (set.length > 0) return Route.proxy(set, { recordRoute: true });
  return Route.reply(users.has(user) ? temporarilyUnavailable() : notFound());
}

app = await SipApp.start(
  {
    app: flags.name,
    server: flags.server,
    listen: flags.listen,
    token: flags.token,
    plugins: ['registrar'],
  },
  {
    // Runs before route for every request but ACK and CANCEL: first with no credentials
    // checked (ok lets the request in at no cost), then with them.
    authorize: (auth, req) => {
      const { scheme, user, host } = req.ruri;
      if (req.to.tag === '' && !(isSip(scheme) && ours(host, req))) return Authorize.forbidden();
      if (req.method === 'OPTIONS' && user === '' && req.to.tag === '') return Authorize.ok();
      const register = req.method === 'REGISTER';
      if (!register && (auth.register || auth.dialog)) return Authorize.ok();
      const who = register ? req.to.uri.user : req.from.uri.user;
      if (auth.digests.some((d) => d.ok && d.user === who)) return Authorize.ok();
      if (auth.digests.length > 0) return Authorize.forbidden();
      return register ? Authorize.authenticate(realm) : Authorize.proxyAuthenticate(realm);
    },
    getUserPass: (user) => users.get(user) ?? false,
    route,
  },
);

const where = app.startedInfo?.listeners.join(', ') || '?';
log(
  `pbx ready: ${flags.name} on ${where}; domains ${domains.join(', ')}; realm ${realm}; users ${[...users.keys()].join(', ')}`,
);
app.on('disconnected', () => log('disconnected from the server; reconnecting'));
app.on('started', (info) => info.reconnected && log('rejoined the server'));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.stop().then(() => process.exit(0));
  });
}
