"""A condition BPF decides comes before sampling. On a function called 20,000
times in a tight loop, the one call that meets the condition is captured,
although the probe may emit one snapshot per second: BPF drops the other calls
at the condition, so they spend none of the rate limit. (An undecided condition
gets a cap of 5,000 hits per second instead, which the other calls would use up.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi

from stages.status import read_dump_summary

BENCH = REPO / "tests" / "progs" / "bench"
CALLS = 20_000

pytestmark = pytest.mark.live


@pytest.mark.parametrize("version", go_versions())
def test_the_one_call_meeting_the_condition_is_not_sampled_out(
    version: str, tmp_path: Path
) -> None:
    binary = build_go(BENCH, version)
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {
                    "id": "last",
                    "where": {"methodName": "main.scalars"},
                    "captureSnapshot": True,
                    "when": {"dsl": f"a == {CALLS - 1}"},
                }
            ]
        )
    )
    out = tmp_path / "out"
    target = [str(binary), "scalars", str(CALLS)]
    run = godi(
        "run",
        "--probes",
        str(probes),
        "-o",
        str(out),
        "--",
        *target,
    )
    assert run.returncode == 0, run.stderr
    (snapshot,) = json.loads((out / "snapshots.json").read_text())
    captures = snapshot["debugger"]["snapshot"]["captures"]
    assert captures["entry"]["arguments"]["a"] == {"type": "int", "value": str(CALLS - 1)}
    assert captures["return"]["locals"]["@return"]["value"] == str(CALLS - 1 + 2 + 3)

    layout = json.loads((out / "prog" / "layout.json").read_text())
    entry = next(p for p in layout["probes"] if p["kind"] == "entry")
    assert entry["decided"]
    counters = read_dump_summary(out / "events.dump").counters
    assert counters is not None
    c = counters.probes[str(entry["index"])]
    assert (c.hits, c.condition_false, c.sampled_out, c.emitted) == (CALLS, CALLS - 1, 0, 1)
    # The returns of the other calls follow their entries: none is captured.
    returns = [counters.probes[str(p["index"])] for p in layout["probes"] if p["kind"] == "return"]
    assert sum(r.emitted for r in returns) == 1
