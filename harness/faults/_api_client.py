"""What the harness's clients of its fault processes' JSON APIs share (Toxiproxy, the HTTP hop).

Every failure is an :class:`~paychaos.errors.InfrastructureError` that names the API, the request
and, when the API refused it, its own message and status (:class:`ApiRefused`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import httpx

from paychaos.errors import InfrastructureError


class ApiRefused(InfrastructureError):
    """The API refused a request; ``status`` is its HTTP status, the message is the API's."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class JsonApiClient:
    """A synchronous client for one JSON API on loopback."""

    name: ClassVar[str]
    """How messages name the API: ``Toxiproxy``, ``the HTTP hop``."""
    refused: ClassVar[type[ApiRefused]] = ApiRefused

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            reply = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise InfrastructureError(
                f"{self.name} at {self.url} did not answer {method} {path}: {exc}"
            ) from exc
        if reply.status_code >= 400:
            try:
                message = reply.json().get("error", reply.text)
            except ValueError:
                message = reply.text
            raise self.refused(
                f"{self.name} at {self.url} refused {method} {path}: {message} ({reply.status_code})",
                reply.status_code,
            )
        return reply.json() if reply.content else None
