"""Plotly figures (plain data: traces and layout, as plotly.js takes them) built from the aggregated history.

The timeline is one figure of four rows sharing the time axis (seconds since
the load started): operations per second per kind, outcomes per second,
error rate per kind, and p50/p99 latency per kind. An open-loop run has a fifth
row on top: arrivals per second, offered (the target), started and dropped. Every
fault's window is shaded and labelled, the run's phases are marked, and a
tripped guard is flagged.
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


def _line(x: list[float], y: list[Any], *, name: str, group: str, axis: str, colour: str, hover: str,
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
) -> dict[str, Any]:
    """The timeline figure. ``faults``: label, start, end (seconds since the load started; end None: open);
    ``phases``: name, start (same clock); ``guard``: results.json's guard (at, message) or None."""
    x = timeline.x
    traces: list[dict[str, Any]] = []
    for i, (kind, series) in enumerate(timeline.kinds.items()):
        colour, name = PALETTE[i % len(PALETTE)], plotly_text(kind)
        at = " at %{x:.1f}s"
        traces.append(_line(x, [_r(v) for v in series.rps], name=name, group=kind, axis="y", colour=colour,
                            hover=f"{name}: %{{y:.1f}} ops/s{at}"))  # fmt: skip
        traces.append(_line(x, [_r(v, 4) for v in series.error_rate], name=name, group=kind, axis="y3",
                            colour=colour, hover=f"{name}: %{{y:.1%}} errors{at}", legend=False))  # fmt: skip
        for q, values, dash in (("p50", series.p50, "solid"), ("p99", series.p99, "dot")):
            traces.append(_line(x, _ms(values), name=f"{name} {q}", group=kind, axis="y4", colour=colour,
                                hover=f"{name} {q}: %{{y:.1f}} ms{at}", dash=dash, legend=False))  # fmt: skip
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

    rows = OPEN_ROWS if timeline.arrivals else ROWS
    shapes, annotations, levels = _marks(faults, phases, guard, x)
    titles = {"rps": "ops/s", "outcomes": "outcomes/s", "errors": "error rate", "latency": "latency ms",
              "arrivals": "arrivals/s"}  # fmt: skip
    layout: dict[str, Any] = {
        "height": 860 if rows is ROWS else 1040,
        "margin": {"l": 70, "r": 20, "t": 40 + 18 * levels, "b": 50},
        "barmode": "stack",
        "bargap": 0,
        "hovermode": "closest",
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.07, "x": 0, "yanchor": "top"},
        "xaxis": {
            "anchor": "y4",
            "title": {"text": "seconds since the load started"},
            "zeroline": False,
            "range": _x_range(x, timeline.width, faults, phases),
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
    layout["yaxis4"].update({"type": "log", "rangemode": "normal", "dtick": "D2", "zeroline": False})
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
    faults: list[dict[str, Any]], phases: list[dict[str, Any]], guard: dict[str, Any] | None, x: list[float]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Shapes and labels for the faults, phases and guard; and how many rows of fault labels there are."""
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    right = max([*x, *(p["start"] for p in phases), *(f["start"] for f in faults), 0.0])
    ends: list[float] = []  # per row of labels: where the last label placed there ends
    for i, fault in enumerate(sorted(faults, key=lambda f: f["start"])):
        colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
        start = fault["start"]
        end = max(fault["end"] if fault["end"] is not None else right, start)
        window = {"x0": start, "x1": end, "y0": 0, "y1": 1, "fillcolor": colour, "opacity": 0.1}
        shapes.append(
            {"type": "rect", "xref": "x", "yref": "paper", **window, "layer": "below", "line": {"width": 0}}
        )
        shapes.append(_vline(start, colour))
        level = next((n for n, e in enumerate(ends) if e <= start), len(ends))
        label_end = start + max(end - start, (right or 1) * 0.25)  # labels are wider than short faults
        ends[level:level + 1] = [label_end]  # fmt: skip
        healed = f"healed at {end:.1f}s" if fault["end"] is not None else "not healed by the schedule"
        hover = plotly_text(f"{fault['label']}: applied at {start:.1f}s, {healed}")
        text = f"⚡ {plotly_text(fault['label'])}"
        annotations.append(_label(start, 1, text, colour, yanchor="bottom", xanchor="left",
                                  yshift=4 + 18 * level, hovertext=hover))  # fmt: skip
    for phase in phases:
        shapes.append(_vline(phase["start"], "#999999", dash="dot"))
        annotations.append(_label(phase["start"], 0, plotly_text(phase["name"]), "#777777", size=10,
                                  yanchor="bottom", xanchor="right", textangle=-90))  # fmt: skip
    if guard is not None and isinstance(guard.get("at"), int | float) and math.isfinite(guard["at"]):
        at = float(guard["at"])
        shapes.append(_vline(at, "#b00020", dash="dash", width=2))
        annotations.append(_label(at, 0.5, f"🛑 guard tripped at {at:.1f}s", "#b00020", xanchor="left",
                                  bgcolor="#fff0f0", bordercolor="#b00020",
                                  hovertext=plotly_text(guard.get("message", ""))))  # fmt: skip
    return shapes, annotations, max(len(ends), 1)
