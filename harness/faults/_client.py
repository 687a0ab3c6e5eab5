"""The one client the harness uses to talk to any Toxiproxy backend (real or embedded).

>>> api = ToxiproxyClient("http://127.0.0.1:8474")            # doctest: +SKIP
>>> api.create_proxy("gateway_bank", "127.0.0.1:0", "127.0.0.1:8103")["listen"]
'127.0.0.1:40123'
>>> api.add_toxic("gateway_bank", "latency", {"latency": 800}, name="slow-bank")
"""

from __future__ import annotations

from typing import Any

import httpx

from paychaos.faults._api_client import ApiRefused, JsonApiClient


class ToxiproxyError(ApiRefused):
    """The Toxiproxy API refused a request; ``status`` is its HTTP status."""


class ToxiproxyClient(JsonApiClient):
    name = "Toxiproxy"
    refused = ToxiproxyError

    def version(self) -> str:
        reply = self._http.get("/version")
        reply.raise_for_status()
        try:
            return str(reply.json().get("version", reply.text))
        except ValueError:
            return reply.text.strip()

    def reachable(self) -> bool:
        try:
            self.version()
        except httpx.HTTPError:
            return False
        return True

    def metrics(self) -> str | None:
        """The ``/metrics`` page (Prometheus text), on this client's connection; None if it serves
        none (a server started without metrics answers 404)."""
        reply = self._http.get("/metrics")
        return reply.text if reply.status_code == 200 else None

    # -- proxies -----------------------------------------------------------------------
    def proxies(self) -> dict[str, dict[str, Any]]:
        return dict(self._call("GET", "/proxies"))

    def create_proxy(self, name: str, listen: str, upstream: str, *, enabled: bool = True) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return dict(self._call("POST", "/proxies", body))

    def delete_proxy(self, name: str) -> bool:
        """Delete a proxy; False if there was none by that name."""
        return self._delete(f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return dict(self._call("POST", f"/proxies/{name}", {"enabled": enabled}))

    # -- toxics ------------------------------------------------------------------------
    def add_toxic(
        self,
        proxy: str,
        toxic_type: str,
        attributes: dict[str, Any],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> dict[str, Any]:
        body = {"type": toxic_type, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        if name is not None:
            body["name"] = name
        return dict(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/proxies/{proxy}/toxics"))

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove a toxic; False if it (or its proxy) was already gone."""
        return self._delete(f"/proxies/{proxy}/toxics/{name}")

    def _delete(self, path: str) -> bool:
        try:
            self._call("DELETE", path)
        except ToxiproxyError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic."""
        self._call("POST", "/reset")
