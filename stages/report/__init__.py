"""The report of a pipeline run: one HTML page per probe set (``godi page``).

``counts.probe_rows`` gathers each probe's status and counts,
``benchmarks.read_benchmark`` what each stage cost, ``page.render_page`` puts them
and the snapshot tree into one self-contained page, which the Snakefile's rule
``page`` marks for ``snakemake --report``.
"""

from __future__ import annotations

from .benchmarks import StageCost, read_benchmark
from .counts import ProbeRow, probe_rows
from .page import render_page

__all__ = ["ProbeRow", "StageCost", "probe_rows", "read_benchmark", "render_page"]
