"""Every link of one hop process, and the checks on what the control API is asked to do.

Listeners are loopback only, always: a link's ``listen`` must be a loopback address
(127.0.0.0/8, ``::1`` or ``localhost``). Its ``upstream`` may be any ``host:port``.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from typing import Any

from paychaos.faults.httphop._fields import RuleError, a_string, an_object, check_keys, shown
from paychaos.faults.httphop._journal import Journal
from paychaos.faults.httphop._link import Link, RuleState
from paychaos.faults.httphop._rules import parse_rule


class ApiError(Exception):
    """A refused API call: the HTTP status and a message a person can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Hub:
    def __init__(self, journal: Journal, *, seeds: random.Random | None = None) -> None:
        self.journal = journal
        self.links: dict[str, Link] = {}
        self._seeds = seeds or random.Random()

    def link(self, name: str) -> Link:
        link = self.links.get(name)
        if link is None:
            known = ", ".join(self.links) or "none yet"
            raise ApiError(404, f"no link named {name!r} (links: {known}); create it with POST /links")
        return link

    async def create_link(self, body: object) -> Link:
        try:
            data = an_object("body", body)
            check_keys("", data, ("name", "listen", "upstream"))
            name = a_string("name", data.get("name"), empty=False)
            listen = a_string("listen", data.get("listen", "127.0.0.1:0"), empty=False)
            upstream = a_string("upstream", data.get("upstream"), empty=False)
        except RuleError as exc:
            raise ApiError(400, str(exc)) from None
        if "/" in name:
            raise ApiError(
                400, f"name: may not contain '/' (it is part of the API's paths), got {shown(name)}"
            )
        if name in self.links:
            raise ApiError(409, f"a link named {name!r} exists already; delete it first or pick another name")
        sock = _bind(listen)
        link = Link(name, split_address("upstream", upstream), self.journal)
        try:
            await link.open(sock)
        except OSError as exc:
            sock.close()
            raise ApiError(500, f"listen {listen}: {exc}") from None
        self.links[name] = link
        return link

    async def delete_link(self, name: str) -> None:
        link = self.link(name)
        del self.links[name]
        await link.close()

    def add_rule(self, name: str, body: object) -> RuleState:
        link = self.link(name)
        try:
            rule = parse_rule(body, new_seed=self._seeds)
        except RuleError as exc:
            raise ApiError(400, f"bad rule: {exc}") from None
        if rule.id in link.rules:
            raise ApiError(
                409, f"link {name!r} already has a rule {rule.id!r}; delete it first or pick another id"
            )
        state = RuleState(rule)
        link.rules[rule.id] = state
        return state

    def remove_rule(self, name: str, rule_id: str) -> None:
        link = self.link(name)
        if not link.remove_rule(rule_id):
            known = ", ".join(link.rules) or "none"
            raise ApiError(404, f"link {name!r} has no rule {rule_id!r} (rules: {known})")

    async def close(self) -> None:
        links, self.links = list(self.links.values()), {}
        for link in links:
            await link.close()

    def to_json(self) -> list[dict[str, Any]]:
        return [link.to_json(stats=True) for link in self.links.values()]


def split_address(field: str, text: str) -> tuple[str, int]:
    """``"127.0.0.1:80"`` → ``("127.0.0.1", 80)``, ``"[::1]:80"`` → ``("::1", 80)``; else ApiError 400."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535 or ("]" in host):
        raise ApiError(400, f"{field}: expected host:port (e.g. 127.0.0.1:8474), got {text!r}")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(listen: str) -> socket.socket:
    host, port = split_address("listen", listen)
    if not is_loopback(host):
        raise ApiError(
            400,
            f"listen: {listen!r} is not a loopback address; the hop only listens on loopback "
            "(127.0.0.0/8, ::1 or localhost), e.g. 127.0.0.1:0",
        )
    host = "127.0.0.1" if host == "localhost" else host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ApiError(
            400, f"listen: cannot listen on {listen}: {(exc.strerror or str(exc)).lower()}"
        ) from None
    return sock
