"""Per-probe counts of one capture, for the report page.

``probe_counts`` is the one place that says where they come from. Today: each
probe's state from the ``godi status`` JSON, its BPF counters from the dump's
COUNTERS record (summed over the probe's uprobes through the layout), and the
number of snapshots decode wrote. When ``godi status`` carries a per-probe counts
table of its own, this function reads it instead and nothing else changes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ArtifactError

COUNTERS = ("hits", "emitted", "dropped", "truncated", "sampled_out", "condition_false")


@dataclass
class ProbeCounts:
    """One probe's row: its status, the capture's counters and its snapshots.

    Counters are None when the capture did not count them (no dump, or a probe the
    layout does not have)."""

    probe_id: str
    status: str = ""
    error: str = ""
    hits: int | None = None
    emitted: int | None = None
    dropped: int | None = None
    truncated: int | None = None
    sampled_out: int | None = None
    condition_false: int | None = None
    snapshots: int = 0


def _statuses(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    try:
        data = msgspec.json.decode(Path(path).read_bytes())
    except OSError as e:
        raise ArtifactError(str(path), f"cannot read statuses: {e.strerror}") from e
    except msgspec.DecodeError as e:
        raise ArtifactError(str(path), f"not JSON: {e}") from e
    if not isinstance(data, list):
        raise ArtifactError(str(path), "not a JSON array of probe statuses")
    return [x for x in data if isinstance(x, dict)]


def probe_counts(
    *,
    snapshots: Iterable[dict[str, Any]],
    statuses: str | os.PathLike[str] | None = None,
    dump: str | os.PathLike[str] | None = None,
    program_dir: str | os.PathLike[str] | None = None,
) -> list[ProbeCounts]:
    """One row per probe id any input mentions, sorted by id.

    ``statuses`` is what ``godi status`` wrote; ``dump`` the capture's dump and
    ``program_dir`` the codegen directory whose layout maps the dump's counter
    indices to probe ids. Raises ``ArtifactError``/``DecodeError`` on unreadable
    inputs.
    """
    rows: dict[str, ProbeCounts] = {}

    def row(probe_id: str) -> ProbeCounts:
        return rows.setdefault(probe_id, ProbeCounts(probe_id=probe_id))

    from ..show import probe_id

    for pid, n in Counter(probe_id(s) for s in snapshots).items():
        row(pid).snapshots = n
    if statuses is not None:
        for s in _statuses(statuses):
            diag = s.get("debugger", {}).get("diagnostics", {})
            if not isinstance(diag, dict) or not isinstance(diag.get("probeId"), str):
                continue
            r = row(diag["probeId"])
            r.status = str(diag.get("status", ""))
            exc = diag.get("exception")
            if isinstance(exc, dict):
                r.error = f"{exc.get('type', '')}: {exc.get('message', '')}"
    if dump is not None and program_dir is not None:
        from ..artifacts import load_layout
        from ..status import read_dump_summary

        summary = read_dump_summary(dump)
        layout = load_layout(program_dir)
        by_index = {str(p.index): p.probe_id for p in layout.probes}
        for pid in by_index.values():
            r = row(pid)
            for name in COUNTERS:
                setattr(r, name, 0)
        if summary.counters is not None:
            for index, c in summary.counters.probes.items():
                owner = by_index.get(index)
                if owner is None:
                    continue
                r = row(owner)
                for name in COUNTERS:
                    setattr(r, name, (getattr(r, name) or 0) + getattr(c, name))
    return [rows[k] for k in sorted(rows)]
