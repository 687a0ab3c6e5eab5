"""Guards trip only when a breach lasts their whole window, and only once."""

from __future__ import annotations

from paychaos.experiment import Guard
from paychaos.load import LiveStats
from paychaos.run._guards import GuardWatch


def _guard(**fields: object) -> Guard:
    return Guard.model_validate(fields)


def _second(stats: LiveStats, t: float, *, latency: float = 0.01, errors: int = 0, ok: int = 10) -> None:
    ops = [{"kind": "pay", "start": t - latency, "end": t, "outcome": "ok"} for _ in range(ok)]
    ops += [{"kind": "pay", "start": t - latency, "end": t, "outcome": "timeout"} for _ in range(errors)]
    stats.add(ops)


def test_an_error_rate_guard_trips_after_its_window_not_before() -> None:
    watch = GuardWatch([_guard(metric="error_rate", above=0.2, **{"for": "3s"})])
    stats = LiveStats()
    trips = []
    for t in range(10):
        _second(stats, 1000 + t, errors=10 if t >= 4 else 0)
        trips.append(watch.check(stats, 1000 + t, float(t)))
    fired = [t for t, trip in enumerate(trips) if trip is not None]
    assert fired == [7]  # breached from t=4 (the 1 s window already at 50%), held for 3 s
    trip = trips[7]
    assert trip is not None
    assert trip.since == 4
    assert trip.value > 0.2
    assert "error_rate above 0.2" in trip.describe()


def test_a_breach_that_ends_resets_the_window() -> None:
    watch = GuardWatch([_guard(metric="p99", above="100ms", **{"for": "3s"})])
    stats = LiveStats()
    pattern = [0.5, 0.5, 0.01, 0.5, 0.5, 0.01, 0.5, 0.5]  # never three slow seconds in a row
    for t, latency in enumerate(pattern):
        _second(stats, 2000 + t, latency=latency)
        assert watch.check(stats, 2000 + t, float(t)) is None


def test_no_traffic_is_no_evidence_of_a_breach_except_for_throughput() -> None:
    stats = LiveStats()
    silent = GuardWatch([_guard(metric="error_rate", above=0.0, **{"for": "1s"})])
    starved = GuardWatch([_guard(metric="rps", below=5, **{"for": "1s"})])
    assert [silent.check(stats, 3000 + t, float(t)) for t in range(3)] == [None, None, None]
    assert [starved.check(stats, 3000 + t, float(t)) is not None for t in range(3)] == [False, True, False]
