"""What happened to each probe's hits: one row per probe, for a person and for tools.

``probe_counts(layout, counters, decoded)`` sums the capture's counters (the BPF
program's per-uprobe counts, written at the end of the dump: ``dump.Counters``)
over each probe's uprobes (its entry, its returns, its inlined copies, its line)
and adds what decode made of its events (``DecodeTally``); ``render_table`` lays
the rows out for stderr, where ``capture``, ``decode`` and ``run`` end with it.
``godi status`` puts the same rows in its JSON.

The columns, per probe (a probe id of the probe file):

- ``entry_hits``, ``return_hits``: times its entry (or line) and return uprobes
  were hit by the target;
- ``captured``: events the BPF program put in the ring buffer for it (an entry
  and its return are two events, one snapshot);
- ``sampled_out``: hits over the probe's rate limit (in BPF, or in decode for a
  condition only decode can evaluate);
- ``condition_false``: hits whose condition was false (in BPF or in decode);
- ``dropped``: hits lost for want of room (ring buffer full, scratch area busy);
- ``truncated``: events emitted without some referenced data (capture budget);
- ``not_observed``: an estimate of the calls made while the probe was disarmed,
  its rate budget spent (``capture.disarm``): never trapped, so neither captured,
  sampled out nor dropped; the hits scaled by the time disarmed over the time
  armed, a low estimate for a hot function (``DisarmStats.not_observed_estimate``);
- ``snapshots``: snapshots decode wrote; ``evaluation_errors``: evaluation errors
  they carry (both None before decode).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._base import Struct
from .dump import Counters
from .layout import Layout

__all__ = ["COLUMNS", "DecodeTally", "ProbeCounts", "probe_counts", "render_table"]


class ProbeCounts(Struct, frozen=True, kw_only=True):
    """The counts of one probe (see the module's docstring for each)."""

    probe_id: str
    entry_hits: int = 0
    return_hits: int = 0
    captured: int = 0
    sampled_out: int = 0
    condition_false: int = 0
    dropped: int = 0
    truncated: int = 0
    not_observed: int = 0
    """Estimated calls made while the probe was disarmed (not trapped)."""
    snapshots: int | None = None
    """Snapshots decode wrote; None when the events were not decoded."""
    evaluation_errors: int | None = None
    """Evaluation errors in those snapshots; None when not decoded."""


@dataclass
class DecodeTally:
    """What decode did with each probe's events, by probe id."""

    snapshots: dict[str, int] = field(default_factory=dict)
    evaluation_errors: dict[str, int] = field(default_factory=dict)
    sampled_out: dict[str, int] = field(default_factory=dict)
    condition_false: dict[str, int] = field(default_factory=dict)


def probe_counts(
    layout: Layout, counters: Counters | None, decoded: DecodeTally | None = None
) -> list[ProbeCounts]:
    """One row per probe installed by ``layout`` (in layout order), from the
    capture's ``counters`` (None: the dump has none, e.g. capture was killed) and
    decode's tally (None: not decoded)."""
    order: list[str] = []
    sums: dict[str, dict[str, int]] = {}
    for p in layout.probes:
        if p.probe_id not in sums:
            order.append(p.probe_id)
            sums[p.probe_id] = dict.fromkeys(
                (
                    "entry_hits",
                    "return_hits",
                    "captured",
                    "sampled_out",
                    "condition_false",
                    "dropped",
                    "truncated",
                    "not_observed",
                ),
                0,
            )
    if counters is not None:
        by_index = {p.index: p for p in layout.probes}
        for key, c in counters.probes.items():
            probe = by_index.get(int(key)) if key.isdigit() else None
            if probe is None:
                continue
            row = sums[probe.probe_id]
            row["return_hits" if probe.kind == "return" else "entry_hits"] += c.hits
            row["captured"] += c.emitted
            row["sampled_out"] += c.sampled_out
            row["condition_false"] += c.condition_false
            row["dropped"] += c.dropped
            row["truncated"] += c.truncated
            row["not_observed"] += c.not_observed
    rows = []
    for probe_id in order:
        row = sums[probe_id]
        if decoded is None:
            rows.append(ProbeCounts(probe_id=probe_id, **row))
            continue
        row["sampled_out"] += decoded.sampled_out.get(probe_id, 0)
        row["condition_false"] += decoded.condition_false.get(probe_id, 0)
        rows.append(
            ProbeCounts(
                probe_id=probe_id,
                **row,
                snapshots=decoded.snapshots.get(probe_id, 0),
                evaluation_errors=decoded.evaluation_errors.get(probe_id, 0),
            )
        )
    return rows


COLUMNS = (
    ("entry hits", "entry_hits"),
    ("return hits", "return_hits"),
    ("captured", "captured"),
    ("sampled out", "sampled_out"),
    ("condition false", "condition_false"),
    ("dropped", "dropped"),
    ("truncated", "truncated"),
    ("not observed", "not_observed"),
    ("snapshots", "snapshots"),
    ("eval errors", "evaluation_errors"),
)


def printable(text: str) -> str:
    """``text`` with what a terminal would act on escaped (probe ids are the user's)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def render_table(rows: list[ProbeCounts]) -> str:
    """The rows as a text table, one line per probe under a header; numbers right
    aligned, ``-`` for what is not known (not decoded). Ends with a newline; empty
    without rows."""
    if not rows:
        return ""
    table = [["probe", *(title for title, _ in COLUMNS)]]
    for row in rows:
        cells = [printable(row.probe_id)]
        for _, name in COLUMNS:
            value = getattr(row, name)
            cells.append("-" if value is None else str(value))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for r in table:
        first = r[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(r[1:], widths[1:], strict=True))
        lines.append("  ".join([first, *rest]).rstrip())
    return "\n".join(lines) + "\n"
