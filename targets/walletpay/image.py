"""Build walletpay's container image without pulling anything: ``python -m paychaos_targets.walletpay.image``.

No registry is reachable, so the image is assembled from this machine: a root filesystem holding
this Python (the interpreter from ``sys.base_prefix``, its standard library without tests, IDLE,
Tk, ensurepip and caches, ``lib-dynload``), the shared libraries ``ldd`` names for the interpreter
and every extension module taken, the dynamic loader, the distributions walletpay imports
(asyncpg, aiohttp and what they require, found with ``importlib.metadata``) and walletpay's own
code, then ``docker import``-ed as ``paychaos/walletpay:dev``.

The image carries a label with the hash of its content; a build whose content hashes the same as
the image already there does nothing (``--force`` builds anyway).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

IMAGE = "paychaos/walletpay:dev"
LABEL = "io.paychaos.walletpay.content"
PREFIX = "opt/python"  # where the interpreter lives in the image
ROOTS = ["aiohttp", "asyncpg"]  # the distributions walletpay imports
HERE = Path(__file__).resolve().parent

# Left out of the standard library: tests, IDLE, Tk, pip's bootstrap, the static library.
STDLIB_SKIP = {
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "site-packages",
    "__pycache__",
}
STDLIB_SKIP_PREFIX = ("config-",)
TEST_DIRS = {"__pycache__", "test", "tests", "idle_test"}  # at any depth
# Extension modules left out (and with them their libraries): Tk, curses, dbm, the test modules.
DYNLOAD_SKIP = re.compile(r"^(_tkinter|_curses|_curses_panel|_dbm|_gdbm|readline|_test|_ctypes_test|xx|_xx)")

ENV = {
    "PATH": f"/{PREFIX}/bin:/usr/bin:/bin",
    "LD_LIBRARY_PATH": f"/{PREFIX}/lib",
    "HOME": "/root",
    "PYTHONDONTWRITEBYTECODE": "1",  # every container copies the image (vfs): write nothing there
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class Rootfs:
    """What goes into the image: archive path → a file on this machine, a symlink, or bytes."""

    files: dict[str, Path] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    dirs: dict[str, int] = field(default_factory=dict)  # path → mode

    def add(self, arcname: str, source: Path) -> None:
        self.files.setdefault(arcname.lstrip("/"), source)

    def content_hash(self, changes: list[str]) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            source = self.files[name]
            digest.update(f"F {name} {source.stat().st_mode & 0o777:o}\n".encode())
            digest.update(hashlib.sha256(source.read_bytes()).digest())
        for name in sorted(self.links):
            digest.update(f"L {name} {self.links[name]}\n".encode())
        for name in sorted(self.data):
            digest.update(f"D {name}\n".encode() + hashlib.sha256(self.data[name]).digest())
        for name in sorted(self.dirs):
            digest.update(f"d {name} {self.dirs[name]:o}\n".encode())
        digest.update(json.dumps(changes).encode())
        return digest.hexdigest()

    def write(self, out: IO[bytes]) -> None:
        with tempfile.TemporaryDirectory() as scratch, tarfile.open(fileobj=out, mode="w") as tar:
            files = self._stripped(Path(scratch))
            for name in sorted(self._all_dirs()):
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE
                info.mode = self.dirs.get(name, 0o755)
                tar.addfile(info)
            for name in sorted(files):
                source = files[name]
                info = tarfile.TarInfo(name)
                info.size = source.stat().st_size
                info.mode = source.stat().st_mode & 0o777
                info.mtime = int(source.stat().st_mtime)
                with source.open("rb") as handle:
                    tar.addfile(info, handle)
            for name in sorted(self.data):
                info = tarfile.TarInfo(name)
                info.size = len(self.data[name])
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(self.data[name]))
            for name in sorted(self.links):
                info = tarfile.TarInfo(name)
                info.type = tarfile.SYMTYPE
                info.linkname = self.links[name]
                tar.addfile(info)

    def _stripped(self, scratch: Path) -> dict[str, Path]:
        """The files, shared objects without their debugging sections (a fifth of the size)."""
        strip = shutil.which("strip")
        files = dict(self.files)
        elves = [name for name, source in files.items() if _is_elf(source)]
        if strip is None or not elves:
            return files
        for number, name in enumerate(elves):
            copy = scratch / f"{number}-{Path(name).name}"
            shutil.copy2(files[name], copy)
            files[name] = copy
        subprocess.run([strip, "--strip-debug", *(str(files[n]) for n in elves)], check=True)
        return files

    def _all_dirs(self) -> set[str]:
        dirs = set(self.dirs)
        for name in [*self.files, *self.links, *self.data]:
            parent = os.path.dirname(name)
            while parent:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        return dirs

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files.values()) + sum(len(d) for d in self.data.values())


def stdlib(rootfs: Rootfs) -> list[Path]:
    """The interpreter and its standard library; answers the ELF files that need their libraries."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = (base / "bin" / version).resolve()
    rootfs.add(f"{PREFIX}/bin/{version}", interpreter)
    rootfs.links[f"{PREFIX}/bin/python3"] = version
    rootfs.links[f"{PREFIX}/bin/python"] = version
    elves = [interpreter]  # a shared libpython comes with its libraries (ldd)
    lib = base / "lib" / version
    for path in sorted(_walk(lib)):
        relative = path.relative_to(lib)
        top = relative.parts[0]
        if top in STDLIB_SKIP or top.startswith(STDLIB_SKIP_PREFIX) or "__pycache__" in relative.parts:
            continue
        if relative.parts[0] == "lib-dynload":
            if DYNLOAD_SKIP.match(path.name):
                continue
            elves.append(path)
        if path.suffix in (".pyc", ".pyo", ".exe"):
            continue
        rootfs.add(f"{PREFIX}/lib/{version}/{relative}", path)
    return elves


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        top = Path(folder) == root
        dirs[:] = [
            d
            for d in dirs
            if d not in TEST_DIRS and not (top and (d in STDLIB_SKIP or d.startswith(STDLIB_SKIP_PREFIX)))
        ]
        for name in names:
            path = Path(folder) / name
            if path.is_file():
                yield path


def distributions(roots: Iterable[str]) -> list[metadata.Distribution]:
    """The distributions ``roots`` need, with what they require in this Python (markers evaluated)."""
    seen: dict[str, metadata.Distribution] = {}
    pending = list(roots)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return sorted(seen.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def site_packages(rootfs: Rootfs, dists: list[metadata.Distribution]) -> list[Path]:
    """Each distribution's installed files (no caches, nothing outside site-packages)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = f"{PREFIX}/lib/{version}/site-packages"
    elves = []
    for dist in dists:
        for entry in dist.files or []:
            parts = Path(str(entry)).parts
            if parts[0] == ".." or "__pycache__" in parts or entry.suffix == ".pyc":
                continue
            source = Path(str(dist.locate_file(entry))).resolve()
            if not source.is_file():
                continue
            rootfs.add(f"{target}/{entry}", source)
            if ".so" in source.suffixes:
                elves.append(source)
    # walletpay itself, under its import name (paychaos_targets.walletpay), without tests or files
    rootfs.add(f"{target}/paychaos_targets/__init__.py", HERE.parent / "__init__.py")
    for source in sorted(HERE.glob("*.py")):
        rootfs.add(f"{target}/paychaos_targets/walletpay/{source.name}", source)
    return elves


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


LDD_LINE = re.compile(r"^\s*(?:(\S+)\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def shared_libraries(rootfs: Rootfs, elves: list[Path]) -> None:
    """Every library ``ldd`` resolves for ``elves``, at the path it resolves to, and the loader."""
    base = Path(sys.base_prefix).resolve()
    for elf in elves:
        answer = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=False)
        if answer.returncode != 0:
            continue  # "not a dynamic executable": nothing to add
        for line in answer.stdout.splitlines():
            if "not found" in line:
                raise SystemExit(f"walletpay image: {elf} needs a library this machine lacks: {line.strip()}")
            match = LDD_LINE.match(line)
            if match is None:
                continue
            path = Path(match.group(2))
            if path.resolve().is_relative_to(base):
                rootfs.add(f"{PREFIX}/lib/{path.name}", path.resolve())
            else:
                rootfs.add(str(path), path.resolve())  # at the path the loader looks for it


def assemble() -> Rootfs:
    rootfs = Rootfs()
    elves = stdlib(rootfs)
    elves += site_packages(rootfs, distributions(ROOTS))
    shared_libraries(rootfs, elves)
    rootfs.data["etc/passwd"] = b"root:x:0:0:root:/root:/bin/false\n"
    rootfs.data["etc/group"] = b"root:x:0:\n"
    rootfs.dirs["tmp"] = 0o1777
    rootfs.dirs["root"] = 0o700
    return rootfs


def changes(content: str) -> list[str]:
    return [
        *(f"ENV {key}={value}" for key, value in ENV.items()),
        "WORKDIR /",
        'CMD ["python", "-m", "paychaos_targets.walletpay", "--help"]',
        f"LABEL {LABEL}={content}",
    ]


def existing_content(image: str) -> str | None:
    answer = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        return None
    labels = json.loads(answer.stdout or "null") or {}
    value = labels.get(LABEL)
    return value if isinstance(value, str) else None


def _image_id(image: str) -> str | None:
    answer = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    return answer.stdout.strip() or None if answer.returncode == 0 else None


def build(image: str = IMAGE, *, force: bool = False, quiet: bool = False) -> str:
    """Build ``image`` unless one with the same content is there; answer its content hash."""
    started = time.monotonic()
    rootfs = assemble()
    base_changes = changes("")
    content = rootfs.content_hash(base_changes)

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    if not force and existing_content(image) == content:
        say(f"{image} is up to date (content {content[:12]})")
        return content
    say(f"building {image}: {len(rootfs.files)} files, {rootfs.size() / 2**20:.1f} MiB")
    previous = _image_id(image)
    with tempfile.TemporaryFile() as tar:
        rootfs.write(tar)
        tar.seek(0)
        command = ["docker", "import"]
        for change in changes(content):
            command += ["--change", change]
        subprocess.run([*command, "-", image], stdin=tar, check=True, stdout=subprocess.DEVNULL)
    if previous is not None and previous != _image_id(image):  # untagged now; a container may still use it
        subprocess.run(["docker", "image", "rm", previous], capture_output=True, check=False)
    say(f"built {image} (content {content[:12]}) in {time.monotonic() - started:.1f}s")
    return content


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m paychaos_targets.walletpay.image", description=__doc__)
    parser.add_argument("--tag", default=IMAGE)
    parser.add_argument(
        "--force", action="store_true", help="build even if an image with this content exists"
    )
    parser.add_argument("--list", action="store_true", help="print what would go in, and build nothing")
    args = parser.parse_args(argv)
    if args.list:
        rootfs = assemble()
        for name in sorted([*rootfs.files, *rootfs.links, *rootfs.data]):
            print(name)
        print(f"{len(rootfs.files)} files, {rootfs.size() / 2**20:.1f} MiB", file=sys.stderr)
        return
    build(args.tag, force=args.force)


if __name__ == "__main__":
    main()
