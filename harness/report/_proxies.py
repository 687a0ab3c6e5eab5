"""The report's link traffic: what went through each link's proxy, from results.json's ``traffic``.

The run reads its Toxiproxy's ``/metrics`` at the end of the heal (the embedded server always serves
it; another Toxiproxy only when started with ``-proxy-metrics``). A run without the record shows
nothing; links whose Toxiproxy serves no counters say so in a line, not in a table of blanks.
"""

from __future__ import annotations

from html import escape
from typing import Any

_HEADERS = ("link", "connections", "client → server read", "written", "server → client read", "written")


def traffic_section(run: Any) -> str:
    """The section, or "" when the run recorded no traffic. ``run``: a :class:`paychaos.report._run.Run`."""
    traffic = run.results.get("traffic")
    links = (traffic or {}).get("links") or {}
    if not isinstance(links, dict) or not links:
        return ""
    rows, missing = [], []
    for link, entry in sorted(links.items()):
        if not entry.get("available"):
            note = str(entry.get("note") or "not available")
            missing.append(f"<li><b>{escape(link)}</b>: {escape(note)}</li>")
            continue
        up, down = entry.get("upstream") or {}, entry.get("downstream") or {}
        cells = [
            f"<td>{escape(link)}</td>",
            f'<td class="n">{_count(entry.get("connections"))}</td>',
            f'<td class="n">{_bytes(up.get("received"))}</td>',
            f'<td class="n">{_bytes(up.get("sent"))}</td>',
            f'<td class="n">{_bytes(down.get("received"))}</td>',
            f'<td class="n">{_bytes(down.get("sent"))}</td>',
        ]
        rows.append(f'<tr data-link="{escape(link)}">{"".join(cells)}</tr>')
    notes = sorted({str(e["note"]) for e in links.values() if e.get("available") and e.get("note")})
    caption = (
        "What went through each link's proxy during the run, as its Toxiproxy counted it at the end of the "
        "heal: bytes the proxy read from the sending side and wrote on to the other, after the link's "
        "toxics (fewer written than read: a toxic dropped or still held them). Client → server is the "
        "link's upstream."
    )
    if notes:
        caption += " " + " ".join(f"{n[0].upper()}{n[1:]}." for n in notes)
    table = ""
    if rows:
        head = "".join(f"<th>{escape(h)}</th>" for h in _HEADERS)
        body = "".join(rows)
        table = f'<table id="traffic" class="grid"><thead><tr>{head}</tr></thead>'
        table += f"<tbody>{body}</tbody></table>"
    unavailable = f'<ul class="empty">{"".join(missing)}</ul>' if missing else ""
    return (
        f'<section id="traffic-section"><h2>Link traffic</h2><p class="caption">{escape(caption)}</p>'
        f"{table}{unavailable}</section>"
    )


def _count(value: Any) -> str:
    return "—" if not isinstance(value, int) else f"{value:,}"


def _bytes(value: Any) -> str:
    if not isinstance(value, int):
        return "—"
    if value < 1000:
        return f"{value} B"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f'<span title="{value:,} bytes">{value / scale:.1f} {unit}</span>'
    return f"{value} B"  # unreachable: every value ≥ 1000 has a unit
