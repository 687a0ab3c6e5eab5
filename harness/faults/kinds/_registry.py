"""The registered fault kinds: what an experiment may use, and what a journal's records are healed by."""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import Discriminator, Tag

from paychaos.errors import InfrastructureError
from paychaos.faults._faults import Fault
from paychaos.faults.kinds._spec import FaultSpec

S = TypeVar("S", bound=FaultSpec)

_kinds: dict[str, type[FaultSpec]] = {}  # by name, in the order registered
_listeners: list[Callable[[], None]] = []


def register(spec: type[S]) -> type[S]:
    """Make ``spec``'s kind of fault one that experiments can use and journals can be healed of.

    >>> register(MarkerSpec)            # doctest: +SKIP
    >>> unregister(MarkerSpec)          # doctest: +SKIP

    A kind that is not built in must be registered in every process that loads experiments
    using it or heals journals naming it (``paychaos heal`` knows only the built-in ones).
    """
    if _kinds.get(spec.kind) is spec:
        return spec
    taken = {
        "name": {spec.kind} & set(_kinds),
        "place": {p for other in _kinds.values() for p in other.places} & set(spec.places),
        "class name": {other.__name__ for other in _kinds.values()} & {spec.__name__},
        "journal kind": {kind for kind, cls in _journal_kinds().items() if cls not in spec.fault_classes}
        & {cls.kind for cls in spec.fault_classes},
    }
    clashes = [f"{what} {', '.join(sorted(names))}" for what, names in taken.items() if names]
    if clashes:
        raise ValueError(
            f"cannot register {spec.__name__}: another fault kind has the {'; the '.join(clashes)}"
        )
    if inspect.isabstract(spec):
        raise ValueError(f"cannot register {spec.__name__}: it does not say how to build its fault (build)")
    missing = [p for p in spec.places if p not in spec.model_fields]
    if not spec.places or missing:
        raise ValueError(
            f"cannot register {spec.__name__}: its places must be some of its own keys "
            f"(not {', '.join(missing) or 'none'})"
        )
    _kinds[spec.kind] = spec
    _changed()
    return spec


def unregister(spec: type[FaultSpec]) -> None:
    """Take a kind out again (a test's own kind, when the test ends)."""
    if _kinds.get(spec.kind) is spec:
        del _kinds[spec.kind]
        _changed()


def registered() -> tuple[type[FaultSpec], ...]:
    """Every kind of fault, in the order registered."""
    return tuple(_kinds.values())


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever a kind is registered or taken out (the experiment model rebuilds)."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in _listeners:
        listener()


def spec_union() -> Any:
    """Every registered kind's model as one pydantic type, told apart by place: ``list[spec_union()]``
    validates an experiment's ``faults:``."""
    specs = registered()
    places = [place for spec in specs for place in spec.places]
    listed = f"{', '.join(places[:-1])} or {places[-1]}" if len(places) > 1 else "".join(places)
    arms = tuple(Annotated[spec, Tag(spec.__name__)] for spec in specs)
    return Annotated[
        functools.reduce(operator.or_, arms),  # A | B | …, one member per kind
        Discriminator(
            _kind_of,
            custom_error_type="fault_place",
            custom_error_message=f"a fault needs a place: {listed}",
        ),
    ]


def _kind_of(value: Any) -> str | None:
    """Which kind of fault a mapping is, told by the key that names its place (the union's tag)."""
    if isinstance(value, FaultSpec):
        return type(value).__name__
    if isinstance(value, dict):
        for spec in _kinds.values():
            if any(place in value for place in spec.places):
                return spec.__name__
    return None


def fault_class(kind: str) -> type[Fault]:
    """The fault class whose journal records are of ``kind``: its ``revert`` heals them."""
    known = _journal_kinds()
    if kind not in known:
        raise InfrastructureError(
            f"no registered fault kind applies faults of kind {kind!r} (known: {', '.join(sorted(known))}); "
            "register the kind that does (paychaos.faults.kinds.register) in the process that heals"
        )
    return known[kind]


def _journal_kinds() -> dict[str, type[Fault]]:
    return {cls.kind: cls for spec in _kinds.values() for cls in spec.fault_classes}
