"""Each probe's row of the report page: its state and the same counts as the table
``capture``, ``decode`` and ``run`` print.

The counts are ``probecounts``' rows (one definition for the terminal table, the
``godi status`` JSON and this page): from the dump through the layout when both are
given, else from the statuses' ``counts``; the snapshots are those on the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ArtifactError, DecodeError
from ..probecounts import ProbeCounts, probe_counts

__all__ = ["ProbeRow", "probe_rows"]


@dataclass
class ProbeRow:
    """One probe's row: its status and error (``godi status``) and its counts
    (None when neither a dump nor the statuses counted it)."""

    probe_id: str
    status: str = ""
    error: str = ""
    counts: ProbeCounts | None = None


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


def probe_rows(
    *,
    snapshots: Iterable[dict[str, Any]],
    statuses: str | os.PathLike[str] | None = None,
    dump: str | os.PathLike[str] | None = None,
    program_dir: str | os.PathLike[str] | None = None,
) -> list[ProbeRow]:
    """One row per probe id any input mentions, sorted by id.

    ``statuses`` is what ``godi status`` wrote; ``dump`` the capture's dump and
    ``program_dir`` the codegen directory whose layout maps the dump's counters to
    probe ids. Raises ``ArtifactError``/``DecodeError`` on unreadable inputs.
    """
    from ..status import tally_snapshots

    rows: dict[str, ProbeRow] = {}

    def row(probe_id: str) -> ProbeRow:
        return rows.setdefault(probe_id, ProbeRow(probe_id=probe_id))

    try:
        tally = tally_snapshots(snapshots)
    except (KeyError, TypeError) as e:
        raise DecodeError(f"not a snapshot: {e}") from e
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
            if isinstance(s.get("counts"), dict):
                try:
                    counts = msgspec.convert(s["counts"], ProbeCounts)
                except msgspec.ValidationError as e:
                    raise ArtifactError(str(statuses), f"bad counts: {e}") from e
                r.counts = msgspec.structs.replace(
                    counts,
                    snapshots=tally.snapshots.get(r.probe_id, 0),
                    evaluation_errors=tally.evaluation_errors.get(r.probe_id, 0),
                )
    if dump is not None and program_dir is not None:
        from ..artifacts import load_layout
        from ..status import read_dump_summary

        summary = read_dump_summary(dump)
        for counts in probe_counts(load_layout(program_dir), summary.counters, tally):
            row(counts.probe_id).counts = counts
    for pid in tally.snapshots:
        row(pid)
    return [rows[k] for k in sorted(rows)]
