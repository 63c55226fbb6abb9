"""What each pipeline stage cost: Snakemake's benchmark files, read back.

A benchmark file is a TSV with a header (``s``, ``h:m:s``, ``max_rss``,
``max_vms``, ``max_uss``, ``max_pss``, ``io_in``, ``io_out``, ``mean_load``,
``cpu_time``; sizes in MB) and one row per repetition; ``NA`` where the platform
could not measure. Several rows are averaged.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class StageCost:
    """One stage's wall time, CPU time and peak memory; None when not measured."""

    stage: str
    path: str
    seconds: float | None = None
    cpu_seconds: float | None = None
    max_rss_mb: float | None = None
    io_in_mb: float | None = None
    io_out_mb: float | None = None
    found: bool = False


def _mean(rows: list[dict[str, str]], column: str) -> float | None:
    values = []
    for r in rows:
        try:
            values.append(float(r.get(column) or "NA"))
        except ValueError:
            continue
    return sum(values) / len(values) if values else None


def read_benchmark(stage: str, path: str | os.PathLike[str]) -> StageCost:
    """The cost of ``stage`` from its benchmark file; ``found`` False when the file
    does not exist or has no row (the stage did not run in this working directory)."""
    cost = StageCost(stage=stage, path=str(path))
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return cost
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    if not rows:
        return cost
    cost.found = True
    cost.seconds = _mean(rows, "s")
    cost.cpu_seconds = _mean(rows, "cpu_time")
    cost.max_rss_mb = _mean(rows, "max_rss")
    cost.io_in_mb = _mean(rows, "io_in")
    cost.io_out_mb = _mean(rows, "io_out")
    return cost
