"""Promotions and the caps that bound them.

A promotion is configuration that changes at run time (``PUT /admin/promotion``)
and can be mis-set, as it was for five minutes on 16 January. The caps are
fixed when the gateway starts and are enforced on every payment whatever the
promotion says, so a bad config can cost at most the capped discount.

>>> caps = Caps(max_percent=Decimal(10), max_amount=5000)
>>> price(20000, "X", Promotion(None, Decimal(20), "all"), caps)
Price(discount=2000, charged=18000, percent=Decimal('20'))
>>> price(20000, "X", Promotion(None, Decimal(20), "all"), caps, enforce_caps=False)
Price(discount=4000, charged=16000, percent=Decimal('20'))
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any


@dataclass(frozen=True)
class Promotion:
    code: str | None  # the code that unlocks it, when applies_to == "code"
    percent: Decimal
    applies_to: str  # "all" or "code"

    def applies(self, promo_code: str | None) -> bool:
        if self.percent <= 0:
            return False
        return self.applies_to == "all" or (promo_code is not None and promo_code == self.code)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "percent": float(self.percent), "applies_to": self.applies_to}


@dataclass(frozen=True)
class Caps:
    max_percent: Decimal
    max_amount: int

    def as_json(self) -> dict[str, Any]:
        return {"max_percent": float(self.max_percent), "max_amount": self.max_amount}


@dataclass(frozen=True)
class Price:
    discount: int
    charged: int
    percent: Decimal | None  # the promotion's configured percent, when one applied


def price(
    amount: int,
    promo_code: str | None,
    promotion: Promotion,
    caps: Caps,
    *,
    enforce_caps: bool = True,
) -> Price:
    if not promotion.applies(promo_code):
        return Price(0, amount, None)
    percent = min(promotion.percent, caps.max_percent) if enforce_caps else promotion.percent
    discount = int((Decimal(amount) * percent / 100).to_integral_value(rounding=ROUND_FLOOR))
    if enforce_caps:
        discount = min(discount, caps.max_amount)
    discount = max(0, min(discount, amount))
    return Price(discount, amount - discount, promotion.percent)


def parse_promotion(body: dict[str, Any]) -> Promotion:
    """Validate a ``PUT /admin/promotion`` body; raise ValueError saying what is wrong."""
    try:
        percent = Decimal(str(body.get("percent", 0)))
    except ArithmeticError:
        raise ValueError(f"percent must be a number, got {body.get('percent')!r}") from None
    if not percent.is_finite() or not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {body.get('percent')!r}")
    applies_to = body.get("applies_to", "code")
    if applies_to not in ("all", "code"):
        raise ValueError(f"applies_to must be 'all' or 'code', got {applies_to!r}")
    code = body.get("code")
    if applies_to == "code" and percent > 0 and not isinstance(code, str):
        raise ValueError("a promotion that applies to a code needs a 'code' string")
    return Promotion(code, percent, applies_to)
