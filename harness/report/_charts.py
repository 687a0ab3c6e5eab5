"""Plotly figures (plain data: traces and layout, as plotly.js takes them) built from the aggregated history.

The timeline is one figure of four rows sharing the time axis (seconds since
the load started): operations per second per kind (with a closed loop's users,
as the load's shape set them, on the right-hand axis), outcomes per second,
error rate per kind, and p50/p99 latency per kind (solid and dotted, as the
legend says, on a log axis labelled 1 ms, 10 ms, …). An open-loop run has a fifth
row on top: arrivals per second, offered (the target), started and dropped. Every
fault's window is shaded and labelled, the run's phases are marked (labels in
rows of their own, so that none covers another), and a tripped guard is flagged.

The convergence figure is the settle phase: each eventual invariant's violations
at each round after the heal, until it held or its deadline passed.
"""

from __future__ import annotations

import html
import math
from typing import Any

from paychaos.report._timeline import Timeline

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#d62728",
)  # fmt: skip
FAULT_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")
OUTCOME_COLOURS = {
    "ok": "#9ccc9c",
    "refused": "#8fb3d9",
    "failed": "#d62728",
    "timeout": "#ff7f0e",
    "connection": "#7b3fa0",
}
OUTCOME_NAMES = {
    "ok": "ok",
    "refused": "refused (expected)",
    "failed": "failed",
    "timeout": "timeout (unknown)",
    "connection": "connection (unknown)",
}
# (y axis, domain): ops/s on top, latency at the bottom, above the shared time axis
ROWS = {
    "rps": ("y", (0.79, 1.0)),
    "outcomes": ("y2", (0.54, 0.74)),
    "errors": ("y3", (0.29, 0.49)),
    "latency": ("y4", (0.0, 0.24)),
}
# An open loop's: arrivals on top, the same four rows below, each a little shorter
OPEN_ROWS = {
    "arrivals": ("y5", (0.84, 1.0)),
    "rps": ("y", (0.63, 0.8)),
    "outcomes": ("y2", (0.42, 0.59)),
    "errors": ("y3", (0.21, 0.38)),
    "latency": ("y4", (0.0, 0.17)),
}
USERS_COLOUR = "#b8860b"
LATENCY_LINES = (("p50", "solid"), ("p99", "dot"))  # each kind's two latency lines: dash of each
LABEL_PX = 6.2  # width of one character of a 11 px label, roughly (to keep labels apart)
PLOT_PX = 1100  # the plot's width on a 1280-px page, roughly
_TICKS = tuple((m, round(m * 10.0**e, 1)) for e in range(-1, 7) for m in (1, 2, 5))  # ms: 0.1 ms … 5000 s
ARRIVAL_LINES = {  # name in the legend, colour, dash
    "offered": ("arrivals offered (target)", "#333333", "dash"),
    "started": ("arrivals started", "#2ca02c", "solid"),
    "dropped": ("arrivals dropped (every user busy)", "#d62728", "solid"),
}


def plotly_text(text: object) -> str:
    """Text for plotly.js, which reads a subset of HTML in labels: shown as written, never as markup."""
    return html.escape(str(text), quote=False)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _ms(values: list[float | None]) -> list[float | None]:
    return [None if v is None else round(max(v, 1e-4) * 1000, 3) for v in values]


def _line(x: list[Any], y: list[Any], *, name: str, group: str, axis: str, colour: str, hover: str,
          dash: str = "solid", width: float = 1.5, legend: bool = True) -> dict[str, Any]:  # fmt: skip
    return {
        "type": "scatter",
        "mode": "lines",
        "x": x,
        "y": y,
        "name": name,
        "legendgroup": group,
        "showlegend": legend,
        "yaxis": axis,
        "connectgaps": False,
        "line": {"color": colour, "width": width, "dash": dash},
        "hovertemplate": hover + "<extra></extra>",
    }


def _vline(x: float, colour: str, *, dash: str = "solid", width: float = 1) -> dict[str, Any]:
    """A vertical line across every row."""
    line = {"color": colour, "width": width, "dash": dash}
    return {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": line}


def _label(x: float, y: float, text: str, colour: str, **more: Any) -> dict[str, Any]:
    font = {"color": colour, "size": more.pop("size", 11)}
    return {
        "xref": "x",
        "yref": "paper",
        "x": x,
        "y": y,
        "text": text,
        "showarrow": False,
        "font": font,
        **more,
    }


def timeline_figure(
    timeline: Timeline,
    *,
    faults: list[dict[str, Any]],
    phases: list[dict[str, Any]],
    guard: dict[str, Any] | None,
    users: list[tuple[float, int]] | None = None,
) -> dict[str, Any]:
    """The timeline figure. ``faults``: label, start, end (seconds since the load started; end None: open);
    ``phases``: name, start (same clock); ``guard``: results.json's guard (at, message) or None;
    ``users``: a closed loop's user count from each time on (same clock), or None."""
    x = timeline.x
    traces: list[dict[str, Any]] = []
    latencies: list[float] = []
    for i, (kind, series) in enumerate(timeline.kinds.items()):
        colour, name = PALETTE[i % len(PALETTE)], plotly_text(kind)
        at = " at %{x:.1f}s"
        traces.append(_line(x, [_r(v) for v in series.rps], name=name, group=kind, axis="y", colour=colour,
                            hover=f"{name}: %{{y:.1f}} ops/s{at}"))  # fmt: skip
        traces.append(_line(x, [_r(v, 4) for v in series.error_rate], name=name, group=kind, axis="y3",
                            colour=colour, hover=f"{name}: %{{y:.1%}} errors{at}", legend=False))  # fmt: skip
        for (q, dash), values in zip(LATENCY_LINES, (series.p50, series.p99), strict=True):
            ms = _ms(values)
            latencies += [v for v in ms if v is not None]
            traces.append(_line(x, ms, name=f"{name} {q}", group=kind, axis="y4", colour=colour,
                                hover=f"{name} {q}: %{{y:.1f}} ms{at}", dash=dash, legend=False))  # fmt: skip
    if latencies:  # the legend's key to the latency lines: which line style is which percentile
        for q, dash in LATENCY_LINES:
            style = "solid" if dash == "solid" else "dotted"
            key = _line([None], [None], name=f"{q} latency ({style})", group="latency key", axis="y4",
                        colour="#555555", hover="", dash=dash)  # fmt: skip
            del key["hovertemplate"]
            traces.append({**key, "hoverinfo": "skip"})
    if len(timeline.kinds) > 1:
        total: dict[str, Any] = {
            "name": "all kinds",
            "group": "all kinds",
            "colour": "#333333",
            "dash": "dash",
            "width": 1,
        }
        rps: list[Any] = [_r(v) for v in timeline.total.rps]
        errors: list[Any] = [_r(v, 4) for v in timeline.total.error_rate]
        traces.append(_line(x, rps, axis="y", hover="all kinds: %{y:.1f} ops/s at %{x:.1f}s", **total))
        hover = "all kinds: %{y:.1%} errors at %{x:.1f}s"
        traces.append(_line(x, errors, axis="y3", hover=hover, legend=False, **total))
    for outcome, per_second in timeline.outcomes.items():
        label = plotly_text(OUTCOME_NAMES.get(outcome, outcome))
        marker = {"color": OUTCOME_COLOURS.get(outcome, "#7f7f7f"), "line": {"width": 0}}
        traces.append({"type": "bar", "name": label, "x": x, "y": [_r(v) for v in per_second], "yaxis": "y2",
                       "width": timeline.width * 0.9, "legendgroup": f"outcome {outcome}", "marker": marker,
                       "hovertemplate": f"{label}: %{{y:.1f}}/s at %{{x:.1f}}s<extra></extra>"})  # fmt: skip

    for name, per_second in timeline.arrivals.items():
        label, colour, dash = ARRIVAL_LINES[name]
        hover = f"{label}: %{{y:.1f}}/s at %{{x:.1f}}s"
        traces.append(_line(x, [_r(v) for v in per_second], name=label, group=f"arrivals {name}", axis="y5",
                            colour=colour, dash=dash, hover=hover))  # fmt: skip
    if users:
        user_x = [round(t, 3) for t, _ in users]
        trace = _line(user_x, [n for _, n in users], name="users (the load's shape)", group="users",
                      axis="y6", colour=USERS_COLOUR, width=2, hover="%{y} users from %{x:.1f}s")  # fmt: skip
        trace["line"]["shape"] = "hv"  # a count that steps
        traces.append(trace)

    rows = OPEN_ROWS if timeline.arrivals else ROWS
    x_range = _x_range(x, timeline.width, faults, phases)
    shapes, annotations, levels = _marks(faults, phases, guard, x, x_range)
    titles = {"rps": "ops/s", "outcomes": "outcomes/s", "errors": "error rate",
              "latency": "latency (log)", "arrivals": "arrivals/s"}  # fmt: skip
    layout: dict[str, Any] = {
        "height": 860 if rows is ROWS else 1040,
        "margin": {"l": 70, "r": 60 if users else 20, "t": 30 + 18 * levels, "b": 50},
        "barmode": "stack",
        "bargap": 0,
        "hovermode": "closest",
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.07, "x": 0, "yanchor": "top"},
        "xaxis": {
            "anchor": "y4",
            "title": {"text": "seconds since the load started"},
            "zeroline": False,
            "range": x_range,
        },
        "shapes": shapes,
        "annotations": annotations,
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "font": {"size": 12},
    }
    for row, (axis, domain) in rows.items():
        layout["yaxis" + axis[1:]] = {
            "domain": list(domain),
            "anchor": "x",
            "title": {"text": titles[row]},
            "rangemode": "tozero",
            "zeroline": True,
            "gridcolor": "#eeeeee",
        }
    layout["yaxis3"]["tickformat"] = ".0%"
    layout["yaxis4"].update({"type": "log", "rangemode": "normal", "zeroline": False})
    layout["yaxis4"].update(latency_ticks(latencies))
    if users:
        tint = {"color": USERS_COLOUR}
        layout["yaxis6"] = {"overlaying": "y", "side": "right", "anchor": "x",
                            "title": {"text": "users", "font": tint}, "tickfont": tint, "showgrid": False,
                            "zeroline": False, **count_axis(max(n for _, n in users))}  # fmt: skip
    return {"data": traces, "layout": layout}


def count_axis(peak: float) -> dict[str, Any]:
    """An axis of whole counts up to ``peak``: from 0, ticks at a round step (1, 2, 5, 10, 20, 50, …),
    at most five of them."""
    step = next(s * 10**e for e in range(15) for s in (1, 2, 5) if s * 10**e >= max(peak, 1) / 4)
    return {"range": [0, round(max(peak, 1) * 1.1, 3)], "tick0": 0, "dtick": step, "tickformat": ",d"}


def latency_ticks(ms: list[float]) -> dict[str, Any]:
    """A log axis's range and ticks for latencies ``ms``: from the 1-2-5 step at or below the least to
    the one at or above the most, every tick a round number with its unit (``1 ms``, ``10 ms``,
    ``1 s``): the 1-2-5 steps when at most seven, else the powers of ten."""
    if not ms:
        return {}
    lo, hi = min(ms), max(ms)
    steps = [value for _, value in _TICKS]
    below = max([t for t in steps if t <= lo], default=steps[0])
    above = min([t for t in steps if t >= hi], default=steps[-1])
    ticks = [t for t in steps if below <= t <= above]
    if len(ticks) > 7:
        ticks = [value for mantissa, value in _TICKS if mantissa == 1 and below <= value <= above]
    pad = 0.03 * max(math.log10(above / below), 1.0)
    return {
        "tickmode": "array",
        "tickvals": ticks,
        "ticktext": [f"{t:g} ms" if t < 1000 else f"{t / 1000:g} s" for t in ticks],
        "range": [round(math.log10(below) - pad, 4), round(math.log10(above) + pad, 4)],
    }


def convergence_figure(settle: dict[str, Any], *, within: dict[str, float] | None = None) -> dict[str, Any]:
    """The settle phase as a chart: each eventual invariant's violations per round, in seconds after the
    heal, each line ending where it held (0) or its last round; the deadlines as dotted lines.
    ``settle``: results.json's settle record."""
    polls = [p for p in settle.get("polls") or [] if isinstance(p.get("violations"), dict)]
    deadlines: dict[str, float] = dict(within or settle.get("deadlines") or {})
    names = list(dict.fromkeys([*deadlines, *(n for p in polls for n in p["violations"])]))
    traces: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        points = [(float(p["at"]), p["violations"][name]) for p in polls if name in p["violations"]]
        if not points:
            continue
        label = plotly_text(name)
        trace = _line([t for t, _ in points], [n for _, n in points], name=label, group=name, axis="y",
                      colour=PALETTE[i % len(PALETTE)], width=2,
                      hover=f"{label}: %{{y}} violation(s) %{{x:.1f}}s after the heal")  # fmt: skip
        trace["mode"] = "lines+markers"
        trace["line"]["shape"] = "hv"
        trace["marker"] = {"size": 7}
        traces.append(trace)
    shapes, annotations = [], []
    for at in sorted(set(deadlines.values())):
        shapes.append(_vline(at, "#999999", dash="dot"))
        annotations.append(_label(at, 1, f"deadline {at:g}s ", "#777777", size=10, yanchor="top",
                                  xanchor="right"))  # fmt: skip
    last = {name: [p["violations"][name] for p in polls if name in p["violations"]][-1:] for name in names}
    settled = all(counts == [0] for counts in last.values())
    # all held: the rounds they took, else up to the deadlines they ran into
    right = max([*([] if settled else deadlines.values()), *(float(p["at"]) * 1.15 for p in polls), 1.0])
    peak = max([n for p in polls for n in p["violations"].values() if n is not None] or [1])
    layout: dict[str, Any] = {
        "height": 320,
        "margin": {"l": 70, "r": 20, "t": 30, "b": 50},
        "hovermode": "closest",
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.25, "x": 0, "yanchor": "top"},
        "xaxis": {"title": {"text": "seconds after the heal"}, "range": [0, round(right * 1.03, 3)],
                  "zeroline": False},
        "yaxis": {"title": {"text": "violations"}, "gridcolor": "#eeeeee", "zeroline": True,
                  **count_axis(peak)},
        "shapes": shapes,
        "annotations": annotations,
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "font": {"size": 12},
    }  # fmt: skip
    return {"data": traces, "layout": layout}


def _x_range(
    x: list[float], width: float, faults: list[dict[str, Any]], phases: list[dict[str, Any]]
) -> list[float]:
    """The load: from its start (or the first operation) to the last operation or heal. The phases before
    and after it (target up, settle, verify) stay drawn outside; double-clicking the chart shows them."""
    left = min([x[0] - width / 2, 0.0] + [p["start"] for p in phases if p["name"] == "load"])
    right = max([x[-1] + width / 2] + [f["end"] for f in faults if f["end"] is not None])
    pad = (right - left) * 0.01
    return [round(left - pad, 3), round(right + pad, 3)]


def _marks(
    faults: list[dict[str, Any]],
    phases: list[dict[str, Any]],
    guard: dict[str, Any] | None,
    x: list[float],
    x_range: list[float],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Shapes and labels for the faults, phases and guard; and how many rows of labels there are.

    Every label sits above the plot, in the first row where it covers no other (its width estimated
    from its text), so short phases and overlapping faults keep readable labels."""
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    right = max([*x, *(p["start"] for p in phases), *(f["start"] for f in faults), 0.0])
    per_px = (x_range[1] - x_range[0]) / PLOT_PX  # x units per pixel
    ends: list[float] = []  # per row of labels: where the last label placed there ends

    def row(start: float, text: str) -> int:
        left = max(start, x_range[0])  # a label whose mark is left of the plot starts at its edge
        level = next((n for n, e in enumerate(ends) if e <= left), len(ends))
        ends[level:level + 1] = [left + (len(text) * LABEL_PX + 12) * per_px]  # fmt: skip
        return level

    marks = [(f["start"], 0, f) for f in faults] + [(p["start"], 1, p) for p in phases]
    colours = iter(FAULT_COLOURS * (len(faults) // len(FAULT_COLOURS) + 1))
    for start, is_phase, mark in sorted(marks, key=lambda m: (m[0], m[1])):
        if is_phase:
            text = plotly_text(mark["name"])
            shapes.append(_vline(start, "#999999", dash="dot"))
            visible = x_range[0] <= start <= x_range[1]
            level = row(start, "▸ " + mark["name"]) if visible else 0
            hover = plotly_text(f"phase {mark['name']} from {start:.1f}s")
            annotations.append(_label(start, 1, f"▸ {text}", "#666666", size=11, yanchor="bottom",
                                      xanchor="left", yshift=2 + 18 * level, hovertext=hover))  # fmt: skip
            continue
        colour = next(colours)
        end = max(mark["end"] if mark["end"] is not None else right, start)
        window = {"x0": start, "x1": end, "y0": 0, "y1": 1, "fillcolor": colour, "opacity": 0.1}
        shapes.append(
            {"type": "rect", "xref": "x", "yref": "paper", **window, "layer": "below", "line": {"width": 0}}
        )
        shapes.append(_vline(start, colour))
        text = f"⚡ {plotly_text(mark['label'])}"
        level = row(start, f"⚡ {mark['label']}")
        healed = f"healed at {end:.1f}s" if mark["end"] is not None else "not healed by the schedule"
        hover = plotly_text(f"{mark['label']}: applied at {start:.1f}s, {healed}")
        annotations.append(_label(start, 1, text, colour, yanchor="bottom", xanchor="left",
                                  yshift=2 + 18 * level, hovertext=hover))  # fmt: skip
    if guard is not None and isinstance(guard.get("at"), int | float) and math.isfinite(guard["at"]):
        at = float(guard["at"])
        shapes.append(_vline(at, "#b00020", dash="dash", width=2))
        annotations.append(_label(at, 0.5, f"🛑 guard tripped at {at:.1f}s", "#b00020", xanchor="left",
                                  bgcolor="#fff0f0", bordercolor="#b00020",
                                  hovertext=plotly_text(guard.get("message", ""))))  # fmt: skip
    return shapes, annotations, max(len(ends), 1)
