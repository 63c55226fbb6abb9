"""The walker's per-event size bound (GODI_MAX_EVENT, 128 KiB) still cuts an event
that would be bigger, and says so: tests/progs/robust's bigValues gets a string of
100,000 "x" and []int{0, 1, ..., 9999} (80,000 bytes), both asked for whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi

ROBUST = REPO / "tests" / "progs" / "robust"

pytestmark = pytest.mark.live


def test_an_event_over_the_size_bound_is_cut_with_a_reason(tmp_path: Path) -> None:
    binary = build_go(ROBUST, go_versions()[-1])
    probes = tmp_path / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {
                    "id": "whole",
                    "where": {"methodName": "main.bigValues"},
                    "captureSnapshot": True,
                    "capture": {"maxLength": 1000000, "maxCollectionSize": 100000},
                }
            ]
        )
    )
    done = godi("run", "--probes", str(probes), "-o", str(tmp_path / "out"), "--", str(binary))
    assert done.returncode == 0, done.stderr
    assert "big: 110000" in done.stdout
    (snap,) = json.loads((tmp_path / "out" / "snapshots.json").read_text())
    snapshot = snap["debugger"]["snapshot"]
    args = snapshot["captures"]["entry"]["arguments"]
    assert args["s"]["value"] == "x" * 100000
    xs = args["xs"]
    assert xs["size"] == "10000"
    got = [int(e["value"]) for e in xs["elements"]]
    # What fits in 128 KiB after the string: a prefix, never all of them.
    assert 1000 < len(got) < 10000
    assert got == list(range(len(got)))
    assert any("capture budget" in e["message"] for e in snapshot["evaluationErrors"])
