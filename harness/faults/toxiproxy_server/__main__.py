"""``python -m paychaos.faults.toxiproxy_server``: run the fault proxy until interrupted."""

from __future__ import annotations

import argparse
import logging
import sys

from paychaos.faults.toxiproxy_server._server import DEFAULT_PORT, ToxiproxyServer, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m paychaos.faults.toxiproxy_server",
        description="Toxiproxy-compatible TCP fault proxy (loopback only unless allowed).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"API port; 0 picks one (default {DEFAULT_PORT})",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for toxicity, jitter, slicing")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow listeners on non-loopback addresses (forbidden by default)",
    )
    parser.add_argument(
        "--proxy-metrics",
        action="store_true",
        help="serve per-proxy Prometheus metrics at /metrics (bytes, connections)",
    )
    parser.add_argument(
        "--runtime-metrics",
        action="store_true",
        help="serve the process's Prometheus metrics at /metrics",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log connection events")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    def ready(server: ToxiproxyServer) -> None:
        # One parseable line, so a parent process can learn the port it asked 0 for.
        print(f"toxiproxy_server listening on {server.url}", flush=True)

    try:
        serve(
            args.host,
            args.port,
            seed=args.seed,
            allow_non_loopback=args.allow_non_loopback,
            proxy_metrics=args.proxy_metrics,
            runtime_metrics=args.runtime_metrics,
            on_ready=ready,
        )
    except (OSError, ValueError) as exc:
        print(f"toxiproxy_server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
