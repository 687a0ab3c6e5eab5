"""How many realistic payment bugs the shipped experiments catch: the mutation score.

Each mutant is one small patch to a sample stack that introduces a bug a payment
engineer would recognise (its first line says which): ``bench/mutants/*.patch``
for paystack, ``bench/mutants/walletpay/*.patch`` for walletpay. For each one, a
copy of this working tree is made, the patch applied, and the stack's experiments
run one after the other (quick profile) until one exits 1: the mutant is caught,
by that experiment and the invariants it names. A mutant no experiment catches
survived; a run that exits 3 is no catch (the harness could not judge) and is
shown as such.

    python bench/mutation_score.py                         # every paystack mutant, every experiment
    python bench/mutation_score.py --mutant bench/mutants/03-*.patch --all
    python bench/mutation_score.py --baseline              # the unmutated copy must pass everything
    python bench/mutation_score.py --target walletpay      # walletpay's mutants and experiments
    python bench/mutation_score.py --jobs 2                # two mutants at a time

``--all`` runs every experiment for every mutant (which experiments catch it, not
just the first); ``--json PATH`` keeps the table as data.

The copy runs with this interpreter and the copy's own source first on the path:
the repository's folders (``harness/``, ``targets/``) are linked under their
import names (``paychaos``, ``paychaos_targets``) in a folder of the copy's own,
which comes before the editable install's import hook; each copy checks that it
imports itself before its first run.

walletpay's services run in containers of a locally built image, so the mutant's
code must get into an image: for each copy the bench builds one from the copy
(``python -m paychaos_targets.walletpay.image``, which takes the code of the
package it is imported from) under a tag of that copy's own
(``paychaos/walletpay:mutant-<copy>-<mutant>``), points the copy's
``compose.yaml`` at that tag, and removes the image when the copy is done. The
repository's own image (``paychaos/walletpay:dev``) is never rebuilt or
retagged, so it is left as it was, and mutants do not share an image.

``--jobs N`` judges N mutants at a time, each in its own copy, its runs
``paychaos run`` processes of their own; a mutant's lines are printed once it is
done, in the mutants' order. It works for both targets: paystack runs take free
ports and an embedded PostgreSQL of their own (as ``paychaos matrix --jobs``),
and walletpay's Compose projects are named per run and, here, each mutant has
its image. Runs at once share the machine's cores, so a run's load gets fewer
operations through: tight coverage requirements may need ``--jobs 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "bench" / "mutants"
# Broad experiments first: most mutants are caught by the first one or two.
ORDER = ["hello", "double-debit-retry-storm", "peak-overload", "connection-resets", "notification-outage",
         "payout-timeout-failover", "credit-limit-race", "promo-misconfig"]  # fmt: skip
# The repository's folders, by the import names the copy must be run under (see setup.py).
IMPORT_NAMES = {"paychaos": "harness", "paychaos_targets": "targets"}


@dataclass(frozen=True)
class Stack:
    """A sample stack: where its mutants and experiments are, and the image its services run from."""

    name: str
    mutants: Path  # its NN-name.patch files
    experiments: Path  # its experiment files (*.yaml)
    order: list[str]  # experiments run in this order, the others after them by name
    image: str | None = None  # the Compose services' image, built from each copy
    compose: str | None = None  # the Compose file naming that image, relative to the tree


STACKS = {
    "paystack": Stack("paystack", MUTANTS, ROOT / "experiments", ORDER),
    "walletpay": Stack(
        "walletpay",
        MUTANTS / "walletpay",
        ROOT / "targets" / "walletpay" / "experiments",
        ["report-timeouts", "worker-crash"],
        image="paychaos/walletpay:dev",
        compose="targets/walletpay/compose.yaml",
    ),
}


@dataclass
class Run:
    experiment: str
    exit_code: int
    violated: list[str]
    seconds: float
    note: str = ""


@dataclass
class Outcome:
    mutant: str
    models: str
    runs: list[Run] = field(default_factory=list)

    @property
    def caught_by(self) -> list[Run]:
        return [r for r in self.runs if r.exit_code == 1]

    @property
    def seconds(self) -> float:
        return round(sum(r.seconds for r in self.runs), 1)


def describe(patch: Path) -> str:
    first = patch.read_text().splitlines()[0] if patch.stat().st_size else ""
    return first.removeprefix("#").strip() if first.startswith("#") else ""


def copy_tree(dest: Path) -> None:
    """This working tree as it is (uncommitted changes included), without its venv and reports."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def environment(tree: Path, scratch: Path) -> dict[str, str]:
    """The copy's environment: its folders linked under their import names, first on the path.

    ``PYTHONPATH=tree`` alone is not enough: the tree has ``harness/`` and ``targets/``, not
    ``paychaos/`` and ``paychaos_targets/``, so the editable install would import the repository's
    own code instead of the mutant's.
    """
    names = scratch / "import-path"
    names.mkdir(exist_ok=True)
    for name, folder in IMPORT_NAMES.items():
        (names / name).symlink_to(tree / folder, target_is_directory=True)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(names), str(tree)]), "CI": "true"}


def imports_itself(tree: Path, env: dict[str, str]) -> str | None:
    """None when the copy's interpreter imports the copy's paychaos and paychaos_targets; else why not."""
    code = "import paychaos, paychaos_targets; print(paychaos.__file__); print(paychaos_targets.__file__)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"the copy does not import: {proc.stderr.strip()[-300:]}"
    wrong = [f for f in proc.stdout.split() if not Path(f).resolve().is_relative_to(tree.resolve())]
    return f"the copy imports code from outside it: {', '.join(wrong)}" if wrong else None


def image_tag(stack: Stack, patch: Path | None, scratch: Path) -> str:
    """A tag of this copy's own for the stack's image: ``paychaos/walletpay:mutant-<copy>-<mutant>``.

    ``<copy>`` is the end of the copy's folder name, unique on this machine while the copy exists
    (the same patch judged twice at once gets two tags).
    """
    assert stack.image is not None
    copy = scratch.name.rpartition("-")[2].lower()
    name = re.sub(r"[^a-z0-9_.-]", "-", f"mutant-{copy}-{patch.stem if patch else 'baseline'}".lower())
    return f"{stack.image.rpartition(':')[0]}:{name[:128]}"


def build_image(stack: Stack, tree: Path, env: dict[str, str], tag: str) -> str | None:
    """Build the stack's image from the copy under ``tag`` and point the copy's Compose file at it.

    None when done; else what went wrong.
    """
    assert stack.image is not None
    assert stack.compose is not None
    compose = tree / stack.compose
    text = compose.read_text()
    if f"image: {stack.image}" not in text:
        return f"{stack.compose} names no image {stack.image}"
    proc = subprocess.run(
        [sys.executable, "-m", f"paychaos_targets.{stack.name}.image", "--tag", tag, "--force"],
        cwd=tree, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        return f"image build failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
    compose.write_text(text.replace(f"image: {stack.image}", f"image: {tag}"))
    return None


def remove_image(tag: str) -> None:
    subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)


def image_id(image: str) -> str | None:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def run_experiment(tree: Path, env: dict[str, str], experiment: Path, out: Path) -> Run:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "run", str(experiment), "--quick", "--quiet", "--out", str(out)],
        cwd=tree, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    runs = sorted(out.glob(f"*-{experiment.stem}*/results.json"), key=lambda p: p.stat().st_mtime)
    results = json.loads(runs[-1].read_text()) if runs else {}
    violated = [v["invariant"] for v in results.get("invariants", []) if v["status"] == "violated"]
    note = "" if proc.returncode in (0, 1) else str(results.get("error") or proc.stderr.strip()[-300:])
    return Run(experiment.stem, proc.returncode, violated, seconds, note)


def judge(
    stack: Stack,
    patch: Path | None,
    base: Path,
    experiments: list[Path],
    *,
    every: bool,
    keep: bool,
    say: Callable[[str], None],
) -> Outcome:
    name = patch.name if patch else "(none: the correct stack)"
    outcome = Outcome(name, describe(patch) if patch else "baseline")
    scratch = Path(tempfile.mkdtemp(prefix="paychaos-mutant-"))
    tag = image_tag(stack, patch, scratch) if stack.image else None
    try:
        tree = scratch / "tree"
        shutil.copytree(base, tree, symlinks=True)
        if patch is not None:
            applied = subprocess.run(["git", "apply", str(patch)], cwd=tree, capture_output=True, text=True)
            if applied.returncode != 0:
                outcome.runs.append(Run("-", 2, [], 0.0, f"patch does not apply: {applied.stderr.strip()}"))
                return outcome
        env = environment(tree, scratch)
        problem = imports_itself(tree, env)
        if problem is None and tag is not None:
            started = time.monotonic()
            problem = build_image(stack, tree, env, tag)
            if problem is None:
                say(f"  {'image':<26} {tag} ({time.monotonic() - started:.0f}s)")
        if problem is not None:
            outcome.runs.append(Run("-", 2, [], 0.0, problem))
            say(f"  {problem}")
            return outcome
        for experiment in experiments:
            run = run_experiment(tree, env, tree / experiment.relative_to(base), scratch / "reports")
            outcome.runs.append(run)
            say(f"  {experiment.stem:<26} exit {run.exit_code} {', '.join(run.violated)} {run.note}".rstrip()
                + f" ({run.seconds:.0f}s)")  # fmt: skip
            if run.exit_code == 1 and not every and patch is not None:
                break
    finally:
        if keep:
            say(f"  kept {scratch}" + (f" and the image {tag}" if tag else ""))
        else:
            if tag is not None:
                remove_image(tag)
            shutil.rmtree(scratch, ignore_errors=True)
    return outcome


def table(outcomes: list[Outcome]) -> str:
    lines = ["| mutant | what it models | caught by | time |", "|---|---|---|---:|"]
    for o in outcomes:
        caught = "; ".join(f"{r.experiment}: {', '.join(r.violated)}" for r in o.caught_by)
        if not caught:
            notes = "; ".join(
                f"{r.experiment}: exit {r.exit_code} {r.note}".strip() for r in o.runs if r.note
            )
            caught = "**survived**" + (f" ({notes})" if notes else "")
        lines.append(f"| {o.mutant.removesuffix('.patch')} | {o.models} | {caught} | {o.seconds:.0f}s |")
    caught_n = sum(1 for o in outcomes if o.caught_by)
    lines.append("")
    lines.append(f"**{caught_n} of {len(outcomes)} caught ({100 * caught_n / max(1, len(outcomes)):.0f}%)**")
    return "\n".join(lines)


def touches(patch: Path, stack: Stack) -> bool:
    """Whether the patch changes a file of the stack (``targets/<name>/…``)."""
    changed = re.compile(rf"^\+\+\+ b/targets/{re.escape(stack.name)}/", re.MULTILINE)
    return changed.search(patch.read_text()) is not None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=sorted(STACKS), default="paystack",
                        help="the stack whose mutants and experiments to run (default: paystack)")  # fmt: skip
    parser.add_argument("--mutant", action="append", type=Path,
                        help="default: every bench/mutants/*.patch (walletpay: bench/mutants/walletpay/*.patch)")  # fmt: skip
    parser.add_argument("--experiment", action="append", type=Path,
                        help="default: every experiments/*.yaml (walletpay: targets/walletpay/experiments/*.yaml)")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="run every experiment, not only until one catches")
    parser.add_argument("--baseline", action="store_true", help="run the unmutated stack instead")
    parser.add_argument("--jobs", type=int, default=1, help="mutants judged at once, each in its own copy")
    parser.add_argument("--keep", action="store_true", help="keep each mutant's copy and run folders")
    parser.add_argument("--json", type=Path, help="also write the outcomes here")
    args = parser.parse_args()
    stack = STACKS[args.target]
    if args.jobs < 1:
        parser.error(f"--jobs: 1 or more, not {args.jobs}")
    rank = {name: i for i, name in enumerate(stack.order)}
    found = sorted(stack.experiments.glob("*.yaml"), key=lambda p: (rank.get(p.stem, len(rank)), p.stem))
    experiments = [p.resolve() for p in args.experiment] if args.experiment else found
    outside = [str(p) for p in experiments if not p.is_relative_to(ROOT)]
    if outside:
        parser.error(f"--experiment: the copy has only this tree's files; not in it: {', '.join(outside)}")
    mutants: list[Path | None] = [None] if args.baseline else [
        p.resolve() for p in (args.mutant or sorted(stack.mutants.glob("*.patch")))]  # fmt: skip
    if not mutants:
        parser.error(f"no mutants in {stack.mutants.relative_to(ROOT)}")
    elsewhere = [str(p) for p in mutants if p is not None and not touches(p, stack)]
    if elsewhere:
        parser.error(f"not a mutant of {stack.name} (it changes nothing under targets/{stack.name}/; "
                     f"see --target): {', '.join(elsewhere)}")  # fmt: skip
    image_before = image_id(stack.image) if stack.image else None
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="paychaos-mutants-base-")) / "tree"
    copy_tree(base)  # one snapshot: edits made while the bench runs do not leak into later mutants
    # the copy of each experiment, as judge finds it under the snapshot
    experiments = [base / p.relative_to(ROOT) for p in experiments]

    def header(patch: Path | None) -> str:
        return f"{patch.name if patch else 'baseline'}: {describe(patch) if patch else ''}"

    outcomes: list[Outcome] = []
    try:
        if args.jobs == 1:
            for patch in mutants:
                print(header(patch), flush=True)
                outcomes.append(judge(stack, patch, base, experiments, every=args.all, keep=args.keep,
                                      say=lambda line: print(line, flush=True)))  # fmt: skip
        else:

            def apart(patch: Path | None) -> tuple[Outcome, list[str]]:
                said = [header(patch)]
                outcome = judge(
                    stack, patch, base, experiments, every=args.all, keep=args.keep, say=said.append
                )
                return outcome, said

            with ThreadPoolExecutor(args.jobs, thread_name_prefix="mutant") as pool:
                futures = [pool.submit(apart, patch) for patch in mutants]
                try:
                    for future in futures:  # in the mutants' order, each once it is done
                        outcome, said = future.result()
                        print("\n".join(said), flush=True)
                        outcomes.append(outcome)
                finally:
                    for future in futures:
                        future.cancel()
    finally:
        shutil.rmtree(base.parent, ignore_errors=True)
    print()
    print(table(outcomes))
    print(f"\n{len(outcomes)} mutant(s) of {stack.name} in {(time.monotonic() - started) / 60:.1f} min"
          f"{f' ({args.jobs} at a time)' if args.jobs > 1 else ''}")  # fmt: skip
    if stack.image and image_id(stack.image) != image_before:
        print(f"note: {stack.image} changed while the bench ran (not by it: it builds only its own tags)")
    if args.json:
        args.json.write_text(
            json.dumps(
                [{**asdict(o), "target": stack.name, "caught": bool(o.caught_by)} for o in outcomes], indent=2
            )
        )
    if args.baseline:
        sys.exit(0 if all(r.exit_code == 0 for o in outcomes for r in o.runs) else 1)


if __name__ == "__main__":
    main()
