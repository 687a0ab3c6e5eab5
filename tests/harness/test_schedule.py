"""The fault schedule: what is applied and healed at which second of the load, and how it is called.

No sockets and no processes: each scheduled fault raises an in-memory flag, and
the real injector journals it to a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from paychaos.faults import Fault, FaultInjector, FaultJournal, read_journal
from paychaos.faults.kinds import ConfigFaultSpec, ContainerFaultSpec, FaultSpec, LinkFault, ProcessFaultSpec
from paychaos.run._schedule import FaultSchedule


class Flag(Fault):
    """Raises ``board[name]`` while applied; faults on one name overlap (one flag, held by each)."""

    kind = "flag"

    def __init__(self, board: dict[str, bool], name: str) -> None:
        super().__init__(name, "raise")
        self.board = board

    def apply(self, fault_id: str) -> dict[str, Any]:
        self.board[self.target] = True
        return {"flag": self.target}

    def heal(self, undo: dict[str, Any]) -> str:
        self.board[undo["flag"]] = False
        return f"lowered {undo['flag']}"

    @classmethod
    def revert(cls, undo: dict[str, Any]) -> str:
        return "nothing to undo: the flag lived in the run's memory"

    def holds(self, undo: dict[str, Any]) -> tuple[str, ...]:
        return (f"flag {undo['flag']}",)


def _link(link: str, at: str, duration: str | None = None, **more: Any) -> FaultSpec:
    timing = {"at": at} if duration is None else {"at": at, "duration": duration}
    return LinkFault.model_validate({**timing, "link": link, "toxic": "latency", "latency": "100ms", **more})


def _schedule(specs: list[FaultSpec], tmp_path: Path) -> tuple[FaultSchedule, dict[str, bool]]:
    board: dict[str, bool] = {}
    injector = FaultInjector(FaultJournal(tmp_path / "faults.jsonl"))
    return FaultSchedule.of(specs, lambda spec: Flag(board, spec.describe().split(":")[0]), injector), board


def test_faults_are_applied_when_due_and_healed_when_their_time_is_up(tmp_path: Path) -> None:
    schedule, board = _schedule([_link("a", "2s", "4s"), _link("b", "3s", "1s"), _link("c", "5s")], tmp_path)
    a, b, c = (f"{n}: toxic=latency, stream=downstream, toxicity=1.0, latency=100ms" for n in "abc")
    assert schedule.tick(0.0) == []
    assert schedule.tick(2.0) == [f"applied {a}"]
    assert schedule.tick(3.5) == [f"applied {b}"]
    assert board == {"a": True, "b": True}
    assert schedule.tick(4.0) == [f"healed {b}"]  # at 3s for 1s: over at 4s
    assert schedule.tick(6.0) == [f"healed {a}", f"applied {c}"]  # what ends is healed before what starts
    assert schedule.tick(1000.0) == []  # c has no duration: it lasts until the load ends
    assert schedule.active == [c]
    schedule.stop(1001.0)
    assert board == {"a": False, "b": False, "c": False}
    assert schedule.active == []
    assert schedule.events == [
        {"event": "applied", "fault": 0, "t": 2.0},
        {"event": "applied", "fault": 1, "t": 3.5},
        {"event": "healed", "fault": 1, "t": 4.0},
        {"event": "healed", "fault": 0, "t": 6.0},
        {"event": "applied", "fault": 2, "t": 6.0},
        {"event": "healed", "fault": 2, "t": 1001.0},
    ]
    assert [(e.applied_at, e.healed_at, e.fault_id) for e in schedule.entries] == [
        (2.0, 6.0, "f1"), (3.5, 4.0, "f2"), (6.0, 1001.0, "f3")]  # fmt: skip


class SlowFlag(Flag):
    """A Flag whose apply and heal take ``takes`` seconds of the schedule's clock (a restart that
    waits for its health check)."""

    def __init__(self, board: dict[str, bool], name: str, clock: list[float], takes: float) -> None:
        super().__init__(board, name)
        self.clock, self.takes = clock, takes

    def apply(self, fault_id: str) -> dict[str, Any]:
        self.clock[0] += self.takes
        return super().apply(fault_id)

    def heal(self, undo: dict[str, Any]) -> str:
        self.clock[0] += self.takes
        return super().heal(undo)


def test_times_are_when_apply_and_heal_returned_so_a_slow_heal_shows_the_next_fault_late(
    tmp_path: Path,
) -> None:
    board: dict[str, bool] = {}
    clock = [0.0]
    slow = {"a": 0.9, "b": 0.05}
    schedule = FaultSchedule.of(
        [_link("a", "1s", "1s"), _link("b", "2s", "1s")],
        lambda spec: SlowFlag(board, (name := spec.describe().split(":")[0]), clock, slow[name]),
        FaultInjector(FaultJournal(tmp_path / "faults.jsonl")),
    )
    schedule.clock = lambda: clock[0]
    for t in (1.0, 2.0, 3.0):
        clock[0] = max(clock[0], t)  # the loop ticks again once the last tick returned
        schedule.tick(clock[0])
    a, b = schedule.entries
    assert (a.applied_at, a.healed_at) == (1.9, 2.9)  # its heal at 2 s took 0.9 s...
    assert b.applied_at == pytest.approx(2.95)  # ...so b, due at 2 s, went in at 2.95 s
    assert b.healed_at == pytest.approx(3.05)
    assert [e["t"] for e in schedule.events] == [1.9, 2.9, 2.95, 3.05]


def test_faults_due_together_are_applied_in_the_order_written(tmp_path: Path) -> None:
    schedule, _ = _schedule([_link("late", "5s"), _link("first", "1s"), _link("second", "1s")], tmp_path)
    assert [line.split(":")[0] for line in schedule.tick(1.0)] == ["applied first", "applied second"]
    assert [(e.spec.describe().split(":")[0], e.fault_id) for e in schedule.entries] == [
        ("late", None), ("first", "f1"), ("second", "f2")]  # fmt: skip


def test_a_window_missed_between_ticks_is_applied_then_healed_at_the_next_tick(tmp_path: Path) -> None:
    schedule, board = _schedule([_link("a", "1s", "1s")], tmp_path)
    assert schedule.tick(5.0) == ["applied a: toxic=latency, stream=downstream, toxicity=1.0, latency=100ms"]
    assert board == {"a": True}  # every fault is applied once, however late the tick
    assert schedule.tick(5.5) == ["healed a: toxic=latency, stream=downstream, toxicity=1.0, latency=100ms"]
    assert board == {"a": False}


@pytest.mark.parametrize("second_ends", ["inside", "after"])
def test_overlapping_windows_on_one_thing_keep_it_until_the_last_ends(
    second_ends: str, tmp_path: Path
) -> None:
    # [2s, 8s) and [4s, 6s) nested, or [2s, 8s) and [4s, 10s) crossed: the flag is up from 2s to the end of both.
    duration = "2s" if second_ends == "inside" else "6s"
    schedule, board = _schedule([_link("a", "2s", "6s"), _link("a", "4s", duration)], tmp_path)
    schedule.tick(2.0)
    schedule.tick(4.0)
    first_end, last_end = (6.0, 8.0) if second_ends == "inside" else (8.0, 10.0)
    schedule.tick(first_end)
    assert board == {"a": True}
    schedule.tick(last_end)
    assert board == {"a": False}
    healed = [e for e in read_journal(tmp_path / "faults.jsonl") if e["event"] == "healed"]
    first, last = ("f2", "f1") if second_ends == "inside" else ("f1", "f2")
    assert [(e["id"], e["outcome"], e.get("kept_by")) for e in healed] == [
        (first, f"still raise by {last}; undone when it ends", [last]),
        (last, "lowered a", None),
    ]


def test_a_stop_heals_what_is_active_and_nothing_more_is_applied(tmp_path: Path) -> None:
    schedule, board = _schedule([_link("a", "1s", "10s"), _link("b", "2s"), _link("c", "5s")], tmp_path)
    schedule.tick(3.0)
    schedule.stop(3.5)  # a guard tripped
    assert board == {"a": False, "b": False}
    assert schedule.tick(6.0) == []
    assert schedule.tick(20.0) == []
    assert "c" not in board
    assert [(e.applied_at, e.healed_at) for e in schedule.entries] == [(3.0, 3.5), (3.0, 3.5), (None, None)]
    assert [e["event"] for e in read_journal(tmp_path / "faults.jsonl")] == ["applied"] * 2 + ["healed"] * 2


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        (_link("gateway_bank", "5s", latency="300ms"),
         "gateway_bank: toxic=latency, stream=downstream, toxicity=1.0, latency=300ms"),
        (LinkFault.model_validate({"link": "notifier_merchant", "toxic": "down"}),
         "notifier_merchant: toxic=down, stream=downstream, toxicity=1.0"),
        (LinkFault.model_validate({"link": "gateway_db", "toxic": "slicer", "average_size": 64, "delay": "2ms"}),
         "gateway_db: toxic=slicer, stream=downstream, toxicity=1.0, delay=2ms, average_size=64"),
        (ProcessFaultSpec.model_validate({"service": "bank", "action": "pause"}), "bank: action=pause"),
        (ContainerFaultSpec.model_validate({"container_label": "app=billing", "action": "stop", "grace": "2s"}),
         "app=billing: action=stop, grace=2s"),
        (ConfigFaultSpec.model_validate({"config": "promotion", "set": {"percent": 20}}),
         "promotion: set={'percent': 20}"),
        (ProcessFaultSpec.model_validate({"service": "bank", "action": "kill", "label": "the bank crashes"}),
         "the bank crashes"),
    ],
)  # fmt: skip
def test_each_fault_is_labelled_by_its_kind_unless_it_has_a_label(
    spec: FaultSpec, label: str, tmp_path: Path
) -> None:
    schedule, _ = _schedule([spec], tmp_path)
    assert schedule.entries[0].label() == label
    assert schedule.tick(spec.at) == [f"applied {label}"]
    assert schedule.active == [label]
