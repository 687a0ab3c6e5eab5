"""``python -m paychaos.faults.httphop --port 0 --journal PATH``: run an HTTP fault hop until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from paychaos.faults.httphop._server import HopServer, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m paychaos.faults.httphop",
        description="HTTP/1.1 fault hop: relays requests to an upstream and applies rules to them.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="control API address, loopback only (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="control API port; 0 picks one (default 0)")
    parser.add_argument(
        "--journal", type=Path, required=True, help="append a JSON line here per request a rule acts on"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    def ready(server: HopServer) -> None:
        # One parseable line, so that the parent learns the port it asked 0 for.
        print(f"httphop listening on {server.url}", flush=True)

    try:
        serve(args.host, args.port, journal=args.journal, on_ready=ready)
    except (OSError, ValueError) as exc:
        print(f"httphop: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
