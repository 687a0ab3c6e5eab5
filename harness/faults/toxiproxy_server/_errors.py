"""The one error type the API answers with, and the messages Toxiproxy 2.x uses."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API call: an HTTP status and a message, rendered as ``{"error", "status"}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


# Factories rather than shared instances: exceptions carry tracebacks, so each raise needs its own.


def bad_request_body(detail: str) -> ApiError:
    return ApiError(400, f"bad request body: {detail}")


def missing_field(field: str) -> ApiError:
    return ApiError(400, f"missing required field: {field}")


def proxy_not_found() -> ApiError:
    return ApiError(404, "proxy not found")


def proxy_already_exists() -> ApiError:
    return ApiError(409, "proxy already exists")


def invalid_stream() -> ApiError:
    return ApiError(400, "stream was invalid, can be either upstream or downstream")


def invalid_toxic_type() -> ApiError:
    return ApiError(400, "invalid toxic type")


def toxic_already_exists() -> ApiError:
    return ApiError(409, "toxic already exists")


def toxic_not_found() -> ApiError:
    return ApiError(404, "toxic not found")
