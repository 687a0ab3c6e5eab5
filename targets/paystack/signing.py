"""HMAC signatures for result notifications (notifier signs, merchant verifies).

The header carries the signing time and an HMAC-SHA256 over ``"{t}.{body}"``,
so a captured notification cannot be replayed with another body or much later.

>>> header = sign(b'{"id": 1}', b"secret", now=1700000000)
>>> verify(b'{"id": 1}', header, b"secret", now=1700000001)
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

HEADER = "Paystack-Signature"
TOLERANCE_SECONDS = 300.0
SECRET_ENV = "PAYSTACK_WEBHOOK_SECRET"
_DEVELOPMENT_SECRET = "paystack-development-secret"


def shared_secret() -> bytes:
    """The notifier's and merchant's shared key, from PAYSTACK_WEBHOOK_SECRET (a dev default otherwise)."""
    return os.environ.get(SECRET_ENV, _DEVELOPMENT_SECRET).encode()


def sign(body: bytes, secret: bytes, *, now: float | None = None) -> str:
    t = int(time.time() if now is None else now)
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    body: bytes,
    header: str | None,
    secret: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    if not header:
        return False
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
