"""PostgreSQL for a target: embedded (the ``pgserver`` wheel's binaries) or an existing server.

The embedded server listens on a loopback TCP port only (no Unix socket), so the
link from a service to its database can be routed through a fault proxy like
any other link. It runs as a child process that dies with the harness
(``PR_SET_PDEATHSIG``), so a killed harness leaves no PostgreSQL behind.

>>> with EmbeddedPostgres() as pg:                       # doctest: +SKIP
...     pg.create_databases(["bank"])
...     dsn = pg.dsn("bank")
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import psutil

from harness._process import free_port, parent_death_signal, tail
from harness.errors import InfrastructureError, InvalidInput

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
}


@dataclass(frozen=True)
class Server:
    """Where a PostgreSQL server is and how to log in; what services and invariants need."""

    host: str
    port: int
    user: str
    password: str | None = None

    def dsn(self, database: str, *, host: str | None = None, port: int | None = None) -> str:
        """A DSN for ``database``; ``host``/``port`` override the address (e.g. a proxy's)."""
        auth = quote(self.user) + (f":{quote(self.password)}" if self.password else "")
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
            (scratch / "owner").write_text(str(os.getpid()))
            self._data_dir = scratch / "data"
        data = self._data_dir
        if not (data / "PG_VERSION").exists():
            _copy_template(bindir, user, data)
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
        self.server = Server("127.0.0.1", port, "postgres")
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
    """Delete temporary data directories whose owner died without cleaning up (e.g. SIGKILL)."""
    for scratch in Path(tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}*"):
        try:
            owner = int((scratch / "owner").read_text())
        except (OSError, ValueError):
            continue
        if not psutil.pid_exists(owner):
            shutil.rmtree(scratch, ignore_errors=True)


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
                user=user, capture_output=True, text=True, check=False,
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
