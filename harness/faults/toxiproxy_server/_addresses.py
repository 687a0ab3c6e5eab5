"""``host:port`` strings as Toxiproxy writes them, and the loopback-only listening policy.

This workplace forbids listeners on anything but loopback, so every address this
server binds (the API's and each proxy's) goes through :func:`resolve_listen`,
which refuses a non-loopback address unless the server was created with
``allow_non_loopback=True``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

from paychaos.faults.toxiproxy_server._errors import ApiError

SockAddr = tuple[Any, ...]


def split_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:80"`` → ``("127.0.0.1", 80)``; ``"[::1]:80"`` → ``("::1", 80)``.

    An empty host (``":80"``) means every interface, as in Go. Raises ValueError.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"address {text}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"address {text}: too many colons in address")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"address {text}: invalid port")
    return host, int(port_text)


def format_address(sockaddr: SockAddr) -> str:
    """A socket address as Go's ``net.Addr.String()`` shows it."""
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def resolve_listen(text: str, *, allow_non_loopback: bool) -> tuple[socket.AddressFamily, SockAddr]:
    """Where to bind for ``text``; ApiError 400 if the policy forbids it, 500 if unusable.

    Toxiproxy answers 500 for any listen error, so unusable addresses do too;
    the loopback refusal is this server's own rule and is a 400.
    """
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ApiError(500, f"listen tcp: {exc}") from None
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ApiError(500, f"listen tcp {text}: lookup {host}: {exc.strerror or exc}") from None
    if not infos:
        raise ApiError(500, f"listen tcp {text}: lookup {host}: no such host")
    # Go listens on the first IPv4 address a name resolves to, if it has one (localhost: 127.0.0.1).
    family, _, _, _, sockaddr = next((i for i in infos if i[0] == socket.AF_INET), infos[0])
    if not allow_non_loopback and not is_loopback(str(sockaddr[0])):
        raise ApiError(
            400,
            f"listen address {text!r} is not a loopback address: this server only listens on "
            "loopback (127.0.0.0/8 or ::1); create it with allow_non_loopback=True to allow others",
        )
    return family, sockaddr


async def resolve_tcp_addr(text: str) -> str:
    """``text`` as Go's ``net.ResolveTCPAddr("tcp", text).String()`` shows it: ``localhost:80``
    is ``127.0.0.1:80``, ``:80`` stays ``:80``. ApiError 500 with Go's message if it cannot.

    Toxiproxy compares a proxy's new ``listen`` with the bound one this way, so that naming
    the same address differently does not restart a proxy.
    """
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ApiError(500, str(exc)) from None
    if not host:
        return f":{port}"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return format_address((host, port))
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ApiError(500, f"lookup {host}: {exc.strerror or exc}") from None
    if not infos:
        raise ApiError(500, f"lookup {host}: no such host")
    return format_address(next((i for i in infos if i[0] == socket.AF_INET), infos[0])[4])


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def shown_as_go(text: str, sockaddr: SockAddr) -> str:
    """How Go's ``net.Listen`` names the address in an error: resolved (``localhost:80`` is
    ``127.0.0.1:80``), except that an empty host stays empty (``:80``)."""
    if text.rpartition(":")[0] == "":
        return f":{sockaddr[1]}"
    return format_address(sockaddr)


def bind_listener(family: socket.AddressFamily, sockaddr: SockAddr, shown: str) -> socket.socket:
    """A listening, non-blocking socket; ApiError 500 with Go's wording if the bind fails.

    ``shown`` is the address as the error names it (see :func:`shown_as_go`).
    """
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Go sets SO_REUSEADDR on listeners; without it a re-enabled proxy could not take its
        # port back while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise ApiError(500, f"listen tcp {shown}: bind: {reason}") from None
    return sock
