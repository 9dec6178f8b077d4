"""pbx: NkSIP's NkPBX sample as a SipApp, the server's built-in PBX done from outside; the
same behaviour and flags as examples/typescript/pbx.ts and examples/go/pbx.

A registrar (the registrar plugin) and a forking proxy for its domains:

- digest authentication: REGISTER is challenged with 401, everything else with 407; a wrong
  password gets 403. A request from a registered contact of its From user, or from the other
  end of a dialog, needs no digest. A digest vouches only for its own user: a REGISTER binds
  the To user who authenticated, other requests go out as the From user.
- OPTIONS to the PBX itself (no user part) is answered 200 without a challenge.
- <user>@<domain>: proxied to the user's registered contacts (parallel within a q value,
  serial across q values, Record-Route); 480 when nothing is registered, 404 for a user the
  PBX does not know.
- 200@<domain>: every registered contact but the caller's, all in parallel.
- 201@<domain>: the same contacts shuffled and tried in pairs, one pair after the other,
  without Record-Route.
- any other domain: 403, never relayed (no open relay).

    clients/python/.venv/bin/python examples/python/pbx.py --user alice:1234 --user bob:5678

Flags: --server HOST:PORT (default $NKSIP_SERVER or 127.0.0.1:50051), --name NAME (pbx),
--listen URI (repeatable; none: the server's own listeners), --domain DOMAIN (repeatable;
default nksip; the address a request came to is always served too), --realm REALM (default
the first domain), --user NAME:PASSWORD (repeatable; the password may be HA1!<hex>),
--users FILE (a JSON object {"name": "password"}), --token TOKEN (default $NKSIP_TOKEN).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
from datetime import UTC, datetime

from nksip import (
    AuthInfo,
    Authorize,
    AuthorizeDecision,
    Route,
    RouteDecision,
    SipApp,
    SipRequest,
    UserPassAnswer,
    forbidden,
    not_found,
    temporarily_unavailable,
)


def log(line: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {line}", flush=True)


def is_sip(scheme: str) -> bool:
    return scheme in ("sip", "sips")


def shuffled_pairs(uris: list[str]) -> list[list[str]]:
    """Shuffled, then in pairs: NkPBX's 201."""
    s = random.sample(uris, len(uris))
    return [s[i : i + 2] for i in range(0, len(s), 2)]


class Pbx(SipApp):
    def __init__(
        self,
        name: str,
        *,
        domains: list[str],
        realm: str,
        users: dict[str, str],
        server: str,
        listen: list[str],
        token: str,
    ) -> None:
        super().__init__(name, server=server, listen=listen, token=token, plugins=["registrar"])
        self.domains = domains
        self.realm = realm
        self.users = users

    def ours(self, host: str, req: SipRequest) -> bool:
        """Our domains, and the address the request came to (a softphone may use either)."""
        h = host.lower().removeprefix("[").removesuffix("]")
        return h in self.domains or h == req.transport.local_ip.lower()

    # Runs before route for every request but ACK and CANCEL: first with no credentials
    # checked (ok lets the request in at no cost), then with them.
    def authorize(self, auth: AuthInfo, req: SipRequest) -> AuthorizeDecision:
        u = req.ruri
        if not req.to.tag and not (is_sip(u.scheme) and self.ours(u.host, req)):
            return Authorize.forbidden()
        if req.method == "OPTIONS" and not u.user and not req.to.tag:
            return Authorize.ok()
        register = req.method == "REGISTER"
        if not register and (auth.register or auth.dialog):
            return Authorize.ok()
        who = req.to.uri.user if register else req.from_.uri.user
        if any(d.ok and d.user == who for d in auth.digests):
            return Authorize.ok()
        if auth.digests:
            return Authorize.forbidden()
        return Authorize.authenticate(self.realm) if register else Authorize.proxy_authenticate(self.realm)

    def get_user_pass(self, user: str, realm: str, req: SipRequest) -> UserPassAnswer:
        return self.users.get(user, False)

    async def everyone_but(self, caller: str, domain: str) -> list[str]:
        """Every registered contact of every user but ``caller``, on ``domain``."""
        found = await asyncio.gather(
            *(self.registrar.find(f"sip:{u}@{domain}") for u in self.users if u != caller)
        )
        return [uri for uris in found for uri in uris]

    async def route(self, req: SipRequest) -> RouteDecision:
        # in a dialog: along its route set when it names us (the server drops our own Route),
        # else answered here (481 and the like)
        if req.to.tag:
            return Route.proxy() if req.routes else Route.process()
        if req.method in ("ACK", "CANCEL"):
            return Route.process()
        u = req.ruri
        if not is_sip(u.scheme) or not self.ours(u.host, req):
            return Route.reply(forbidden("Domain Not Served"))
        if req.method == "REGISTER" or not u.user:
            return Route.process()
        caller = req.from_.uri.user
        if u.user in ("200", "201"):
            everyone = await self.everyone_but(caller, u.host)
            log(f"{req.method} {u.user}@{u.host} from {caller}: {len(everyone)} contacts")
            if not everyone:
                return Route.reply(temporarily_unavailable())
            if u.user == "200":
                return Route.proxy([everyone], record_route=True)
            return Route.proxy(shuffled_pairs(everyone), record_route=False)
        uri_set = await self.registrar.qfind(f"sip:{u.user}@{u.host}")
        log(f"{req.method} {u.user}@{u.host} from {caller}: {json.dumps(uri_set)}")
        if uri_set:
            return Route.proxy(uri_set, record_route=True)
        return Route.reply(temporarily_unavailable() if u.user in self.users else not_found())

    def on_disconnected(self, error: object) -> None:
        log("disconnected from the server; reconnecting")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="NkPBX as a SipApp: registrar, digest auth, forking proxy")
    p.add_argument("--server", default=os.environ.get("NKSIP_SERVER") or "127.0.0.1:50051")
    p.add_argument("--name", default="pbx")
    p.add_argument("--listen", action="append", default=[])
    p.add_argument("--domain", action="append", default=[])
    p.add_argument("--realm")
    p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    p.add_argument("--users", metavar="FILE")
    p.add_argument("--token", default=os.environ.get("NKSIP_TOKEN", ""))
    return p.parse_args()


async def main() -> None:
    args = parse_args()
    domains = [d.lower() for d in args.domain] or ["nksip"]
    users: dict[str, str] = {}
    if args.users:
        with open(args.users, encoding="utf-8") as f:
            users.update(json.load(f))
    for u in args.user:
        name, sep, password = u.partition(":")
        if not name or not sep:
            sys.exit(f"--user {u}: expected NAME:PASSWORD")
        users[name] = password
    realm = args.realm or domains[0]
    app = Pbx(
        args.name,
        domains=domains,
        realm=realm,
        users=users,
        server=args.server,
        listen=args.listen,
        token=args.token,
    )
    await app.start()
    info = app.started_info
    where = ", ".join(info.listeners) if info else "?"
    names = ", ".join(users)
    log(f"pbx ready: {args.name} on {where}; domains {', '.join(domains)}; realm {realm}; users {names}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await app.stop()


if __name__ == "__main__":
    asyncio.run(main())
