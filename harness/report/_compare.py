"""The report's comparison with the baseline: both runs' figures per phase, the change, the verdicts.

Drawn from results.json's ``baseline`` (what the run recorded when it had one: --baseline RUN_DIR or
the experiment's ``baseline``); a run without one shows nothing. Cells beyond the slo invariant's
``vs_baseline`` gate are marked.
"""

from __future__ import annotations

from html import escape
from typing import Any

from paychaos._results import STATUS_WORDS
from paychaos.compare import LABELS, METRICS, format_change, format_value, gate_words, worse

_SPLITS = {
    "own faults": "Each run is split into phases by its own faults.",
    "this run's faults": "The baseline applied no fault: it is split at this run's fault times (the same "
    "seconds after its load started), so its fault phase is the same stretch of the same load without "
    "the fault.",
    "no faults": "Neither run applied a fault: the whole load is steady.",
}


def compare_section(run: Any) -> str:
    """The section, or "" when the run had no baseline. ``run``: a :class:`paychaos.report._run.Run`."""
    results = run.results
    base = results.get("baseline")
    if not isinstance(base, dict):
        return ""
    gate, gate_phases, beyond = _gate(results)
    headers = ["phase", "metric", "baseline", "this run", "change"] + (["gate"] if gate else [])
    rows = []
    for entry in base.get("phases") or []:
        phase = str(entry.get("phase"))
        mine, theirs = entry.get("run") or {}, entry.get("baseline") or {}
        for i, metric in enumerate(("operations", *METRICS)):
            b, a = mine.get(metric), theirs.get(metric)
            cells = [f'<td rowspan="{1 + len(METRICS)}"><b>{escape(phase)}</b></td>'] if i == 0 else []
            if metric == "operations":
                cells += ["<td>operations</td>", f'<td class="n">{_count(a)}</td>',
                          f'<td class="n">{_count(b)}</td>', "<td></td>"]  # fmt: skip
                cells += ["<td></td>"] if gate else []
            else:
                over = (phase, metric) in beyond
                mark = " over" if over else ""
                style = ' style="color: var(--violated)"' if worse(metric, a, b) and not over else ""
                cells += [
                    f"<td>{escape(LABELS[metric])}</td>",
                    f'<td class="n">{escape(format_value(metric, a))}</td>',
                    f'<td class="n{mark}">{escape(format_value(metric, b))}</td>',
                    f'<td class="n{mark}"{style}>{escape(format_change(metric, a, b))}</td>',
                ]
                if gate:
                    allowed = gate.get(metric) if phase in gate_phases else None
                    cells.append(f"<td>{_limit(metric, allowed, a)}</td>")
            over_attr = ' data-over="true"' if (phase, metric) in beyond else ""
            rows.append(f'<tr data-phase="{escape(phase)}" data-metric="{escape(metric)}"{over_attr}>'
                        f"{''.join(cells)}</tr>")  # fmt: skip
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    table = (f'<table id="baseline-comparison" class="grid"><thead><tr>{head}</tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
    caption = _caption(str(run.dir), base, gate, gate_phases, beyond)
    return (f'<section id="baseline-section"><h2>Compared with the baseline</h2>'
            f"{caption}{table}{_verdicts(results, base)}</section>")  # fmt: skip


def _caption(
    here: str, base: dict[str, Any], gate: dict[str, float], phases: list[str], beyond: set[Any]
) -> str:
    link = escape(str(base.get("link") or base.get("run_dir") or ""))
    run_id = escape(str(base.get("run_id") or ""))
    what = (
        "this experiment without its faults, run first (same load, same seed)"
        if base.get("auto")
        else f"a run of {escape(str(base.get('experiment') or '?'))} given as the baseline"
    )
    verdict = escape(str(base.get("verdict") or "?"))
    said = [
        f'Baseline: <a id="baseline-link" href="{link}/report.html">{run_id}</a>, {what}; its verdict: '
        f'<b class="baseline-verdict">{verdict}</b>.',
        escape(_SPLITS.get(str(base.get("split")), "")),
        "Change: this run − the baseline; in red where this run is worse (slower, more errors, less "
        "throughput).",
        f"<code>paychaos compare {escape(str(base.get('run_dir') or ''))} "
        f"{escape(here)}</code> prints the same.",
    ]
    if gate:
        limits = ", ".join(f"{escape(LABELS[m])} {escape(gate_words(m, v))}" for m, v in gate.items())
        outcome = (
            f'<b class="gate-violated">violated</b> in {len(beyond)} place(s), marked'
            if beyond
            else '<b class="gate-held">held</b>'
        )
        said.append(
            f'<span id="baseline-gate">The slo invariant\'s gate (vs_baseline: {limits}; in '
            f"{escape(', '.join(phases))}): {outcome}.</span>"
        )
    return f'<p class="caption">{" ".join(s for s in said if s)}</p>'


def _verdicts(results: dict[str, Any], base: dict[str, Any]) -> str:
    mine = {str(v.get("invariant")): v for v in results.get("invariants") or []}
    theirs = {str(v.get("invariant")): v for v in base.get("invariants") or []}
    rows = []
    for name in dict.fromkeys([*theirs, *mine]):
        a, b = theirs.get(name), mine.get(name)
        differ = ' data-differs="true"' if (a or {}).get("status") != (b or {}).get("status") else ""
        rows.append(f'<tr data-invariant="{escape(name)}"{differ}>'
                    f"<td>{escape(name)}</td><td>{_badge(a)}</td><td>{_badge(b)}</td></tr>")  # fmt: skip
    if not rows:
        return ""
    return ('<h3>Verdicts side by side</h3><table id="baseline-verdicts" class="grid"><thead><tr>'
            f"<th>invariant</th><th>baseline</th><th>this run</th></tr></thead><tbody>{''.join(rows)}"
            "</tbody></table>")  # fmt: skip


def _badge(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return '<span class="null">not checked</span>'
    status = str(verdict.get("status"))
    word = next((w for s, w in STATUS_WORDS.items() if s == status), status)
    count = f" ({verdict.get('count')})" if status == "violated" else ""
    return f'<span class="badge {escape(status)}">{escape(word + count)}</span>'


def _gate(results: dict[str, Any]) -> tuple[dict[str, float], list[str], set[tuple[str, str]]]:
    """The slo invariant's vs_baseline limits, the phases they apply to, and where they were exceeded."""
    slo = next((v for v in results.get("invariants") or [] if v.get("invariant") == "slo"), None) or {}
    params = slo.get("params") or {}
    vs = params.get("vs_baseline") or {}
    gate = {m: float(vs[m]) for m in ("error_rate", "p50", "p95", "p99") if vs.get(m) is not None}
    beyond = {(str(e.get("phase")), str(e.get("metric"))) for e in slo.get("examples") or []
              if isinstance(e, dict) and "gate" in e}  # fmt: skip
    return gate, [str(p) for p in params.get("phases") or []], beyond


def _limit(metric: str, allowed: float | None, baseline: Any) -> str:
    if allowed is None:
        return ""
    words = escape(gate_words(metric, allowed))
    if baseline is None:
        return words
    limit = baseline + allowed if metric == "error_rate" else baseline * allowed
    return f"&le; {escape(format_value(metric, limit))} ({words})"


def _count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"
