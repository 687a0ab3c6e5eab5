"""What a run checks and what load it sends, decided from the experiment and the target before anything starts."""

from __future__ import annotations

from pathlib import Path

from paychaos.experiment import load_experiment
from paychaos.invariants import REGISTRY, defaults
from paychaos.run import invariant_specs, not_checked, scenario_weights
from tests.conftest import ROOT

PAYSTACK = ROOT / "targets" / "paystack"


def _file(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "x.yaml"
    path.write_text(f"name: t\ntarget: {{path: {PAYSTACK}}}\n{body}")
    return load_experiment(path, invariants=REGISTRY)


def test_every_default_invariant_is_checked_even_when_the_experiment_lists_a_few(tmp_path: Path) -> None:
    file = _file(tmp_path, "invariants:\n  - eventual_refund: {within: 5s}\n  - sql: {query: SELECT 1 WHERE false}\n"
                           "  - sql: {query: SELECT 2 WHERE false}\n")  # fmt: skip
    specs = invariant_specs(file.experiment, file.target)
    every = defaults(set(file.target.evidence.tables))
    assert [s.name for s in specs] == [*every, "sql", "sql"]
    assert {"refund_integrity", "payments_match_ledger", "webhook_authenticity"} <= set(every)
    assert next(s for s in specs if s.name == "eventual_refund").params == {"within": "5s"}
    assert [s.params["query"] for s in specs if s.name == "sql"] == [
        "SELECT 1 WHERE false",
        "SELECT 2 WHERE false",
    ]


def test_an_excluded_invariant_is_left_out_and_only_that_one(tmp_path: Path) -> None:
    file = _file(tmp_path, "exclude: {no_double_payout: this load sends no payouts}\n")
    names = [s.name for s in invariant_specs(file.experiment, file.target)]
    assert "no_double_payout" not in names
    assert len(names) == len(defaults(set(file.target.evidence.tables))) - 1


def test_the_targets_failure_paths_join_every_experiments_mix_unless_weighted_zero(tmp_path: Path) -> None:
    own = _file(tmp_path, "load: {scenarios: {pay: 4, pay_retry: 6}}\n")
    assert scenario_weights(own.experiment, own.target) == {
        "pay": 4, "pay_retry": 6, "pay_declined": 1, "forged_notification": 1}  # fmt: skip
    without = _file(tmp_path, "load: {scenarios: {pay: 4, forged_notification: 0}}\n")
    assert scenario_weights(without.experiment, without.target) == {"pay": 4, "pay_declined": 1,
                                                                    "forged_notification": 0}  # fmt: skip
    mix = _file(tmp_path, "load: {users: 1}\n")
    weights = scenario_weights(mix.experiment, mix.target)
    assert weights == {name: spec.weight for name, spec in mix.target.load.scenarios.items()}  # type: ignore[union-attr]


def test_what_a_run_does_not_check_is_named_with_why(tmp_path: Path) -> None:
    # walletpay gives no payout evidence: the payout invariants cannot be checked there.
    crash = load_experiment(
        ROOT / "targets" / "walletpay" / "experiments" / "worker-crash.yaml", invariants=REGISTRY
    )
    assert not_checked(crash.experiment, crash.target) == {
        "no_double_payout": "the target's evidence has no payouts table",
        "payouts_match_ledger": "the target's evidence has no payout_requests, payouts tables",
    }
    # An experiment that leaves a default invariant out says why; that is recorded too.
    path = tmp_path / "x.yaml"
    path.write_text(f"name: x\ntarget: {{path: {ROOT / 'targets' / 'paystack'}}}\nload: {{users: 1, duration: 5s}}\n"
                    "exclude: {no_double_payout: this load sends no payouts}\n")  # fmt: skip
    file = load_experiment(path, invariants=REGISTRY)
    assert not_checked(file.experiment, file.target) == {
        "no_double_payout": "left out by the experiment: this load sends no payouts"
    }
