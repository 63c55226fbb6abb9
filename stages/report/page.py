"""The HTML page of one probe set: counts, stage costs, the snapshot tree.

``render_page`` returns one self-contained HTML document (styles and script
inline, a Content-Security-Policy that forbids loading anything), so it can be
opened from disk, attached to a CI run or embedded by Snakemake's report. The tree
is plain ``<details>`` elements rendered here: it reads without script; the
script only filters and expands. Everything from the snapshots is untrusted and
goes through ``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from importlib import resources
from string import Template
from typing import Any

from .. import __version__
from ..probecounts import COLUMNS
from ..show import (
    children,
    format_duration,
    format_time,
    probe_id,
    reason,
    scopes,
    value_text,
)
from .benchmarks import StageCost
from .counts import ProbeRow

MAX_PER_PROBE = 50
"""Snapshots shown per probe; the page says how many more snapshots.json has."""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _number(n: int | None, warn: bool = False) -> str:
    if n is None:
        return '<td class="none">-</td>'
    cls = ' class="warn"' if warn and n else ""
    return f"<td{cls}>{n}</td>"


def counts_table(rows: Sequence[ProbeRow]) -> str:
    """The probes table: each probe's status, the columns of the terminal's
    per-probe table (``probecounts.COLUMNS``), and why it failed."""
    if not rows:
        return '<p class="none">No probe.</p>'
    head = (
        '<tr><th class="id">probe</th><th class="text">status</th>'
        + "".join(f"<th>{_e(title)}</th>" for title, _ in COLUMNS)
        + '<th class="text">error</th></tr>'
    )
    warn = {"dropped", "truncated", "evaluation_errors"}
    body = []
    for r in rows:
        status = (
            f'<span class="status status-{_e(r.status)}">{_e(r.status)}</span>' if r.status else ""
        )
        cells = "".join(
            _number(None if r.counts is None else getattr(r.counts, name), warn=name in warn)
            for _, name in COLUMNS
        )
        body.append(
            f'<tr data-probe="{_e(r.probe_id)}"><td class="id">{_e(r.probe_id)}</td>'
            f'<td class="text">{status}</td>{cells}<td class="text">{_e(r.error)}</td></tr>'
        )
    return f'<table class="counts">{head}{"".join(body)}</table>'


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def stages_table(costs: Sequence[StageCost]) -> str:
    """The stages table: wall time (with a bar), CPU time, peak memory, I/O."""
    if not costs:
        return '<p class="none">No benchmark given.</p>'
    longest = max((c.seconds or 0.0 for c in costs), default=0.0) or 1.0
    head = (
        '<tr><th class="id">stage</th><th>wall time (s)</th><th class="text"></th>'
        "<th>CPU time (s)</th><th>max RSS (MB)</th><th>read (MB)</th><th>written (MB)</th></tr>"
    )
    body = []
    for c in costs:
        if not c.found:
            body.append(
                f'<tr data-stage="{_e(c.stage)}"><td class="id">{_e(c.stage)}</td>'
                f'<td colspan="6" class="text none">not measured ({_e(c.path)})</td></tr>'
            )
            continue
        width = int(160 * (c.seconds or 0.0) / longest)
        body.append(
            f'<tr data-stage="{_e(c.stage)}"><td class="id">{_e(c.stage)}</td>'
            f"<td>{_fmt(c.seconds)}</td>"
            f'<td class="text"><span class="bar" style="width:{width}px"></span></td>'
            f"<td>{_fmt(c.cpu_seconds)}</td><td>{_fmt(c.max_rss_mb, 1)}</td>"
            f"<td>{_fmt(c.io_in_mb, 1)}</td><td>{_fmt(c.io_out_mb, 1)}</td></tr>"
        )
    return f'<table class="stages">{head}{"".join(body)}</table>'


def _value_spans(v: dict[str, Any]) -> str:
    text = value_text(v, 200)
    out = f'<span class="type">{_e(v.get("type", "?"))}</span>'
    if text:
        cls = "value string" if text.startswith('"') else "value"
        out += f' <span class="{cls}">{_e(text)}</span>'
    why = reason(v)
    if why:
        out += f' <span class="reason" title="notCapturedReason">{_e(why)}</span>'
    return out


def _node(name: str, v: dict[str, Any], path: str) -> str:
    label = f'<span class="name">{_e(name)}</span> {_value_spans(v)}'
    kids = children(v)
    if not kids:
        return f'<li class="leaf" data-path="{_e(path)}">{label}</li>'
    inner = "".join(_node(n, c, f"{path}.{n}") for n, c in kids)
    return (
        f'<li class="node" data-path="{_e(path)}"><details><summary>{label}</summary>'
        f'<ul class="tree">{inner}</ul></details></li>'
    )


def snapshot_html(position: int, s: dict[str, Any]) -> str:
    """One snapshot as a collapsed ``<details>``: time, duration and message in the
    summary; the scopes' value trees, evaluation errors and stack inside."""
    body = s.get("debugger", {}).get("snapshot", {})
    duration = s.get("duration")
    summary = (
        f'<span class="pos">#{position}</span>'
        f'<span class="when">{_e(format_time(s.get("timestamp")))}</span>'
        + (
            f'<span class="took">{_e(format_duration(duration))}</span>'
            if isinstance(duration, int)
            else ""
        )
        + f'<span class="message">{_e(s.get("message", ""))}</span>'
    )
    parts = []
    for title, values in scopes(s):
        nodes = "".join(_node(n, v, f"{title}.{n}") for n, v in values.items())
        parts.append(f'<div class="scope-title">{_e(title)}</div><ul class="tree">{nodes}</ul>')
    errors = [e for e in body.get("evaluationErrors") or () if isinstance(e, dict)]
    if errors:
        items = "".join(
            f"<li>{_e(e.get('expr', ''))}: {_e(e.get('message', ''))}</li>" for e in errors
        )
        parts.append(f'<ul class="errors">{items}</ul>')
    stack = [f for f in body.get("stack") or () if isinstance(f, dict)]
    if stack:
        frames = "".join(
            f"<li>{_e(f.get('function', '?'))}"
            f'<span class="file">{_e(f.get("fileName", "?"))}:{_e(f.get("lineNumber", "?"))}'
            "</span></li>"
            for f in stack
        )
        parts.append(
            f'<details class="stack-box"><summary class="scope-title">stack</summary>'
            f'<ul class="stack">{frames}</ul></details>'
        )
    return (
        f'<details class="snapshot" data-probe="{_e(probe_id(s))}" data-index="{position}">'
        f'<summary>{summary}</summary><div class="snapshot-body">{"".join(parts)}</div></details>'
    )


def snapshots_html(snapshots: Sequence[dict[str, Any]]) -> str:
    """The snapshots grouped by probe (sorted by id), each group in capture order,
    at most ``MAX_PER_PROBE`` per probe."""
    if not snapshots:
        return '<p class="none">No snapshot.</p>'
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, s in enumerate(snapshots):
        groups.setdefault(probe_id(s), []).append((i, s))
    out = []
    for pid in sorted(groups):
        group = groups[pid]
        items = "".join(snapshot_html(i, s) for i, s in group[:MAX_PER_PROBE])
        more = len(group) - MAX_PER_PROBE
        if more > 0:
            items += f'<p class="more">{more} more snapshots of this probe in snapshots.json</p>'
        count = f"{len(group)} snapshot" + ("" if len(group) == 1 else "s")
        out.append(
            f'<section class="probe" data-probe="{_e(pid)}"><h3>{_e(pid)} '
            f'<span class="count">{count}</span></h3>{items}</section>'
        )
    return "".join(out)


def render_page(
    *,
    title: str,
    snapshots: Sequence[dict[str, Any]],
    counts: Sequence[ProbeRow],
    costs: Sequence[StageCost],
) -> str:
    """The whole page of one probe set (a complete HTML document)."""
    services = sorted({str(s.get("service", "")) for s in snapshots} - {""})
    facts = f"{len(snapshots)} snapshots from {len({probe_id(s) for s in snapshots})} probes"
    if services:
        facts += " · service " + ", ".join(services)
    return Template(_asset("page.html")).substitute(
        version=_e(__version__),
        title=_e(title),
        facts=_e(facts),
        css=_asset("page.css"),
        js=_asset("page.js"),
        counts=counts_table(counts),
        stages=stages_table(costs),
        snapshots=snapshots_html(snapshots),
    )
