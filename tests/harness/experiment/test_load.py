"""Experiment files: the shipped ones load; every kind of mistake gets a located, actionable message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from paychaos.errors import InvalidInput
from paychaos.experiment import json_schema, load_experiment, quick
from paychaos.experiment._model import ContainerFaultSpec, LinkFault, RampShape, SpikeShape, StagesShape
from paychaos.invariants import REGISTRY
from tests.conftest import ROOT

EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
PAYSTACK = ROOT / "targets" / "paystack"

BASE = f"""\
name: t
target: {{path: {PAYSTACK}}}
load: {{users: 5, duration: 30s}}
faults:
  - {{at: 5s, duration: 10s, link: gateway_bank, toxic: latency, latency: 300ms}}
invariants: [exactly_once_debit]
"""


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    load_experiment(path, invariants=REGISTRY)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_shipped_experiment_loads(path: Path) -> None:
    file = load_experiment(path, invariants=REGISTRY)
    assert file.experiment.description, "each experiment tells its story"
    assert file.target.name == "paystack"


def test_hello_is_small_and_complete() -> None:
    hello = load_experiment(ROOT / "experiments" / "hello.yaml", invariants=REGISTRY).experiment
    fault = hello.faults[0]
    assert isinstance(fault, LinkFault)
    assert fault.toxiproxy_attributes() == {"latency": 300, "jitter": 0}
    assert hello.invariants == []
    assert hello.exclude == {}
    body = [
        line
        for line in (ROOT / "experiments" / "hello.yaml").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert len(body) <= 11


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("name: t", "nmae: t", "1:1: (top level): unknown key 'nmae'; expected one of"),
        ("toxic: latency", "toxic: latancy", "faults[0].toxic: Input should be 'latency', 'bandwidth'"),
        ("toxic: latency", "toxic: latancy", "(got 'latancy'); did you mean 'latency'?"),
        (
            "latency: 300ms",
            "latency: 300",
            "faults[0].latency: durations need a unit; write '300s' or '300ms'",
        ),
        ("latency: 300ms", "jitter: 5ms", "faults[0]: a latency toxic needs 'latency'"),
        ("latency: 300ms}", "latency: 300ms, rate: 5}", "'rate' is not an attribute of a latency toxic"),
        ("link: gateway_bank", "link: gateway_bnk", "faults[0].link: unknown link 'gateway_bnk'"),
        (
            "link: gateway_bank",
            "linc: gateway_bank",
            "faults[0]: a fault needs a place: http, link, service, container",
        ),
        ("at: 5s", "at: 45s", "faults[0].at: 45s is not before the load ends (30s)"),
        ("duration: 30s", "duration: thirty", "load.duration: invalid duration 'thirty'"),
        ("users: 5", "users: 0", "load.users: Input should be greater than or equal to 1"),
        ("[exactly_once_debit]", "[exactly_once_debt]", "did you mean 'exactly_once_debit'?"),
        (
            "[exactly_once_debit]",
            "[{eventual_refund: {wthin: 1s}}]",
            "unknown parameter; eventual_refund takes: within",
        ),
        # an invariant's missing parameter is worded as every other missing key, not as pydantic says
        (
            "[exactly_once_debit]",
            "[{sql: {description: no huge overdraft}}]",
            "6:20: invariants[0].sql.query: required key is missing",
        ),
        (f"{PAYSTACK}", "/nowhere", "target.path: no target at /nowhere"),
        (
            "invariants:",
            "  - {at: 5s, container: billing, action: kill, grace: 2s}\ninvariants:",
            "'grace' applies to stop and restart, not to kill",
        ),
        (f"{PAYSTACK}}}", f"{PAYSTACK}, defects: [no-reconciller]}}", "did you mean 'no-reconciler'?"),
        (
            "name: t",
            "name: " + "t" * 300,
            "1:7: name: a name is 1 to 80 characters: lowercase letters, digits",
        ),
        ("name: t", "name: Payments/EU", "name: a name is 1 to 80 characters"),
        ("duration: 30s}", "duration: 0s}", "3:28: load.duration: must be longer than 0s"),
        ("duration: 10s,", "duration: 0s,", "5:24: faults[0].duration: must be longer than 0s"),
        (
            "duration: 30s}",
            f"duration: {'9' * 400}s}}",
            "load.duration: duration '99999999999999999999'…(401 characters) "
            "is longer than 168h (7 days), the longest paychaos accepts",
        ),
        ("duration: 30s}", "duration: .inf}", "load.duration: durations need a unit"),
        # a discriminated union's tag (the shape's type) is no key, even when the shape has a key so named
        (
            "{users: 5, duration: 30s}",
            "{shape: {type: stages, stages: []}}",
            "3:38: load.shape.stages: List should have at least 1 item",
        ),
        ("users: 5", "users: 1000000", "load.users: Input should be less than or equal to 100000"),
        ("latency: 300ms}", "latency: .nan}", "faults[0].latency: durations need a unit"),
        (
            f"{{path: {PAYSTACK}}}",
            f"{PAYSTACK}",
            f"2:9: target: the target is a mapping; write target: {{path: {PAYSTACK}}}",
        ),
        (f"{PAYSTACK}", "/", "2:16: target.path: / is a folder with no target.yaml in it"),
        (f"{PAYSTACK}", '"a\\0b"', "2:16: target.path: a path cannot hold a NUL character"),
        ("invariants:", "report: {out: ''}\ninvariants:", "report.out: empty path"),
    ],
)
def test_mistakes_are_located_and_explained(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in BASE
    with pytest.raises(InvalidInput) as err:
        _load(tmp_path, BASE.replace(old, new, 1))
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "x.yaml"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("guards: [{metric: p99, above: 2}]", "p99 thresholds are durations, e.g. above: 2s"),
        ("guards: [{metric: p99}]", "a guard needs exactly one of 'above' or 'below'"),
        # A threshold that does not suit its metric, or could never be crossed, is refused: a guard
        # that never trips protects nothing.
        (
            "guards: [{metric: error_rate, above: 50}]",
            "50 could never be crossed; with %, it reads: above: 50%",
        ),
        (
            "guards: [{metric: error_rate, above: 150%}]",
            "0 to 1 (or 0% to 100%): 150% could never be crossed",
        ),
        ("guards: [{metric: error_rate, above: 2s}]", "error_rate thresholds are a percentage or a fraction"),
        ("guards: [{metric: error_rate, above: x%}]", "e.g. above: 5%; got 'x%'"),
        ("guards: [{metric: rps, below: 50%}]", "rps thresholds are operations per second, e.g. below: 50"),
        ("guards: [{metric: p99, above: 5%}]", "p99 thresholds are durations, e.g. above: 2s"),
        ("guards: [{metric: p98, above: 2s}]", "did you mean 'p99'?"),
        ("quick: {scale: 2}", "quick.scale: Input should be less than or equal to 1"),
        ("seed: many", "seed: Input should be a valid integer"),
    ],
)
def test_other_sections(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        _load(tmp_path, BASE + extra + "\n")


def test_extra_arguments_only_for_services_paychaos_starts_with_a_command(tmp_path: Path) -> None:
    text = BASE.replace(str(PAYSTACK), str(ROOT / "targets" / "walletpay")).split("faults:")[0]
    _load(tmp_path, text)  # walletpay's services are Compose services
    with pytest.raises(
        InvalidInput, match=re.escape("target.args.api: api is a compose service; only services")
    ):
        _load(tmp_path, text.replace("target: {path: ", "target: {args: {api: [--x]}, path: "))


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        (
            "{phases: [steady]}",
            "invariants[0].slo: an slo needs a limit: max_error_rate, p50, p95, p99 or vs",
        ),
        ("{phases: [steady, nope], p99: 1s}", "invariants[0].slo.phases[1]: Input should be 'steady'"),
    ],
)
def test_slo_parameters(tmp_path: Path, slo: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        _load(tmp_path, BASE.replace("invariants: [exactly_once_debit]", f"invariants:\n  - slo: {slo}"))


def test_a_container_grace_is_whole_seconds_never_shorter(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        BASE.replace(
            "invariants:", "  - {at: 5s, container: billing, action: restart, grace: 1500ms}\ninvariants:"
        )
    )
    fault = load_experiment(path, invariants=REGISTRY).experiment.faults[1]
    assert isinstance(fault, ContainerFaultSpec)
    assert fault.grace_seconds() == 2


def test_a_load_shape_and_its_checks(tmp_path: Path) -> None:
    spike = BASE.replace(
        "duration: 30s}", "duration: 30s, shape: {type: spike, at: 40s, multiple: 3, for: 5s}}"
    )
    with pytest.raises(InvalidInput, match=r"load\.shape\.at: the spike starts after the load ends"):
        _load(tmp_path, spike)
    with pytest.raises(InvalidInput, match="did you mean 'spike'"):
        _load(tmp_path, BASE.replace("duration: 30s}", "duration: 30s, shape: spiek}"))


def test_quick_scales_load_and_faults_but_not_settling() -> None:
    file = load_experiment(ROOT / "experiments" / "double-debit-retry-storm.yaml", invariants=REGISTRY)
    small = quick(file.experiment)
    k = file.experiment.quick.scale
    assert small.load.duration == pytest.approx(file.experiment.load.duration * k)
    assert isinstance(small.load.shape, SpikeShape)
    assert isinstance(file.experiment.load.shape, SpikeShape)
    assert small.load.shape.at == pytest.approx(file.experiment.load.shape.at * k)
    assert small.faults[0].at == pytest.approx(file.experiment.faults[0].at * k)
    assert small.settle.timeout == file.experiment.quick.settle


@pytest.mark.parametrize(
    ("load", "users", "shape"),
    [
        # A ramp's start follows the users down, so the quick ramp still climbs.
        ("{users: 40, duration: 30s, shape: {type: ramp, start: 20, over: 10s}}", 8, {"start": 4.0}),
        # A stages shape sets its own users: each stage follows the peak.
        ("{duration: 30s, shape: {type: stages, stages: [{duration: 10s, users: 50}, {duration: 10s, users: 10}]}}",
         5, {"stages": [5, 1]}),
    ],
)  # fmt: skip
def test_quick_users_bring_the_shape_along(
    tmp_path: Path, load: str, users: int, shape: dict[str, Any]
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        BASE.replace("load: {users: 5, duration: 30s}", f"load: {load}") + f"quick: {{users: {users}}}\n"
    )
    small = quick(load_experiment(path, invariants=REGISTRY).experiment)
    assert small.load.users == users
    if "start" in shape:
        assert isinstance(small.load.shape, RampShape)
        assert small.load.shape.start == shape["start"]
    else:
        assert isinstance(small.load.shape, StagesShape)
        assert [s.users for s in small.load.shape.stages] == shape["stages"]


def test_quick_durations_are_whole_milliseconds() -> None:
    # 12 s × 0.3 is 3.5999999999999996 in floating point; the report and results.json show 3.6 s.
    file = load_experiment(ROOT / "experiments" / "notification-outage.yaml", invariants=REGISTRY)
    small = quick(file.experiment)
    assert [f.duration for f in small.faults] == [3.6, 4.5]
    assert [f.at for f in small.faults] == [1.5, 5.1]


def test_the_json_schema_describes_the_file() -> None:
    schema = json_schema()
    assert schema["title"] == "paychaos experiment"
    assert {"name", "target", "load", "faults", "guards", "settle", "invariants"} <= set(schema["properties"])
    assert "LinkFault" in schema["$defs"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "exclude: {no_double_payout: n/a}",
            "exclude.no_double_payout: write why the invariant cannot apply",
        ),
        ("exclude: {no_double_payot: no payouts here}", "unknown default invariant 'no_double_payot'"),
        ("exclude: {no_double_payot: no payouts here}", "did you mean 'no_double_payout'?"),
        ("exclude: {slo: not a default}", "unknown default invariant 'slo'"),
        ("exclude: {exactly_once_debit: listed too}", "exactly_once_debit is both excluded and listed"),
        ("coverage: {viods: 1}", "coverage.viods: unknown coverage counter 'viods'"),
        ("coverage: {viods: 1}", "did you mean 'voids'?"),
        ("coverage: {voids: some}", "a coverage requirement reads '>= N' or '> N' (or just N), got 'some'"),
        ("coverage: {voids: -1}", "a coverage requirement reads '>= N'"),
    ],
)
def test_exclusions_and_coverage_requirements(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        _load(tmp_path, BASE + extra + "\n")


def test_coverage_requirements_read_as_least_counts(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(BASE + "coverage: {voids: '>= 2', declines: '> 0', refund_retries: 3}\n")
    experiment = load_experiment(path, invariants=REGISTRY).experiment
    assert experiment.coverage == {
        "voids": 2,
        "declines": 1,
        "refund_retries": 3,
    }  # the last: the target's own
