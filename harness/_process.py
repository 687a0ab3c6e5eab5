"""Small process and socket helpers shared by the embedded PostgreSQL and the service supervisor."""

from __future__ import annotations

import ctypes
import random
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def parent_death_signal(sig: signal.Signals) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when its parent dies.

    This is what keeps a SIGKILLed harness from leaving services or PostgreSQL
    running. Python runs ``preexec_fn`` after switching ``user=``, so the setting
    survives the credential change.
    """

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now, outside the ephemeral range.

    A port handed out for binding ``:0`` or for an outgoing connection comes from
    the kernel's ephemeral range; a port we choose now and listen on a moment
    later must not come from there, or a proxy listener or a client connection
    opened in between can take it.
    """
    low, high = _ports_to_choose_from()
    for _ in range(200):
        port = _random.randrange(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port found on {host} between {low} and {high}")


_random = random.Random()


def _ports_to_choose_from() -> tuple[int, int]:
    try:
        first, last = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        first, last = 32768, 60999  # Linux's default ephemeral range
    if first - 10000 >= 5000:
        return 10000, first
    return last + 1, 65536


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something listens on the port (connections lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def stop_child(process: subprocess.Popen[bytes], grace: float = 5) -> None:
    """SIGTERM a child the harness started, and SIGKILL it if it has not ended ``grace`` s later."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
