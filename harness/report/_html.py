"""report.html: one self-contained file (styles, plotly.js and the data inlined) that opens offline.

plotly.js is its basic bundle, vendored (see :mod:`paychaos.report._bundle`): 1.2 MB of the page,
which stays under 1.5 MB (MAX_REPORT_BYTES) even for an hour-long run: the examples of what broke get
what the rest of the page leaves (every violator is in violations.csv besides).

Top to bottom: the verdict in one line, the experiment's story, the invariants;
the timeline (throughput, outcomes, error rate and latency per kind, with the
faults, the run's phases and a tripped guard marked); each violated
invariant's examples with their evidence; the SLO per phase and the
operations per kind; the fault journal; how the run ran and how to rerun it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from paychaos import __version__
from paychaos._results import NOT_EXERCISED, STATUS_WORDS
from paychaos.faults import FaultWindow, fault_windows
from paychaos.report._bundle import script_path
from paychaos.report._charts import convergence_figure, timeline_figure
from paychaos.report._compare import compare_section
from paychaos.report._proxies import traffic_section
from paychaos.report._run import Run, load_run
from paychaos.report._text import run_summary, verdict_summary
from paychaos.report._words import (
    CLIENT_SUCCESS,
    checked,
    convergence,
    currency_of,
    definition,
    is_money,
    money,
    promise,
)
from paychaos.rundir import RunDir
from paychaos.system import CurrencySpec

REPORT_NAME = RunDir.REPORT
MAX_REPORT_BYTES = 1_500_000  # at most; the tests hold the largest sample and an hour-long run to it
MAX_TEXT = 2000  # characters of one value shown in an example
MAX_ROWS = 50  # rows of one nested list shown in an example
OPEN_EXAMPLES = 5  # examples shown unfolded per invariant; the rest fold
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")


def write_html(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from the run's results.json, history and fault journal; return it."""
    return write_run_html(load_run(Path(run_dir)))


def write_run_html(run: Run, path: Path | None = None) -> Path:
    path = Path(path or RunDir(run.dir).report)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(render(run), encoding="utf-8")
    os.replace(scratch, path)
    return path


@functools.cache
def plotly_js() -> str:
    """plotly.js's basic bundle (scatter and bar traces, every layout feature), minified, vendored."""
    script = script_path().read_text(encoding="utf-8")
    return script.replace("</script", "<\\/script")  # cannot end the inline <script> early


def _compact(figure: dict[str, Any]) -> dict[str, Any]:
    """The figure with the time axis written once (``x``), not once per trace: a third of the data of
    a long run. The page's script gives it back to each trace that has none."""
    traces = figure["data"]
    x = traces[0]["x"] if traces else []
    data = [{k: v for k, v in t.items() if k != "x"} if t.get("x") == x else t for t in traces]
    return {**figure, "data": data, "x": x}


def _json_for_script(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render(run: Run) -> str:
    """The whole page as one string."""
    results = run.results
    experiment = results.get("experiment") or {}
    verdict = str(results.get("verdict") or "error")
    charts: dict[str, Any] = {}
    if run.timeline.x:
        never = _never_acted(run)
        marks = [{**m, "label": f"{m['label']} (never acted)"} if m.get("id") in never else m
                 for m in run.fault_marks()]  # fmt: skip
        charts["timeline"] = _compact(timeline_figure(
            run.timeline, faults=marks, phases=run.phase_marks(), guard=results.get("guard"),
            users=run.users,
        ))  # fmt: skip
    if _settle_rounds(run):
        charts["convergence"] = _compact(convergence_figure(results["settle"]))
    name = experiment.get("name") or results.get("run_id")
    title = f"paychaos: {name} — {verdict.upper()}"
    before = [_header(run), _shortfall(run), _notes(run), _story(run), _invariants(run), _coverage(run),
              _timeline(run)]  # fmt: skip
    after = [
        _slo(run),
        compare_section(run),
        _faults(run),
        traffic_section(run),
        _details(run),
        f"<footer>Written by paychaos {escape(__version__)} at {_utc(datetime.now(UTC).timestamp())} "
        f"from {escape(str(run.dir))}.</footer>",
    ]
    charts_json = _json_for_script(charts)
    # The examples get what the rest of the page leaves of MAX_REPORT_BYTES (every violator is in
    # violations.csv besides): measured on the page without them.
    room = MAX_REPORT_BYTES - len(_page(title, verdict, "\n".join([*before, *after]), charts_json).encode())
    body = "\n".join([*before, _violations(run, room), *after])
    return _page(title, verdict, body, charts_json)


def _page(title: str, verdict: str, body: str, charts_json: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="paychaos {escape(__version__)}">
<title>{escape(title)}</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style>
</head>
<body data-verdict="{escape(verdict)}" data-ready="false">
<main>
{body}
</main>
<script>{plotly_js()}</script>
<script type="application/json" id="paychaos-charts">{charts_json}</script>
<script>{_JS}</script>
</body>
</html>
"""


# -- sections ----------------------------------------------------------------------------------


def _header(run: Run) -> str:
    r = run.results
    verdict = str(r.get("verdict") or "error")
    experiment = r.get("experiment") or {}
    target = r.get("target") or {}
    defects = ", ".join(target.get("defects") or []) or "none"
    started, ended = r.get("started_at"), r.get("ended_at")
    took = (
        f", took {float(ended) - float(started):.1f} s" if started is not None and ended is not None else ""
    )
    meta = [
        f"run {escape(str(r.get('run_id') or run.dir.name))}",
        f"target {escape(str(target.get('name') or '?'))}, defects: {escape(defects)}",
        f"started {_utc(started)}{took}",
        f"exit code {escape(str(r.get('exit_code')))}",
    ] + (["quick profile"] if experiment.get("quick") else [])
    word = escape(verdict.upper())
    summary = f"{escape(run.model.experiment.name)}: {escape(run_summary(run.model, full=True))}"
    return f"""<header class="verdict {escape(verdict.replace(" ", "-"))}" id="verdict">
<p class="line"><span class="word">{word}</span> <span class="summary">{summary}</span></p>
<p class="meta">{" · ".join(meta)}</p>
</header>"""


_ACTED = re.compile(r"^fault (?P<id>\S+) acted$")  # the coverage counter of a fault that may match nothing


def _acted(run: Run) -> dict[str, dict[str, Any]]:
    """The ``fault ID acted`` coverage counters (an HTTP fault's requests acted on), by fault id."""
    counters = {}
    for c in run.results.get("coverage") or []:
        found = _ACTED.match(str(c.get("name") or ""))
        if found:
            counters[found["id"]] = c
    return counters


def _never_acted(run: Run) -> set[str]:
    return {fid for fid, c in _acted(run).items() if c.get("met") is False}


def _shortfall(run: Run) -> str:
    """Beside the verdict, loud: what the run was required to make the stack do and did not (a fault
    that never acted, a counter short of its requirement), and scheduled faults a finished run never
    applied. Whatever held, held over paths the run never took."""
    r = run.results
    labels = {f.get("id"): f.get("label") for f in r.get("faults") or []}
    acted = {str(c.get("name")) for c in _acted(run).values()}
    items = []
    for fid, c in _acted(run).items():
        if c.get("met") is not False:
            continue
        label = f" ({escape(str(labels[fid]))})" if labels.get(fid) else ""
        required = escape(str(c.get("required")))
        if c.get("value") is None:
            said = f": its acts could not be counted ({escape(str(c.get('error') or ''))})"
        else:
            said = f" never acted: {escape(_acts(c))}, at least {required} required. "
            nothing = "Its link carried nothing while it was on"
            if not _in_bytes(c):
                nothing = "It matched nothing the load sent"
            said += f"{nothing}, so the stack never met this fault"
        items.append(f'<li data-shortfall="{escape(str(c.get("name")))}"><b>fault {escape(fid)}</b>{label}'
                     f"{said}.</li>")  # fmt: skip
    for c in r.get("coverage") or []:
        if c.get("met") is not False or str(c.get("name")) in acted:
            continue
        value = f"could not be counted ({c.get('error')})" if c.get("value") is None else str(c["value"])
        what = f": {escape(str(c['description']))}" if c.get("description") else ""
        name, required = escape(str(c.get("name"))), escape(str(c.get("required")))
        items.append(f'<li data-shortfall="{name}"><b>{name}</b> = {escape(value)}, required &ge; {required}'
                     f"{what}</li>")  # fmt: skip
    if r.get("status") == "completed":
        for fault in r.get("faults") or []:
            if fault.get("applied_at") is None:
                fid, label = str(fault.get("id") or "?"), fault.get("label")
                shown = f" ({escape(str(label))})" if label else ""
                items.append(f'<li data-shortfall="fault {escape(fid)} applied"><b>fault {escape(fid)}</b>'
                             f"{shown} was scheduled but never applied.</li>")  # fmt: skip
    if not items:
        return ""
    if r.get("verdict") == NOT_EXERCISED:
        title = "Not exercised: this run is no pass"
        lead = ("The invariants were checked over a run that did not make the stack do what the experiment "
                "requires: what held, held over paths the run never took.")  # fmt: skip
    else:
        title = "Not exercised"
        lead = "Besides the verdict, the run did not make the stack do what the experiment requires:"
    hint = ("Make the faults or the load hit it (e.g. lose requests with stream: upstream, match the "
            "requests an HTTP fault names, add the scenario, run longer), then run again.")  # fmt: skip
    return (f'<section class="shortfall" id="not-exercised" role="alert"><h2>⚠ {escape(title)}</h2>'
            f'<p>{escape(lead)}</p><ul>{"".join(items)}</ul><p class="hint">{escape(hint)}</p>'
            "</section>")  # fmt: skip


def _notes(run: Run) -> str:
    if not run.notes:
        return ""
    items = "".join(f"<li>{_inline_code(note)}</li>" for note in run.notes)
    kind = "rebuilt" if run.rebuilt else "warning"
    return f'<section class="notes {kind}" id="notes"><ul>{items}</ul></section>'


def _inline_code(text: str) -> str:
    parts = str(text).split("`")
    return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))


def _story(run: Run) -> str:
    description = str((run.results.get("experiment") or {}).get("description") or "").strip()
    if not description:
        return ""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", description) if p.strip()]
    text = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f'<section id="story"><h2>The story</h2>{text}</section>'


def _table(table_id: str, headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(rows)
    return f'<table id="{table_id}" class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _promise(name: str) -> str:
    said = promise(name)
    return f'<div class="promise">{_inline_code(said)}</div>' if said else ""


def _invariants(run: Run) -> str:
    rows = []
    settle = run.results.get("settle")
    for v in run.results.get("invariants") or []:
        name, status = str(v.get("invariant", "?")), str(v.get("status", "?"))
        link = f'<a href="#{_slug(name)}">{escape(name)}</a>' if status != "holds" else escape(name)
        count = v.get("count", 0)
        cells = [
            f'<td><span class="name">{link}</span>{_promise(name)}</td><td>{_badge(status)}</td>',
            f'<td class="n">{escape(f"{count:,}" if isinstance(count, int) else str(count))}</td>',
            f'<td class="checked">{escape(checked(v)) or "—"}</td>',
            f'<td class="converged">{escape(convergence(v, settle)) or "—"}</td>',
            f"<td>{escape(str(v.get('reason') or ''))}</td>",
        ]
        rows.append(
            f'<tr data-invariant="{escape(name)}" data-status="{escape(status)}">{"".join(cells)}</tr>'
        )
    if not rows:
        why = escape(str(run.results.get("error") or "the run ended before verifying"))
        rows.append(f'<tr class="none"><td colspan="6">No invariant was checked: {why}</td></tr>')
    headers = ["invariant: what it promises", "verdict", "violations", "checked", "after the heal", "reason"]
    return (
        f'<section id="invariants-section"><h2>Invariants</h2>{_table("invariants", headers, rows)}'
        f"{_not_checked(run)}</section>"
    )


def _not_checked(run: Run) -> str:
    """The default invariants the run did not check, and why: what held says nothing of them."""
    skipped = run.results.get("not_checked") or {}
    if not skipped:
        return ""
    items = []
    for name, why in skipped.items():
        said = promise(str(name))
        what = f' <span class="promise">({_inline_code(said)})</span>' if said else ""
        items.append(f'<li data-not-checked="{escape(str(name))}"><b>{escape(str(name))}</b>{what}: '
                     f"{escape(str(why))}</li>")  # fmt: skip
    return (f'<div class="not-checked" id="not-checked"><p>Not checked in this run ({len(skipped)}), so '
            f"nothing above speaks for them:</p><ul>{''.join(items)}</ul></div>")  # fmt: skip


def _coverage(run: Run) -> str:
    """What the run made the stack do: a pass means little for a path that never ran."""
    counts = run.results.get("coverage") or []
    if not counts:
        return ""
    rows = []
    for c in counts:
        required, met = c.get("required"), c.get("met")
        value = "could not count" if c.get("value") is None else str(c["value"])
        badge = {True: _badge("holds", "met"), False: _badge("violated", NOT_EXERCISED.upper())}.get(met, "")
        cells = [
            f"<td>{escape(str(c.get('name', '?')))}</td>",
            f'<td class="n">{escape(value)}</td>',
            f'<td class="n">{"—" if required is None else f"&ge; {escape(str(required))}"}</td>',
            f"<td>{badge}</td>",
            f"<td>{escape(str(c.get('description') or c.get('error') or ''))}</td>",
        ]
        rows.append(f'<tr data-counter="{escape(str(c.get("name")))}" data-met="{escape(str(met))}">'
                    f"{''.join(cells)}</tr>")  # fmt: skip
    headers = ["counter", "count", "required", "", "what it counts"]
    return (
        '<section id="coverage-section"><h2>Coverage: what the run made the stack do</h2>'
        f"{_table('coverage', headers, rows)}</section>"
    )


def _badge(status: str, word: str | None = None) -> str:
    said = word or next((w for s, w in STATUS_WORDS.items() if s == status), status)
    return f'<span class="badge {escape(status)}">{escape(said)}</span>'


def _slug(name: str) -> str:
    return "invariant-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _timeline(run: Run) -> str:
    t = run.timeline
    if not t.x:
        empty = "No client operation was recorded: the run ended before any load was sent."
        return f'<section id="timeline-section"><h2>Timeline</h2><p class="empty">{empty}</p></section>'
    refused = sum(k["refused"] for k in t.by_kind)
    caption = (
        f"{t.operations} client operations from {t.files} history file(s), in {t.width:g}-second buckets by "
        f"when they ended; {t.errors} errors (failed, or unknown: timeout or connection), {refused} expected "
        "refusals. Shaded: each fault from applied to healed; dotted: the run's phases. Click a legend entry "
        "to hide it; drag to zoom; double-click for the whole run, with the phases before and after the load."
    )
    if t.arrivals:
        got = t.arrived
        caption += (
            f" Open loop: {got['offered']} arrivals offered, {got['started']} started, "
            f"{got['dropped']} dropped (every user busy); an iteration's latency runs from when it was due, "
            "not from when a user got to it."
        )
    if run.users:
        caption += " The ops/s row's right-hand axis: the users, as the load's shape set them."
    label = "throughput, outcomes, error rate and latency over time"
    return f"""<section id="timeline-section"><h2>Timeline</h2>
<p class="caption">{escape(caption)}</p>{_told_ok(run)}
<div id="timeline" class="chart" role="img" aria-label="{label}"></div>
{_convergence(run)}</section>"""


def _told_ok(run: Run) -> str:
    """Beside the chart, when its error rate reads about 0% while invariants were violated: the clients
    were told all went well (or, as every example shows, that their payment failed: answered, not an
    error) while the money went wrong, in one sentence with the count."""
    t = run.timeline
    wrong = [v for v in run.results.get("invariants") or []
             if v.get("status") == "violated" and v.get("invariant") != "slo"]  # fmt: skip
    if not t.operations or not wrong or t.errors / t.operations > CLIENT_SUCCESS:
        return ""
    total = sum(int(v.get("count") or 0) for v in wrong)
    errors = f"no operation of {t.operations:,} returned an error"
    if t.errors:
        rate = f"{t.errors / t.operations:.1%}"
        errors = f"only {t.errors:,} of {t.operations:,} operations ({rate}) returned an error"
    found = "; ".join(
        f"{v.get('invariant')}: {v.get('reason') or str(v.get('count')) + ' violation(s)'}" for v in wrong
    )
    # what the violators' clients were told, as their examples show: "failed" alone is no success
    examples = [e for v in wrong for e in v.get("examples") or [] if isinstance(e, dict)]
    told = {str(op["told"]) for e in examples for op in e.get("client_operations") or []
            if isinstance(op, dict) and op.get("told")}  # fmt: skip
    saw = "were told their payments failed" if told == {"failed"} else "saw success"
    text = (
        f"The clients {saw} while the money went wrong: {errors}, as the error rate below shows, "
        f"yet the invariants found {total:,} violation(s) ({found})."
    )
    return f'\n<p class="told-ok" id="client-saw-success" role="note">⚠ {escape(text)}</p>'


def _settle_rounds(run: Run) -> list[dict[str, Any]]:
    settle = run.results.get("settle")
    return [p for p in (settle or {}).get("polls") or [] if p.get("violations")]


def _convergence(run: Run) -> str:
    """After the heal: each eventual invariant's violations per settle round, charted, with its word."""
    rounds = _settle_rounds(run)
    if not rounds:
        return ""
    settle = run.results["settle"]
    said = []
    for v in run.results.get("invariants") or []:
        found = definition(str(v.get("invariant") or ""))
        if found is not None and found.eventual and v.get("invariant") in (settle.get("deadlines") or {}):
            said.append(f"{v['invariant']} {convergence(v, settle)}")
    caption = (
        f"The settle phase: after the heal, the eventual invariants were checked {len(rounds)} time(s), "
        "each round over a fresh snapshot of the evidence (a point: when it was taken), each invariant until "
        "it held (0 violations) or its deadline passed. " + ("; ".join(said) + "." if said else "")
    )
    label = "violations of each eventual invariant per settle round, after the heal"
    return f"""<h3 id="convergence-heading">After the heal: the eventual invariants converging</h3>
<p class="caption">{escape(caption)}</p>
<div id="convergence" class="chart small" role="img" aria-label="{label}"></div>
"""


def _violations(run: Run, room: int = MAX_REPORT_BYTES) -> str:
    """What broke: each invariant not held, with its examples, in at most ``room`` bytes (its first
    example whatever its size): the bytes left are shared out among the invariants still to come."""
    at = _Shown(run.t0, currency_of(run.results))
    files = run.results.get("violations") or {}  # every violator, beside the page (item 2 of issue 14)
    broken = [v for v in run.results.get("invariants") or [] if v.get("status") != "holds"]
    sections: list[str] = []
    left = room - 2_000  # the section's heading and the files' line
    for i, v in enumerate(broken):
        sections.append(_violation(v, at, left // (len(broken) - i), bool(files.get("csv"))))
        left -= len(sections[-1].encode())
    if not sections:
        return ""
    listed = (
        '<p class="files" id="violations-files">Every violator, with what would put it right: '
        f'<a href="{escape(files["csv"])}">{escape(files["csv"])}</a> ({int(files.get("rows") or 0):,} '
        f'rows; also <a href="{escape(files["jsonl"])}">{escape(files["jsonl"])}</a>)'
        + (f"; incomplete: {escape(str(files['error']))}" if files.get("error") else "")
        + "</p>"
        if files.get("csv")
        else ""
    )
    return '<section id="violations"><h2>What broke</h2>' + listed + "".join(sections) + "</section>"


@dataclass(frozen=True)
class _Shown:
    """How an example's values are shown: times also on the timeline's clock (``t0``, the load's start),
    amounts in the target's currency."""

    t0: float | None
    currency: CurrencySpec | None


def _violation(
    verdict: dict[str, Any], at: _Shown, room: int = MAX_REPORT_BYTES, listed: bool = False
) -> str:
    """One invariant not held; its examples while they fit in ``room`` bytes (the first always);
    ``listed``: every violator is in violations.csv."""
    status = str(verdict.get("status"))
    name = str(verdict.get("invariant", "?"))
    examples = list(verdict.get("examples") or [])
    params = {k: p for k, p in (verdict.get("params") or {}).items() if p is not None}
    said = promise(name)
    parts = [
        f'<section class="violation {escape(status)}" id="{_slug(name)}">',
        f"<h3>{escape(name)} {_badge(status)}</h3>",
        f'<p class="promise">Promise: {_inline_code(said)}</p>' if said else "",
        f'<p class="summary">{escape(verdict_summary(verdict))}</p>',
    ]
    if params:
        parts.append(f'<p class="params">parameters: {_kv_inline(params)}</p>')
    total = max(int(verdict.get("count") or 0), len(examples))
    left, shown = room - len("".join(parts).encode()) - 600, 0  # 600: the closing lines
    for i, example in enumerate(examples, 1):
        body, heading = _example(example, at), f"example {i} of {total}"
        if i <= OPEN_EXAMPLES:
            part = f'<div class="example"><h4>{heading}</h4>{body}</div>'
        else:
            part = f'<details class="example"><summary>{heading}</summary>{body}</details>'
        left -= len(part.encode())
        if shown and left < 0:
            break
        parts.append(part)
        shown += 1
    if shown < len(examples):
        where = "; every violator is in violations.csv" if listed else ""
        parts.append(f'<p class="more" data-not-shown="{len(examples) - shown}">{len(examples) - shown} more '
                     f"kept in results.json, not shown here to keep this page under "
                     f"{MAX_REPORT_BYTES / 1e6:g} MB{where}.</p>")  # fmt: skip
    if examples and total > len(examples):
        kept = f"{total - len(examples)} more not kept (results keep the first {len(examples)})."
        parts.append(f'<p class="more">{kept}</p>')
    parts.append("</section>")
    return "".join(parts)


def _example(example: Any, at: _Shown) -> str:
    if not isinstance(example, dict):
        return f'<p class="value">{_value(example, at)}</p>'
    # records (the order's story: its operations, postings, notifications…) under headings, in order;
    # an empty list among them says so there ("notifications_received (0): none"), not as [] above
    simple = {k: v for k, v in example.items() if not (_is_records(v) or v == [])}
    nested = {k: v for k, v in example.items() if _is_records(v) or v == []}
    out = [_kv_table(simple, at)] if simple else []
    for key, rows in nested.items():
        shown = _records_table(rows, at) if rows else '<p class="none">none</p>'
        out.append(f"<h5>{escape(str(key))} ({len(rows)})</h5>{shown}")
    return "".join(out)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _kv_table(data: dict[str, Any], at: _Shown) -> str:
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{_value(v, at, str(k))}</td></tr>"
                   for k, v in data.items())  # fmt: skip
    return f'<table class="kv">{rows}</table>'


def _records_table(rows: list[dict[str, Any]], at: _Shown) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [str(k) for k in row if str(k) not in columns]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = [
        "<tr>" + "".join(f"<td>{_value(row.get(c), at, c)}</td>" for c in columns) + "</tr>"
        for row in rows[:MAX_ROWS]
    ]
    if len(rows) > MAX_ROWS:
        body.append(f'<tr class="more"><td colspan="{len(columns)}">… {len(rows) - MAX_ROWS} more</td></tr>')
    return f'<table class="records"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _value(value: Any, at: _Shown, key: str = "") -> str:
    """One value of an example; ``key``: its field's name (an amount of money is shown as one)."""
    if value is None:
        return '<span class="null">null</span>'
    if isinstance(value, bool):
        return f'<span class="bool">{"true" if value else "false"}</span>'
    if is_money(key, value):
        title = f"{value} in minor units"
        return f'<span class="money" title="{escape(title)}">{escape(money(value, at.currency))}</span>'
    if isinstance(value, int | float) and key.lower().endswith("percent"):
        return f'<span class="num">{value:g}%</span>'  # e.g. a promotion's cap_percent
    if isinstance(value, int | float):
        number = f"{value:.6g}" if isinstance(value, float) else str(value)
        return f'<span class="num">{escape(number)}</span>'
    if isinstance(value, str):
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"… ({len(value)} characters)"
        if len(text) <= 24 and " " not in text:
            return f'<span class="nw">{escape(text)}</span>'
        return escape(text) + _relative(value, at.t0)
    if _is_records(value):
        return _records_table(value, at)
    if isinstance(value, dict):
        return _kv_table(value, at) if value else "{}"
    if isinstance(value, list):
        if not value:
            return "[]"
        more = " …" if len(value) > MAX_ROWS else ""
        return ", ".join(_value(v, at, key) for v in value[:MAX_ROWS]) + more
    return escape(str(value)[:MAX_TEXT])


def _relative(text: str, t0: float | None) -> str:
    """For a timestamp: when it was on the timeline's clock (seconds since the load started)."""
    if t0 is None or not _ISO.match(text):
        return ""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return f' <span class="rel">({at.timestamp() - t0:+.3f} s)</span>'


def _kv_inline(data: dict[str, Any]) -> str:
    pairs = (f"{k}={json.dumps(v, default=str)}" for k, v in data.items())
    return ", ".join(f"<code>{escape(pair)}</code>" for pair in pairs)


def _seconds(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 1000:.1f} ms"


def _rate(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2%}"


def _metric(metric: str, value: Any) -> str:
    return _rate(value) if metric == "error_rate" else _seconds(value)


_METRICS = ("error_rate", "p50", "p95", "p99")


def _slo(run: Run) -> str:
    slo = next((v for v in run.results.get("invariants") or [] if v.get("invariant") == "slo"), None) or {}
    params = slo.get("params") or {}
    phases = (slo.get("details") or {}).get("phases")
    if phases:
        kind = f", operations of kind {params['kind']}" if params.get("kind") else ""
        source = f"the slo invariant{kind} (exact percentiles over the evidence database)"
    else:
        phases = run.timeline.phases
        source = "the history (percentiles within ±0.5%)"
    limits = {m: params.get("max_error_rate" if m == "error_rate" else m) for m in _METRICS}
    limited = set(params.get("phases") or [])
    rows = []
    for p in phases or []:
        phase = escape(str(p.get("phase")))
        cells = [f"<td>{phase}</td>", f'<td class="n">{escape(str(p.get("operations")))}</td>']
        for metric in _METRICS:
            value, limit = p.get(metric), limits[metric]
            over = p.get("phase") in limited and limit is not None and value is not None and value > limit
            cells.append(f'<td class="n{" over" if over else ""}">{_metric(metric, value)}</td>')
        rows.append(f'<tr data-phase="{phase}">{"".join(cells)}</tr>')
    if rows and limited and any(v is not None for v in limits.values()):
        cells = [f"<td>limit ({escape(', '.join(sorted(limited)))})</td>", "<td></td>"]
        cells += [
            f'<td class="n">{"—" if limits[m] is None else _metric(m, limits[m])}</td>' for m in _METRICS
        ]
        rows.append(f'<tr class="limit">{"".join(cells)}</tr>')
    headers = ["phase", "operations", "error rate", "p50", "p95", "p99"]
    table = _table("slo", headers, rows) if rows else '<p class="empty">No client operation was recorded.</p>'
    kinds = []
    for k in run.timeline.by_kind:
        numbers = [k["operations"], k["errors"], k["unknown"], k["refused"], _rate(k["error_rate"])]
        numbers += [_seconds(k[q]) for q in ("p50", "p95", "p99")]
        cells_html = "".join(f'<td class="n">{n}</td>' for n in numbers)
        kinds.append(f"<tr><td>{escape(str(k['kind']))}</td>{cells_html}</tr>")
    headers = ["kind", "operations", "errors", "of them unknown", "expected refusals", "error rate"]
    by_kind = f"<h3>By kind of operation</h3>{_table('kinds', [*headers, 'p50', 'p95', 'p99'], kinds)}"
    caption = (
        "steady: operations started before the first fault; fault: until the last heal; recovery: after it. "
        f"Error rate: failed or unknown, expected refusals excluded. From {source}."
    )
    return f"""<section id="slo-section"><h2>Service levels per phase</h2>
<p class="caption">{escape(caption)}</p>
{table}{by_kind if kinds else ""}</section>"""


def _faults(run: Run) -> str:
    windows = {w.id: w for w in fault_windows(run.journal)}
    scheduled = run.results.get("faults") or []
    known = {f.get("id") for f in scheduled}
    faults = scheduled + [{"id": fid} for fid in windows if fid not in known]  # in the journal only
    acted = _acted(run)
    rows = []
    for fault in faults:
        fid = fault.get("id")
        window = windows.get(fid) if isinstance(fid, str) else None
        event = None if window is None else window.applied
        heal = None if window is None else window.healed
        cells = [
            escape(str(fid or "—")),
            escape(str(fault.get("label") or "")),
            _fault_what(event),
            _fault_schedule(fault.get("spec") or {}),
            _when(fault.get("applied_at"), event, run.t0, "not applied"),
            _when(fault.get("healed_at"), heal, run.t0, "not healed" if event else "—"),
            escape(_heal_outcome(window)),
        ]
        if acted:
            cells.append(_acted_cell(acted.get(fid) if isinstance(fid, str) else None))
        rows.append(
            f'<tr data-fault="{escape(str(fid))}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    if not rows:
        return '<section id="faults"><h2>Faults</h2><p class="empty">No fault was scheduled.</p></section>'
    headers = ["id", "fault", "what", "scheduled", "applied", "healed", "heal"] + (["acted"] if acted else [])
    caption = (
        f"The schedule and the fault journal ({RunDir.FAULTS}): what was applied where, and when it was "
        "healed; times in seconds since the load started, and UTC."
    )
    return (
        f'<section id="faults"><h2>Faults</h2><p class="caption">{escape(caption)}</p>'
        f"{_table('fault-journal', headers, rows)}</section>"
    )


def _acted_cell(counter: dict[str, Any] | None) -> str:
    """How often a fault that may match nothing acted; flagged when it never did."""
    if counter is None:
        return '<span class="null">—</span>'
    if counter.get("value") is None:
        return f'<span class="null">could not count: {escape(str(counter.get("error") or ""))}</span>'
    count = escape(_acts(counter))
    return count + (f" {_badge('violated', 'never acted')}" if counter.get("met") is False else "")


def _in_bytes(counter: dict[str, Any]) -> bool:
    """A toxic's counter counts the bytes its link carried; an HTTP fault's, the requests it acted on."""
    return "bytes" in str(counter.get("description") or "")


def _acts(counter: dict[str, Any]) -> str:
    value = counter.get("value")
    shown = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{shown} bytes carried" if _in_bytes(counter) else f"{shown} time(s)"


def _heal_outcome(window: FaultWindow | None) -> str:
    """What the heal did: its outcome (an overlapping fault's state kept in place says so), or why it
    was given up."""
    if window is None or window.settled is None:
        return ""
    if window.how == "abandoned":
        return f"given up: {window.settled.get('reason')}"
    return str(window.settled.get("outcome") or "")


def _fault_what(event: dict[str, Any] | None) -> str:
    if not event:
        return "—"
    params = event.get("params") or {}
    what = f"{escape(str(event.get('kind')))} {escape(str(event.get('action')))} on "
    return (
        what + f"<b>{escape(str(event.get('target')))}</b>" + (f"<br>{_kv_inline(params)}" if params else "")
    )


def _fault_schedule(spec: dict[str, Any]) -> str:
    if spec.get("at") is None:
        return "—"
    until = f" for {escape(str(spec['duration']))}" if spec.get("duration") else " until the load ends"
    return f"at {escape(str(spec['at']))}{until}"


def _when(relative: Any, event: dict[str, Any] | None, t0: float | None, otherwise: str) -> str:
    at = str((event or {}).get("at") or "")
    if relative is None and at and t0 is not None:
        try:
            relative = datetime.fromisoformat(at).timestamp() - t0
        except ValueError:
            relative = None
    if relative is None and not at:
        return f'<span class="null">{escape(otherwise)}</span>'
    parts = [f"{float(relative):.2f} s"] if relative is not None else []
    if at:
        parts.append(f'<span class="utc">{escape(at)}</span>')
    return "<br>".join(parts)


def _details(run: Run) -> str:
    r = run.results
    experiment = r.get("experiment") or {}
    backend = r.get("backend")
    versions = r.get("versions") or {}
    load = r.get("load") or {}
    items = [
        ("status", r.get("status")),
        ("experiment file", experiment.get("file")),
        ("seed", experiment.get("seed")),
        ("quick profile", "yes" if experiment.get("quick") else "no"),
        ("started", _utc(r.get("started_at"))),
        ("ended", _utc(r.get("ended_at"))),
        ("load started", _utc(r.get("load_started_at"))),
        ("load", ", ".join(f"{k} {v}" for k, v in load.items()) or "—"),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or "—"),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in items)
    if backend:
        passed = "".join(f"<li>{escape(str(p))}</li>" for p in backend.get("passed_over") or [])
        which = " ".join(escape(str(backend.get(k))) for k in ("kind", "version"))
        where = f"at {escape(str(backend.get('url')))} ({escape(str(backend.get('detail')))})"
        passed = f"<br>passed over:<ul>{passed}</ul>" if passed else ""
        rows += f"<tr><th>fault backend</th><td>Toxiproxy, {which}, {where}{passed}</td></tr>"
    else:
        rows += "<tr><th>fault backend</th><td>none started</td></tr>"
    phases = [
        f"<tr><td>{escape(str(p.get('name')))}</td><td>{escape(str(p.get('status')))}</td>"
        f'<td class="n">{_offset(p.get("started"), r.get("started_at"))}</td>'
        f'<td class="n">{_duration(p.get("started"), p.get("ended"))}</td></tr>'
        for p in r.get("phases") or []
    ]
    headers = ["phase", "status", "started after", "took"]
    phase_table = f"<h3>Phases</h3>{_table('phases', headers, phases)}" if phases else ""
    command = escape(str(r.get("command") or ""))
    return f"""<section id="run"><h2>The run</h2>
<p>Rerun it:</p><pre id="command"><code>{command}</code></pre>
<table class="kv">{rows}</table>{phase_table}</section>"""


def _utc(epoch: Any) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _offset(at: Any, since: Any) -> str:
    return "—" if at is None or since is None else f"{float(at) - float(since):.2f} s"


def _duration(start: Any, end: Any) -> str:
    return "—" if start is None or end is None else f"{float(end) - float(start):.2f} s"


_CSS = """
:root { --held: #1a7f37; --violated: #cf222e; --error: #9a6700; --interrupted: #6e40c9; --line: #d0d7de;
        --muted: #57606a; --bg-soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 24px 40px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 13px; margin: 0 0 6px; color: var(--muted); }
h5 { font-size: 13px; margin: 10px 0 4px; }
code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--bg-soft); border: 1px solid var(--line); padding: 8px 12px; overflow-x: auto; }
.verdict { border-left: 8px solid; padding: 10px 16px; margin: 8px 0 12px; background: var(--bg-soft); }
.verdict .line { margin: 0; font-size: 20px; }
.verdict .word { font-weight: 700; letter-spacing: .04em; color: #fff; padding: 2px 10px;
  border-radius: 4px; }
.verdict .meta { margin: 6px 0 0; color: var(--muted); }
.verdict.held { border-color: var(--held); } .verdict.held .word { background: var(--held); }
.verdict.violated { border-color: var(--violated); } .verdict.violated .word { background: var(--violated); }
.verdict.error { border-color: var(--error); } .verdict.error .word { background: var(--error); }
.verdict.not-exercised { border-color: var(--error); }
.verdict.not-exercised .word { background: var(--error); }
.verdict.interrupted { border-color: var(--interrupted); }
.verdict.interrupted .word { background: var(--interrupted); }
.shortfall { border: 2px solid var(--error); border-left-width: 8px; background: #fff8c5;
  padding: 4px 16px 6px; margin: 0 0 12px; }
.shortfall h2 { color: var(--error); border: 0; margin: 6px 0 4px; padding: 0; }
.shortfall ul { margin: 4px 0; padding-left: 20px; } .shortfall p { margin: 4px 0; }
.shortfall .hint { color: var(--muted); }
.notes { border: 1px solid #d4a72c; background: #fff8c5; padding: 4px 12px; }
.notes.rebuilt { border-color: var(--interrupted); background: #f3efff; }
.notes ul { margin: 6px 0; padding-left: 18px; }
table { border-collapse: collapse; margin: 6px 0; }
table.grid th, table.grid td, table.records th, table.records td { border: 1px solid var(--line);
  padding: 4px 8px; text-align: left; vertical-align: top; }
table.grid thead th, table.records thead th { background: var(--bg-soft); font-weight: 600; }
table.kv th { text-align: left; padding: 2px 12px 2px 0; color: var(--muted); font-weight: 600;
  vertical-align: top; }
table.kv td { padding: 2px 0; }
table.records { font-size: 12.5px; }
td.n, table.grid td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.over { color: var(--violated); font-weight: 700; }
tr.limit td { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  color: #fff; white-space: nowrap; }
.badge.holds { background: var(--held); } .badge.violated { background: var(--violated); }
.badge.could_not_check { background: var(--error); }
.violation { border: 1px solid var(--line); border-left: 4px solid var(--violated); padding: 4px 14px 10px;
  margin: 12px 0; }
.violation.could_not_check { border-left-color: var(--error); }
.example { border-top: 1px dashed var(--line); padding: 8px 0; overflow-x: auto; }
p.none { color: var(--muted); font-style: italic; margin: 2px 0 6px; }
details.example summary { cursor: pointer; color: var(--muted); }
.null { color: #8c959f; font-style: italic; }
.nw { white-space: nowrap; }
.rel { color: var(--muted); font-size: 11.5px; }
.utc { color: var(--muted); font-size: 11.5px; }
.caption { color: var(--muted); margin: 4px 0 8px; }
.empty { color: var(--muted); font-style: italic; }
.chart { width: 100%; min-height: 860px; }
.chart.small { min-height: 320px; }
.promise { color: var(--muted); font-size: 12.5px; max-width: 560px; }
p.promise { font-size: 13.5px; max-width: none; margin: 4px 0; }
td.checked, td.converged { white-space: nowrap; }
.money { white-space: nowrap; font-variant-numeric: tabular-nums; }
.told-ok { border: 2px solid var(--violated); border-left-width: 8px; background: #ffebe9;
  padding: 6px 12px; margin: 8px 0; font-weight: 600; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""

_JS = """
(function () {
  var charts = JSON.parse(document.getElementById("paychaos-charts").textContent);
  var config = {displaylogo: false, responsive: true, typesetMath: false};
  var drawn = Object.keys(charts).map(function (id) {
    var data = charts[id].data.map(function (trace) {  // the shared time axis (see _compact)
      return trace.x ? trace : Object.assign({x: charts[id].x}, trace);
    });
    return Plotly.newPlot(id, data, charts[id].layout, config);
  });
  Promise.all(drawn).then(
    function () { document.body.setAttribute("data-ready", "true"); },
    function (error) { document.body.setAttribute("data-ready", "error"); console.error(error); }
  );
})();
"""
