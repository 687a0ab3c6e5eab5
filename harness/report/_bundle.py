"""The chart library every report.html inlines: plotly.js's *basic* bundle, vendored in ``vendor/``.

plotly.js publishes partial bundles on npm. The basic one holds the scatter, bar and pie traces and
the whole layout machinery the report uses (rows sharing one time axis, log axes, shapes, annotations,
hover, legend groups): 1.19 MB, against the 4.8 MB of the full bundle that the plotly Python
package ships. No Python package ships a partial bundle, so the file is vendored, with its licence
(MIT), and fetched by this script from the npm registry with npm's own client (``npm pack``, which
checks the registry's integrity digest), never copied by hand:

    python -m paychaos.report._bundle --update   # needs npm: fetch VERSION, check it, write vendor/
    python -m paychaos.report._bundle --check    # the vendored files are the pinned ones (no network)

VERSION is the plotly.js that the plotly Python package (a dev dependency) bundles, so the tests
validate the report's figures with plotly's own schema for the very library the page runs. To move
to another version: change VERSION, run ``--update``, and put the digests it prints into DIGESTS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "plotly.js-basic-dist-min"
VERSION = "4.1.1"
VENDOR = Path(__file__).resolve().parent / "vendor"
SCRIPT = "plotly-basic.min.js"
# file in the npm package → (name in vendor/, its sha256)
DIGESTS = {
    f"package/{SCRIPT}": (SCRIPT, "99784e3abfb07b142a15e521a439e6d9addceadb3f79553fd24c72774f0649ba"),
    "package/LICENSE": ("LICENSE", "8c45d9eaf50c2f72dd9c7ab9ef440788ba58a3538484b5c51c1f17d5128752e7"),
}


def script_path() -> Path:
    return VENDOR / SCRIPT


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check() -> list[str]:
    """What is wrong with the vendored files (missing, or not the pinned bytes); [] when all is well."""
    problems = []
    for name, digest in DIGESTS.values():
        path = VENDOR / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif _sha256(path.read_bytes()) != digest:
            problems.append(f"{path} is not {PACKAGE} {VERSION}'s (sha256 differs)")
    return problems


def update(npm: str = "npm") -> dict[str, str]:
    """Fetch ``PACKAGE@VERSION`` with ``npm pack`` and write its files into vendor/; return their
    sha256 digests. Raises RuntimeError when npm fails or a file is not the pinned one."""
    with tempfile.TemporaryDirectory(prefix="paychaos-bundle-") as tmp:
        done = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", tmp],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"npm pack {PACKAGE}@{VERSION} failed: {done.stderr.strip()}")
        (packed,) = json.loads(done.stdout)
        found: dict[str, str] = {}
        with tarfile.open(Path(tmp) / packed["filename"]) as tar:
            for member, (name, pinned) in DIGESTS.items():
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise RuntimeError(f"{PACKAGE}@{VERSION} has no file {member}")
                data = extracted.read()
                found[name] = digest = _sha256(data)
                if digest != pinned:
                    print(f"{name}: sha256 {digest} (pinned: {pinned})", file=sys.stderr)
                scratch = VENDOR / f".{name}.tmp"
                VENDOR.mkdir(exist_ok=True)
                scratch.write_bytes(data)
                shutil.move(scratch, VENDOR / name)
    wrong = check()
    if wrong:
        raise RuntimeError("; ".join(wrong) + ": if VERSION changed on purpose, pin the digests above")
    return found


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--update", action="store_true", help=f"fetch {PACKAGE}@{VERSION} with npm")
    action.add_argument("--check", action="store_true", help="check the vendored files against the pins")
    args = parser.parse_args(argv)
    try:
        if args.update:
            for name, digest in update().items():
                print(f"{VENDOR / name}  sha256 {digest}")
        problems = check()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{PACKAGE} {VERSION}: vendored files match their pinned sha256")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
