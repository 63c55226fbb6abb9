"""Outputs on a full disk: one clear line, exit 2, the target unharmed, and the dump
written so far still decodes.

A real 64 KiB tmpfs is mounted for each test (root only: these tests are live).
Most of it is filled beforehand, so the dump hits "No space left on device" a few
events into the capture while the target still has a second to run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gobuild import REPO, build_go, go_versions
from godi_cli import godi, irgen_codegen

pytestmark = pytest.mark.live

ROBUST = REPO / "tests" / "progs" / "robust"
FREE = 8 * 1024
"""What is left free on the 64 KiB tmpfs for godi's output."""


@pytest.fixture()
def full(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs with FREE bytes free."""
    where = tmp_path / "full"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=True)
    try:
        (where / "filler").write_bytes(b"\0" * (64 * 1024 - FREE))
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    binary = build_go(ROBUST, go_versions()[-1])
    out = tmp_path_factory.mktemp("diskfull")
    probes = out / "probes.json"
    probes.write_text(
        '[{"id": "tick", "version": 1, "where": {"methodName": "main.tick"},'
        ' "captureSnapshot": true, "sampling": {"snapshotsPerSecond": 0}}]'
    )
    irgen_codegen(binary, probes, out / "ir.json", out)
    return binary, out


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("godi: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_capture_on_a_full_disk(prepared: tuple[Path, Path], full: Path, tmp_path: Path) -> None:
    binary, program = prepared
    dump = full / "events.dump"
    target_out = tmp_path / "target.out"
    with open(target_out, "w") as out:
        cap = subprocess.run(
            [
                *(sys.executable, "-m", "stages", "capture", "--program", str(program)),
                *("-o", str(dump), "--", str(binary), "loop", "150"),
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert cap.returncode == 2, cap.stderr
    line = _one_error_line(cap.stderr)
    assert f"{dump}: cannot write the dump: No space left on device" in line
    # The target was left to run: godi stopped long before its 1.5 s were over.
    assert "the target (PID " in line and ") runs on" in line
    deadline = time.monotonic() + 30
    while not target_out.read_text().endswith("done\n"):
        assert time.monotonic() < deadline, target_out.read_text()
        time.sleep(0.05)
    pid = int(line.split("the target (PID ")[1].split(")")[0])
    assert target_out.read_text() == f"pid {pid}\ndone\n"
    # What was written is a dump, cut short: decode reads it up to the cut.
    assert 0 < dump.stat().st_size <= FREE
    snaps = tmp_path / "s.json"
    dec = godi(
        "decode", "--ir", str(program / "ir.json"), "--program", str(program), str(dump),
        "-o", str(snaps),
    )  # fmt: skip
    assert dec.returncode == 0, dec.stderr
    values = [
        int(s["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["n"]["value"])
        for s in json.loads(snaps.read_text())
    ]
    assert values and values == list(range(len(values)))  # every tick up to the cut


def test_other_outputs_on_a_full_disk(
    prepared: tuple[Path, Path], full: Path, tmp_path: Path
) -> None:
    """irgen, decode and run: one line, exit 2, no partial file left."""
    binary, program = prepared
    irgen = godi("irgen", str(binary), "-o", str(full / "ir.json"))
    assert irgen.returncode == 2
    line = _one_error_line(irgen.stderr)
    assert f"{full / 'ir.json'}: cannot write: No space left on device" in line
    # A dump to decode, written where there is room.
    dump = tmp_path / "e.dump"
    cap = godi(
        "capture", "--program", str(program), "-o", str(dump), "--", str(binary), "loop", "100"
    )
    assert cap.returncode == 0, cap.stderr
    dec = godi(
        "decode", "--ir", str(program / "ir.json"), "--program", str(program), str(dump),
        "-o", str(full / "s.json"),
    )  # fmt: skip
    assert dec.returncode == 2
    line = _one_error_line(dec.stderr)
    assert f"{full / 's.json'}: cannot write: No space left on device" in line
    run = godi(
        "run",
        "--probes",
        str(program / "probes.json"),
        "-o",
        str(full / "run"),
        "--",
        str(binary),
        "loop",
        "1",
    )
    assert run.returncode == 2
    line = _one_error_line(run.stderr)
    assert f"{full / 'run' / 'ir.json'}: cannot write: No space left on device" in line
    assert sorted(p.name for p in full.iterdir() if p.is_file()) == ["filler"]
