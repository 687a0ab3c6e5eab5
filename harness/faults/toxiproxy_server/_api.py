"""Toxiproxy 2.x's HTTP API (paths, JSON shapes, status codes) on aiohttp's web server.

Why aiohttp rather than a hand-rolled HTTP/1.1 handler: it is already a paychaos
dependency, it is well maintained, and it gets the parts a small handler would
get subtly wrong (keep-alive, chunked bodies, pipelining, slow or broken
clients) right. The API is the control plane, a few requests per experiment, so
its per-request cost does not matter; the data path in ``_connection.py``
never touches it.

Like Toxiproxy, requests whose User-Agent starts with ``Mozilla/`` are refused
(403), so that a web page cannot drive the API from a developer's browser, and
every response carries an ``X-Toxiproxy-Request-Id`` header.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from paychaos.faults.toxiproxy_server._errors import ApiError, bad_request_body, missing_field
from paychaos.faults.toxiproxy_server._metrics import Metrics
from paychaos.faults.toxiproxy_server._proxy import Proxy
from paychaos.faults.toxiproxy_server._registry import PopulateError, ProxySpec, Registry

#: The Toxiproxy release whose API this server speaks; ``GET /version`` reports it.
API_VERSION = "2.12.0"

# Toxiproxy would bind every interface for a proxy created without "listen"; here the
# default stays on loopback, which the listening policy requires anyway.
DEFAULT_LISTEN = "127.0.0.1:0"

_REGISTRY = web.AppKey("registry", Registry)
_METRICS = web.AppKey("metrics", Metrics)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(registry: Registry, metrics: Metrics | None = None) -> web.Application:
    app = web.Application(middlewares=[_refuse_browsers, _api_errors])
    app[_REGISTRY] = registry
    app.on_response_prepare.append(_stamp_request_id)
    app.router.add_get("/proxies", _proxy_index)
    app.router.add_post("/proxies", _proxy_create)
    app.router.add_post("/populate", _populate)
    app.router.add_get("/proxies/{proxy}", _proxy_show)
    app.router.add_post("/proxies/{proxy}", _proxy_update)
    app.router.add_patch("/proxies/{proxy}", _proxy_update)
    app.router.add_delete("/proxies/{proxy}", _proxy_delete)
    app.router.add_get("/proxies/{proxy}/toxics", _toxic_index)
    app.router.add_post("/proxies/{proxy}/toxics", _toxic_create)
    app.router.add_get("/proxies/{proxy}/toxics/{toxic}", _toxic_show)
    app.router.add_post("/proxies/{proxy}/toxics/{toxic}", _toxic_update)
    app.router.add_patch("/proxies/{proxy}/toxics/{toxic}", _toxic_update)
    app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", _toxic_delete)
    app.router.add_post("/reset", _reset)
    app.router.add_get("/version", _version)
    if metrics is not None and metrics.enabled:
        # Toxiproxy serves /metrics only when some metrics are enabled: a 404 otherwise.
        app[_METRICS] = metrics
        app.router.add_route("*", "/metrics", _metrics)
    return app


# Toxiproxy's request ids are xids: 12 bytes (seconds, machine, pid, counter) in 20 base32hex digits.
_MACHINE = os.urandom(3)
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


def new_request_id() -> str:
    raw = (
        int(time.time()).to_bytes(4, "big")
        + _MACHINE
        + (os.getpid() & 0xFFFF).to_bytes(2, "big")
        + (next(_COUNTER) & 0xFFFFFF).to_bytes(3, "big")
    )
    return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


async def _stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Toxiproxy-Request-Id"] = new_request_id()


@web.middleware
async def _refuse_browsers(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return web.Response(status=403, text="User agent not allowed\n")
    return await handler(request)


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PopulateError as exc:
        return _json(exc.to_json() | {"proxies": _proxy_list(exc.applied)}, exc.status)
    except ApiError as exc:
        return _json(exc.to_json(), exc.status)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data) + "\n", content_type="application/json")


def _proxy_list(proxies: Iterable[Proxy]) -> list[dict[str, Any]] | None:
    # Go marshals the empty list populate builds as null: {"proxies": null}.
    return [p.to_json() for p in proxies] or None


def _no_content() -> web.Response:
    return web.Response(status=204)


async def _body(request: web.Request) -> Any:
    return _decode(await request.read())


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        raise bad_request_body("EOF")  # what Go's decoder says about an empty body
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request_body(str(exc)) from None


def _string(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request_body(f"{key} must be a string")
    return value


def _boolean(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request_body(f"{key} must be a boolean")
    return value


def _proxy_fields(body: Any, where: str = "") -> ProxySpec:
    """A proxy's fields, type-checked (a 400 as Go's JSON decoding would give); none required yet."""
    if not isinstance(body, dict):
        raise bad_request_body(f"expected a JSON object{where}")
    return ProxySpec(
        _string(body, "name", ""),
        _string(body, "listen", "") or DEFAULT_LISTEN,
        _string(body, "upstream", ""),
        _boolean(body, "enabled", True),
    )


def _require(spec: ProxySpec, where: str = "") -> ProxySpec:
    if not spec.name:
        raise missing_field(f"name{where}")
    if not spec.upstream:
        raise missing_field(f"upstream{where}")
    return spec


def _registry(request: web.Request) -> Registry:
    return request.app[_REGISTRY]


async def _proxy_index(request: web.Request) -> web.Response:
    return _json({p.name: p.to_json() for p in _registry(request).all()})


async def _proxy_create(request: web.Request) -> web.Response:
    registry = _registry(request)
    spec = _require(_proxy_fields(await _body(request)))
    async with registry.lock:
        proxy = await registry.create(spec)
    return _json(proxy.to_json(), 201)


async def _populate(request: web.Request) -> web.Response:
    registry = _registry(request)
    try:
        body = await _body(request)
        if not isinstance(body, list):
            raise bad_request_body("expected a JSON array of proxies")
        # As in Toxiproxy: the whole body decodes first, then each entry's required fields.
        specs = [_proxy_fields(item, f" at proxy {i}") for i, item in enumerate(body, start=1)]
        specs = [_require(spec, f" at proxy {i}") for i, spec in enumerate(specs, start=1)]
    except ApiError as exc:
        raise PopulateError(exc, []) from None
    async with registry.lock:
        proxies = await registry.populate(specs)
    return _json({"proxies": _proxy_list(proxies)}, 201)


async def _proxy_show(request: web.Request) -> web.Response:
    return _json(_registry(request).get(request.match_info["proxy"]).to_json())


async def _proxy_update(request: web.Request) -> web.Response:
    registry = _registry(request)
    raw = await request.read()  # read before locking: a slow client must not stall the API
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        body = _decode(raw)
        if not isinstance(body, dict):
            raise bad_request_body("expected a JSON object")
        await registry.update(
            proxy,
            listen=_string(body, "listen", proxy.listen),
            upstream=_string(body, "upstream", proxy.upstream),
            enabled=_boolean(body, "enabled", proxy.enabled),
        )
    return _json(proxy.to_json())


async def _proxy_delete(request: web.Request) -> web.Response:
    registry = _registry(request)
    async with registry.lock:
        registry.delete(request.match_info["proxy"])
    return _no_content()


async def _toxic_index(request: web.Request) -> web.Response:
    proxy = _registry(request).get(request.match_info["proxy"])
    return _json([toxic.to_json() for toxic in proxy.all_toxics()])


async def _toxic_create(request: web.Request) -> web.Response:
    registry = _registry(request)
    raw = await request.read()
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        toxic = registry.add_toxic(proxy, _decode(raw))
    return _json(toxic.to_json())


async def _toxic_show(request: web.Request) -> web.Response:
    registry = _registry(request)
    proxy = registry.get(request.match_info["proxy"])
    return _json(registry.get_toxic(proxy, request.match_info["toxic"]).to_json())


async def _toxic_update(request: web.Request) -> web.Response:
    registry = _registry(request)
    raw = await request.read()
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        toxic = registry.update_toxic(proxy, request.match_info["toxic"], _decode(raw))
    return _json(toxic.to_json())


async def _toxic_delete(request: web.Request) -> web.Response:
    registry = _registry(request)
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        registry.remove_toxic(proxy, request.match_info["toxic"])
    return _no_content()


async def _reset(request: web.Request) -> web.Response:
    registry = _registry(request)
    async with registry.lock:
        await registry.reset()
    return _no_content()


async def _metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[_METRICS].exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def _version(request: web.Request) -> web.Response:
    return web.Response(
        text=json.dumps({"version": API_VERSION}) + "\n",
        content_type="application/json",
        charset="utf-8",
    )
