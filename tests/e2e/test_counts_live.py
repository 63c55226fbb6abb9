"""The per-probe table of a real capture against what the program did: it counts
its own calls of each probed function and prints them (tests/progs/counts)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi, irgen_codegen

PROG = REPO / "tests" / "progs" / "counts"
COLUMNS = [
    "entry_hits",
    "return_hits",
    "captured",
    "sampled_out",
    "condition_false",
    "dropped",
    "truncated",
    "not_observed",
    "snapshots",
    "evaluation_errors",
]

pytestmark = pytest.mark.live


def table(stderr: str) -> dict[str, dict[str, int | None]]:
    """The rows of the per-probe table at the end of ``stderr``."""
    lines = stderr.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("probe "))
    rows: dict[str, dict[str, int | None]] = {}
    for line in lines[start + 1 :]:
        probe, *cells = line.split()
        assert len(cells) == len(COLUMNS), line
        rows[probe] = {c: None if v == "-" else int(v) for c, v in zip(COLUMNS, cells, strict=True)}
    return rows


@pytest.fixture(scope="module", params=go_versions())
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = build_go(PROG, str(request.param))
    out = tmp_path_factory.mktemp(f"counts-{request.param}")
    # Every call trapped (--always-armed): the counts must add up to the program's
    # calls exactly; test_rare_probe_disarmed_counts_only_trapped_calls is the default.
    result = godi(
        "run",
        "--always-armed",
        "--probes",
        str(PROG / "probes.json"),
        "-o",
        str(out),
        "--",
        str(binary),
        "25",
    )
    assert result.returncode == 0, result.stderr
    calls = {m[0]: int(m[1]) for m in re.findall(r"calls (\w+)=(\d+)", result.stdout)}
    assert calls == {"tick": 25, "tock": 9, "rare": 5}
    return out, calls, result.stderr


def test_run_table_counts_what_the_program_did(captured: Any) -> None:
    out, calls, stderr = captured
    rows = table(stderr)
    assert set(rows) == {"tick", "tock", "rare"}
    assert stderr.count("entry hits") == 1  # run prints one table, after decode
    for probe in ("tick", "tock"):  # no rate limit: every call captured
        row = rows[probe]
        assert row["entry_hits"] == row["return_hits"] == calls[probe]
        assert row["captured"] == 2 * calls[probe]
        assert row["snapshots"] == calls[probe]
        assert row["sampled_out"] == row["dropped"] == row["evaluation_errors"] == 0
    # rare: one snapshot a second; its returns follow their entry's decision.
    rare = rows["rare"]
    assert rare["entry_hits"] == rare["return_hits"] == calls["rare"]
    assert rare["snapshots"] is not None and rare["snapshots"] >= 1
    assert rare["snapshots"] + rare["sampled_out"] == calls["rare"]
    assert rare["captured"] == 2 * rare["snapshots"]
    snapshots = json.loads((out / "snapshots.json").read_text())
    assert len(snapshots) == sum(r["snapshots"] or 0 for r in rows.values())


def test_capture_decode_and_status_give_the_same_counts(captured: Any) -> None:
    """``godi capture``'s table (no decode yet), ``godi decode``'s and the status
    file's counts agree on one dump."""
    out, calls, _ = captured
    decode = godi(
        "decode",
        "--ir",
        str(out / "ir.json"),
        "--program",
        str(out / "prog"),
        str(out / "events.dump"),
        "-o",
        str(out / "again.json"),
    )
    assert decode.returncode == 0, decode.stderr
    decoded = table(decode.stderr)
    status = godi(
        "status",
        "--program",
        str(out / "prog"),
        "--dump",
        str(out / "events.dump"),
        "--snapshots",
        str(out / "again.json"),
        "-o",
        str(out / "status.json"),
    )
    assert status.returncode == 0, status.stderr
    counts = {
        s["debugger"]["diagnostics"]["probeId"]: s["counts"]
        for s in json.loads((out / "status.json").read_text())
    }
    for probe, row in decoded.items():
        assert {k: counts[probe][k] for k in COLUMNS} == row
    assert decoded["tick"]["entry_hits"] == calls["tick"]


def test_capture_prints_the_table_before_decode(tmp_path: Path) -> None:
    binary = build_go(PROG, go_versions()[-1])
    ir, prog = tmp_path / "ir.json", tmp_path / "prog"
    probes = str(PROG / "probes.json")
    irgen_codegen(binary, probes, ir, prog)
    result = godi(
        "capture", "--program", str(prog), "-o", str(tmp_path / "d.dump"), "--", str(binary), "7"
    )
    assert result.returncode == 0, result.stderr
    rows = table(result.stderr)
    assert rows["tick"]["entry_hits"] == rows["tick"]["return_hits"] == 7
    assert rows["tick"]["snapshots"] is None and rows["tick"]["evaluation_errors"] is None


def test_rare_probe_disarmed_counts_only_trapped_calls(tmp_path: Path) -> None:
    """By default the 1/s probe on rare is disarmed once its snapshot is taken:
    its later calls are not trapped, so they are not sampled out either; tick and
    tock (no rate limit) stay armed and see every call."""
    binary = build_go(PROG, go_versions()[-1])
    result = godi(
        "run", "--probes", str(PROG / "probes.json"), "-o", str(tmp_path), "--", str(binary), "25"
    )
    assert result.returncode == 0, result.stderr
    calls = {m[0]: int(m[1]) for m in re.findall(r"calls (\w+)=(\d+)", result.stdout)}
    rows = table(result.stderr)
    for probe in ("tick", "tock"):
        assert rows[probe]["entry_hits"] == rows[probe]["snapshots"] == calls[probe]
        assert rows[probe]["not_observed"] == 0
    rare = rows["rare"]
    assert rare["snapshots"] is not None and rare["snapshots"] >= 1
    assert rare["entry_hits"] == rare["snapshots"] + rare["sampled_out"]
    assert rare["entry_hits"] <= calls["rare"]
    assert rare["captured"] == 2 * rare["snapshots"]
