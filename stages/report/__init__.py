"""The report of a pipeline run: one HTML page per probe set (``godi page``).

``counts.probe_counts`` gathers each probe's status and counters,
``benchmarks.read_benchmark`` what each stage cost, ``page.render_page`` puts them
and the snapshot tree into one self-contained page, which the Snakefile's rule
``page`` marks for ``snakemake --report``.
"""

from __future__ import annotations

from .benchmarks import StageCost, read_benchmark
from .counts import ProbeCounts, probe_counts
from .page import render_page

__all__ = ["ProbeCounts", "StageCost", "probe_counts", "read_benchmark", "render_page"]
