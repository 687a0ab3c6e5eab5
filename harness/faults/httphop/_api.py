"""The control API: links and their rules, as JSON over HTTP (aiohttp), on the hop's own port.

It is the control plane (a few calls per experiment) and runs on the same event loop as the
data path, so each handler is short and never waits on a relayed request. Every error is
``{"error": "<message>"}`` with a 4xx status; the message says what to change.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from paychaos import __version__
from paychaos.faults.httphop._hub import ApiError, Hub

NAME = "paychaos-httphop"
_HUB = web.AppKey("hub", Hub)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(hub: Hub) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[_HUB] = hub
    app.router.add_get("/version", _version)
    app.router.add_get("/links", _links)
    app.router.add_post("/links", _link_create)
    app.router.add_delete("/links/{link}", _link_delete)
    app.router.add_post("/links/{link}/rules", _rule_create)
    app.router.add_delete("/links/{link}/rules/{rule}", _rule_delete)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _json({"error": exc.message}, exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = f"{exc.reason}: {request.method} {request.path}"
        if exc.status == 404:
            message += " is not part of the API (see GET /version, /links)"
        return _json({"error": message}, exc.status)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data) + "\n", content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None


async def _version(request: web.Request) -> web.Response:
    return _json({"name": NAME, "version": __version__})


async def _links(request: web.Request) -> web.Response:
    return _json(request.app[_HUB].to_json())


async def _link_create(request: web.Request) -> web.Response:
    link = await request.app[_HUB].create_link(await _body(request))
    return _json(link.to_json(), 201)


async def _link_delete(request: web.Request) -> web.Response:
    await request.app[_HUB].delete_link(request.match_info["link"])
    return web.Response(status=204)


async def _rule_create(request: web.Request) -> web.Response:
    hub = request.app[_HUB]
    hub.link(request.match_info["link"])  # 404 before complaining about the body
    state = hub.add_rule(request.match_info["link"], await _body(request))
    return _json(state.to_json(), 201)


async def _rule_delete(request: web.Request) -> web.Response:
    request.app[_HUB].remove_rule(request.match_info["link"], request.match_info["rule"])
    return web.Response(status=204)
