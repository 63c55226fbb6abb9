"""Disarming a rate-limited probe while its budget is spent (stages/capture/disarm.py),
against a program that says what it did: tests/progs/hot calls ``work(i, "hot")``
from 50 goroutines as fast as it can for a number of seconds, checks every result
(``wrong=`` counts the wrong ones) and prints how many calls it made.

A 1/s snapshot probe on ``work`` must still give one snapshot a second (at least
N-1 over N seconds), each with its return paired (``work`` returns 3*i+3 for its
argument i, and the snapshot has a duration), the program's results must all be
right, and almost none of its calls may trap. ``GODI_DISARM_SECONDS`` sets the
run's length: 5 in ``make test``, 30 in ``make test-disarm-long``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi

pytestmark = pytest.mark.live

PROG = REPO / "tests" / "progs" / "hot"
SECONDS = int(os.environ.get("GODI_DISARM_SECONDS", "5"))
GOROUTINES = 50


def _row(stderr: str, probe: str) -> dict[str, int]:
    lines = stderr.splitlines()
    # The table is the last block (the live view's lines, before it, start with
    # the probe id too).
    start = max(i for i, line in enumerate(lines) if line.startswith("probe "))
    titles = re.split(r"\s{2,}", lines[start].strip())[1:]
    row = next(line for line in lines[start + 1 :] if line.split()[:1] == [probe])
    return dict(zip(titles, (int(v) for v in row.split()[1:]), strict=True))


def _check_snapshots(path: Path, at_least: int, cut: bool = False) -> list[dict[str, Any]]:
    """The snapshots, each paired; with ``cut`` (a capture that stopped while the
    target ran on), the last may have lost its return to the end of the capture."""
    snaps = json.loads(path.read_text())
    assert len(snaps) >= at_least, len(snaps)
    snaps.sort(key=lambda s: s["timestamp"])
    for n, s in enumerate(snaps):
        if cut and n == len(snaps) - 1 and "return" not in s["debugger"]["snapshot"]["captures"]:
            continue
        captures = s["debugger"]["snapshot"]["captures"]
        i = int(captures["entry"]["arguments"]["i"]["value"])
        ret = captures["return"]["locals"]["@return"]["fields"]
        assert int(ret["r0"]["value"]) == 3 * i + 3, s
        assert ret["r1"]["value"] == "hot"
        assert s["duration"] > 0
    return list(snaps)


@pytest.fixture(scope="module")
def hot() -> Path:
    return build_go(PROG, go_versions()[-1])


def test_hot_function_keeps_its_rate_and_pairs_its_returns(hot: Path, tmp_path: Path) -> None:
    result = godi(
        "run",
        "--probes",
        str(PROG / "probes.json"),
        "-o",
        str(tmp_path),
        "--",
        str(hot),
        str(SECONDS),
        str(GOROUTINES),
        timeout=120 + 4 * SECONDS,
    )
    assert result.returncode == 0, result.stderr
    assert "wrong=0" in result.stdout
    calls = int(re.search(r"calls=(\d+)", result.stdout)[1])  # type: ignore[index]
    snaps = _check_snapshots(tmp_path / "snapshots.json", SECONDS - 1)
    assert len(snaps) <= SECONDS + 1  # the rate: one a second, one second of burst
    row = _row(result.stderr, "work")
    assert row["snapshots"] == len(snaps)
    # Disarmed: a few trapped calls per snapshot, not every call.
    assert row["entry hits"] < calls / 1000, (row, calls)
    assert row["captured"] == 2 * len(snaps)
    # The calls never trapped are neither captured, dropped nor sampled out.
    assert row["entry hits"] == len(snaps) + row["sampled out"]
    assert row["dropped"] == 0


@pytest.mark.parametrize("mode", ["pid", "binary"])
def test_disarming_on_a_running_process(hot: Path, tmp_path: Path, mode: str) -> None:
    ir, prog = tmp_path / "ir.json", tmp_path / "prog"
    probes = str(PROG / "probes.json")
    assert godi("irgen", str(hot), "--probes", probes, "-o", str(ir)).returncode == 0
    assert godi("codegen", "--ir", str(ir), "--probes", probes, "-o", str(prog)).returncode == 0
    seconds = 4
    target = subprocess.Popen(
        [str(hot), "-", str(GOROUTINES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        where = ["--pid", str(target.pid)] if mode == "pid" else ["--binary", str(hot)]
        result = godi(
            "capture",
            "--program",
            str(prog),
            "-o",
            str(tmp_path / "events.dump"),
            *where,
            "--duration",
            str(seconds),
        )
        assert result.returncode == 0, result.stderr
        assert target.poll() is None  # still running, unharmed so far
    finally:
        out, _ = target.communicate("stop\n", timeout=60)
    assert target.returncode == 0
    assert "wrong=0" in out
    decode = godi(
        "decode",
        "--ir",
        str(ir),
        "--program",
        str(prog),
        str(tmp_path / "events.dump"),
        "-o",
        str(tmp_path / "snapshots.json"),
    )
    assert decode.returncode == 0, decode.stderr
    _check_snapshots(tmp_path / "snapshots.json", seconds - 1, cut=True)
    row = _row(decode.stderr, "work")
    calls = int(re.search(r"calls=(\d+)", out)[1])  # type: ignore[index]
    assert row["entry hits"] < calls / 1000, (row, calls)
