"""Pieces for bench/load_capacity.py: a trivial endpoint, a bare locustfile, and a one-request scenario."""

from __future__ import annotations

import sys
from typing import Any

from paychaos.load import Context


def payment_of(body: Any) -> tuple[str | None, str | None]:
    return (body.get("id"), body.get("state")) if isinstance(body, dict) else (None, None)


def one(ctx: Context) -> None:
    ctx.request("one", "POST", "/ok", json={"n": 1}, order_id="o", key="k", amount=1)


SCENARIOS = {"one": one}


def serve(port: int) -> None:
    """The trivial endpoint: POST /ok answers a small JSON body at once (uvicorn, uvloop, httptools)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    body = b'{"id": "p-1", "state": "OK"}'

    async def ok(request: Any) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/ok", ok, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False,
                log_level="warning", timeout_keep_alive=75)  # fmt: skip


if __name__ == "__main__":
    serve(int(sys.argv[1]))
