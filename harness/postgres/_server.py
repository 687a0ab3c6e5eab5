"""PostgreSQL for a target: embedded (the ``pgserver`` wheel's binaries) or an existing server.

The embedded server listens on a loopback TCP port only (no Unix socket), so the
link from a service to its database can be routed through a fault proxy like
any other link. Every login needs a password (scram-sha-256): the superuser's
is drawn afresh at each start and travels only in the DSNs the harness hands
out, so another local user cannot log in. It runs as a child process that dies
with the harness (``PR_SET_PDEATHSIG``), so a killed harness leaves no
PostgreSQL behind.

>>> with EmbeddedPostgres() as pg:                       # doctest: +SKIP
...     pg.create_databases(["bank"])
...     dsn = pg.dsn("bank")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import hmac
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import psutil

from paychaos._ownership import Stamp, record_process, wait_ended
from paychaos._process import free_port, parent_death_signal, tail
from paychaos.errors import InfrastructureError, InvalidInput

# PostgreSQL refuses to run as root; when paychaos runs as root it runs the
# server as this unprivileged system user.
SERVICE_USER = "paychaos"

# Settings for a disposable test server: durable enough to survive a killed
# service (WAL is still written), fast enough for peak-load experiments.
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "400",
    "shared_buffers": "256MB",
    "synchronous_commit": "off",
    "fsync": "on",
    "full_page_writes": "off",
    "log_min_messages": "warning",
    "log_statement": "none",
    "password_encryption": "scram-sha-256",
}

# Written over the template's (initdb's ``trust``) at every start. There is no
# Unix socket, so these lines are every way in: each login needs its password.
_HBA = """\
# paychaos: every login is over loopback TCP and needs its role's password.
host    all    all    127.0.0.1/32    scram-sha-256
host    all    all    ::1/128         scram-sha-256
"""


@dataclass(frozen=True)
class Server:
    """Where a PostgreSQL server is and how to log in; what services and invariants need."""

    host: str
    port: int
    user: str
    password: str | None = field(default=None, repr=False)

    def dsn(
        self, database: str, *, host: str | None = None, port: int | None = None, secret: bool = True
    ) -> str:
        """A DSN for ``database``; ``host``/``port`` override the address (e.g. a proxy's).

        ``secret=False`` leaves the password out, for a DSN that others may see
        (a command line); the client then takes it from ``PGPASSWORD``.
        """
        auth = quote(self.user) + (f":{quote(self.password)}" if self.password and secret else "")
        return f"postgresql://{auth}@{host or self.host}:{port or self.port}/{quote(database)}"

    def create_databases(self, names: list[str]) -> None:
        """Create each database that does not exist yet."""
        asyncio.run(self._create(names))

    def drop_databases(self, names: list[str]) -> None:
        asyncio.run(self._drop(names))

    async def _admin(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(self.dsn("postgres"), timeout=10)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise InfrastructureError(
                f"cannot connect to PostgreSQL at {self.host}:{self.port} as {self.user!r}: {exc}"
            ) from exc

    async def _create(self, names: list[str]) -> None:
        conn = await self._admin()
        try:
            existing = {r[0] for r in await conn.fetch("SELECT datname FROM pg_database")}
            for name in names:
                if name not in existing:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.PostgresError as exc:
            raise InfrastructureError(f"cannot create databases {names}: {exc}") from exc
        finally:
            await conn.close()

    async def _drop(self, names: list[str]) -> None:
        conn = await self._admin()
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def external(url: str) -> Server:
    """A server given as ``postgresql://user[:password]@host[:port][/db]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise InvalidInput(f"--db {url!r}: expected a URL like postgresql://user:password@127.0.0.1:5432")
    return Server(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
    )


class EmbeddedPostgres:
    """A private PostgreSQL server on 127.0.0.1, started from the pgserver wheel's binaries."""

    def __init__(self, data_dir: Path | None = None, port: int = 0, log_path: Path | None = None):
        self._keep_data = data_dir is not None
        self._data_dir = data_dir
        self._port = port
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self.server: Server | None = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> Server:
        bindir = _binaries()
        user = _service_user()
        if self._data_dir is None:
            _remove_abandoned()
            scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX))
            scratch.chmod(0o711)  # the server's user must reach data/ inside it
            Stamp.me().write(scratch / "owner")  # pid and start time: a recycled pid is not the owner
            self._data_dir = scratch / "data"
        data = self._data_dir
        if not (data / "PG_VERSION").exists():
            _copy_template(bindir, user, data)
        password = _require_passwords(bindir, user, data)
        log_path = self._log_path or data / "postgres.log"
        for attempt in range(3):
            port = self._port or free_port()
            try:
                self._launch(bindir, user, data, port, log_path)
                break
            except _PortTaken:
                if self._port or attempt == 2:
                    raise InfrastructureError(
                        f"PostgreSQL could not listen on 127.0.0.1:{port}: the port is in use"
                    ) from None
        if self._proc is not None:  # in the run's ledger: a killed run's server and data are removed
            record_process("postgres", "postgres", self._proc.pid, stop_signal="SIGINT",
                           remove=None if self._keep_data else data.parent)  # fmt: skip
        self.server = Server("127.0.0.1", port, "postgres", password)
        return self.server

    def _launch(self, bindir: Path, user: str | None, data: Path, port: int, log: Path) -> None:
        args = [str(bindir / "postgres"), "-D", str(data), "-p", str(port)]
        for name, value in _SERVER_SETTINGS.items():
            args += ["-c", f"{name}={value}"]
        with open(log, "ab") as out:
            if user:
                with contextlib.suppress(OSError):
                    os.chown(log, *_ids(user))
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=user,
                group=_ids(user)[1] if user else None,
                extra_groups=[] if user else None,
                start_new_session=True,
                preexec_fn=parent_death_signal(signal.SIGINT),
            )
        deadline = time.monotonic() + 30
        pidfile = data / "postmaster.pid"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                text = tail(log)
                self._proc = None
                if "could not bind" in text or "Address already in use" in text:
                    raise _PortTaken
                raise InfrastructureError(f"PostgreSQL exited while starting; its log ends:\n{text}")
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            time.sleep(0.02)
        self.stop()
        raise InfrastructureError(f"PostgreSQL did not become ready in 30s; its log ends:\n{tail(log)}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL if it lingers; remove a temporary data dir."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if not self._keep_data and self._data_dir is not None:
            shutil.rmtree(self._data_dir.parent, ignore_errors=True)
            self._data_dir = None


class _PortTaken(Exception):
    pass


_SCRATCH_PREFIX = "paychaos-pg-"


def _remove_abandoned() -> None:
    """Delete temporary data directories whose owner died without cleaning up (e.g. SIGKILL).

    The owner is named by pid and start time, so a pid given to another process since does not
    keep a directory forever. A server still running from one is stopped first.
    """
    for scratch in Path(tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}*"):
        owner = Stamp.read(scratch / "owner")
        if owner is None or owner.alive():
            continue
        _stop_server_of(scratch / "data")
        shutil.rmtree(scratch, ignore_errors=True)


def _stop_server_of(data: Path) -> None:
    """Stop a server still running from ``data``: its pid is in postmaster.pid, and its command line
    names the directory (which tells it from a process given the same pid since)."""
    try:
        server = psutil.Process(int((data / "postmaster.pid").read_text().split()[0]))
        if str(data) not in server.cmdline():
            return
    except (OSError, ValueError, IndexError, psutil.Error):
        return  # none is running
    with contextlib.suppress(psutil.Error):
        server.send_signal(signal.SIGINT)  # fast shutdown
        if wait_ended([server], 15):
            server.kill()


def _binaries() -> Path:
    """The pgserver wheel's bin directory, staged where an unprivileged user can run it."""
    # Found without importing pgserver: its import has side effects (lock files, warnings).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise InfrastructureError(
            "the embedded PostgreSQL needs the 'pgserver' package: pip install pgserver "
            "(or pass --db postgresql://… to use an existing server)"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    bindir = package / "pginstall" / "bin"
    if os.geteuid() != 0:
        return bindir
    # As root, the server runs as SERVICE_USER, who may not be able to reach a
    # virtualenv inside a private directory: run a world-readable copy instead.
    # The binaries find their libraries at $ORIGIN/../../../pgserver.libs, so the
    # copy keeps that layout.
    staged = _cache() / f"paychaos-pginstall-{_fingerprint(bindir)}"
    with _locked(staged.with_suffix(".lock")):
        if not (staged / "pgserver" / "pginstall" / "bin" / "postgres").exists():
            scratch = staged.with_name(staged.name + f".{os.getpid()}")
            shutil.copytree(package / "pginstall", scratch / "pgserver" / "pginstall", symlinks=True)
            shutil.copytree(package.parent / "pgserver.libs", scratch / "pgserver.libs", symlinks=True)
            for path in [scratch, *scratch.rglob("*")]:
                path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
            scratch.rename(staged)
    return staged / "pgserver" / "pginstall" / "bin"


def _copy_template(bindir: Path, user: str | None, data: Path) -> None:
    """Fill ``data`` from a cached ``initdb`` result; initdb itself runs once per machine."""
    owner = user or str(os.getuid())
    template = _cache() / f"paychaos-pgtemplate-{_fingerprint(bindir)}-{owner}"
    with _locked(template.with_suffix(".lock")):
        if not (template / "PG_VERSION").exists():
            scratch = template.with_name(template.name + f".{os.getpid()}")
            scratch.mkdir(mode=0o700)
            if user:
                os.chown(scratch, *_ids(user))
            result = subprocess.run(
                [str(bindir / "initdb"), "-D", str(scratch), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync"],
                user=user, group=_ids(user)[1] if user else None, extra_groups=[] if user else None,
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                shutil.rmtree(scratch, ignore_errors=True)
                raise InfrastructureError(f"initdb failed:\n{result.stderr or result.stdout}")
            scratch.rename(template)
    if data.exists():
        data.rmdir()
    shutil.copytree(template, data, symlinks=True)
    data.chmod(0o700)
    if user:
        uid, gid = _ids(user)
        for path in [data, *data.rglob("*")]:
            os.chown(path, uid, gid, follow_symlinks=False)


def _require_passwords(bindir: Path, user: str | None, data: Path) -> str:
    """Make every login need a password, and set a fresh one for the superuser; return it.

    The template was initdb'd with ``trust`` (it is cached, so it cannot hold a
    per-server secret). Before the server listens, pg_hba.conf is rewritten and
    the password is set in single-user mode, which opens no socket at all: there
    is no moment at which a password-less login could get in.
    """
    hba = data / "pg_hba.conf"
    hba.write_text(_HBA)
    hba.chmod(0o600)
    if user:
        os.chown(hba, *_ids(user))
    password = secrets.token_hex(24)
    script = f"ALTER ROLE postgres PASSWORD '{scram_verifier(password)}'\n"
    try:
        result = subprocess.run(
            [str(bindir / "postgres"), "--single", "-D", str(data), "-c", "listen_addresses=",
             "-c", "unix_socket_directories=", "-c", "log_min_messages=warning", "postgres"],
            input=script, user=user, group=_ids(user)[1] if user else None,
            extra_groups=[] if user else None, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"cannot set the PostgreSQL superuser's password in {data}: {exc}") from exc
    failed = [line for line in result.stderr.splitlines() if "ERROR:" in line or "FATAL:" in line]
    if result.returncode != 0 or failed:
        raise InfrastructureError(
            f"cannot set the PostgreSQL superuser's password in {data} (single-user mode exited "
            f"{result.returncode}):\n{chr(10).join(failed) or result.stderr[-2000:]}"
        )
    return password


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a scram-sha-256 ``password`` (RFC 5802, 7677).

    ``ALTER ROLE … PASSWORD '<verifier>'`` sets the password without sending it:
    a server that logs statements never writes it down.
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = [base64.b64encode(b).decode() for b in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${iterations}:{b64[0]}${b64[1]}:{b64[2]}"


def _service_user() -> str | None:
    """None when not root; otherwise the unprivileged user to run PostgreSQL as (created once)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        try:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                check=True, capture_output=True,
            )  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as exc:
            raise InfrastructureError(
                f"PostgreSQL will not run as root and the user {SERVICE_USER!r} could not be "
                f"created ({exc}); create it, run paychaos as a normal user, or pass --db"
            ) from exc
    return SERVICE_USER


def _cache() -> Path:
    return Path(tempfile.gettempdir())


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _fingerprint(path: Path) -> str:
    version = (path / "postgres").stat().st_mtime_ns
    return hashlib.sha256(f"{path}:{version}".encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
