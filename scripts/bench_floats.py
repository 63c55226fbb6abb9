#!/usr/bin/env python3
"""Benchmark of floats in vector registers (issue 22): run as root, prints ratios.

The cost of one captured hit whose variables are floats in XMM registers (read
through the SIGURG signal frame, ``stages.capture.floats``) against one without:
tests/progs/benchfloats calls ``floats(a, b, c float64) float64`` or ``ints(a, b, c
int) int`` in a tight loop and prints its own time per call. Each is run plain and
under ``godi capture`` with both probes (entry and return, every hit captured,
snapshots on), all in this run on this machine:

- cost per call = probed ns/call - plain ns/call (a call is two captured hits);
- floats: the float probe with floats read (``--floats auto``);
- floats off: the same probe with ``--floats never`` (the hit without the signal);
- ints: the integer probe (the same shape of hit, three integers).

Printed: each cost and the ratios floats / ints and floats / floats-off (target:
under 2x). The median of ``--repeat`` runs of each.

Usage: sudo .venv/bin/python scripts/bench_floats.py [--calls N] [--repeat R] [--go VERSION]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "tests" / "progs" / "benchfloats"


def godi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stages", *args], capture_output=True, text=True, cwd=REPO
    )


def per_call(out: str) -> float:
    """The ns/call the program printed."""
    return float(out.split(" ns/call", 1)[0].split()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--go", default=(REPO / "scripts" / "go-versions.txt").read_text().split()[-1])
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_floats: run as root (uprobes)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-floats-"))
    binary = work / "benchfloats"
    go = REPO / ".tools" / "go" / args.go / "go" / "bin" / "go"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-trimpath"}
    subprocess.run([str(go), "build", "-o", str(binary), "."], cwd=SRC, env=env, check=True)
    probes = work / "probes.json"
    probes.write_text(
        json.dumps(
            [
                {
                    "id": name,
                    "where": {"methodName": f"main.{name}"},
                    "captureSnapshot": True,
                    "sampling": {"snapshotsPerSecond": 0},
                }
                for name in ("floats", "ints")
            ]
        )
    )
    ir, prog = work / "ir.json", work / "prog"
    for step in (
        ("irgen", str(binary), "--probes", str(probes), "-o", str(ir)),
        ("codegen", "--ir", str(ir), "--probes", str(probes), "-o", str(prog)),
    ):
        r = godi(*step)
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return 1
    calls = str(args.calls)

    def plain(mode: str) -> float:
        r = subprocess.run([str(binary), mode, calls], capture_output=True, text=True, check=True)
        return per_call(r.stdout)

    def probed(mode: str, floats: str) -> float:
        dump = work / f"{mode}-{floats}.dump"
        r = godi(
            "capture", "--program", str(prog), "-o", str(dump), "--floats", floats,
            "--", str(binary), mode, calls,
        )  # fmt: skip
        if r.returncode:
            raise SystemExit(f"capture failed: {r.stderr}")
        if "0 dropped" not in r.stderr:
            print(f"  note: drops in {mode}/{floats}: {r.stderr.splitlines()[-10:]}")
        return per_call(r.stdout)

    runs: dict[str, list[float]] = {"floats": [], "floats off": [], "ints": []}
    for i in range(args.repeat):
        base_f, base_i = plain("floats"), plain("ints")
        runs["floats"].append(probed("floats", "auto") - base_f)
        runs["floats off"].append(probed("floats", "never") - base_f)
        runs["ints"].append(probed("ints", "auto") - base_i)
        print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.0f} ns/call" for k, v in runs.items()))
    cost = {k: statistics.median(v) for k, v in runs.items()}
    # Check that the floats were read at all in the last floats run.
    dec = godi(
        "decode", "--ir", str(ir), "--program", str(prog), str(work / "floats-auto.dump"),
        "-o", str(work / "s.json"), "--service", "bench",
    )  # fmt: skip
    read = [ln for ln in dec.stderr.splitlines() if "floats in vector registers" in ln]
    print(f"Go {args.go}, {args.calls} calls a run, median of {args.repeat} runs")
    print(f"  {read[0] if read else 'no floats line from decode: ' + dec.stderr[-300:]}")
    for k, v in cost.items():
        print(f"  {k:10s}: {v:8.0f} ns per call ({v / 2:.0f} ns per captured hit)")
    print(f"  floats / ints      : {cost['floats'] / cost['ints']:.2f}x")
    print(f"  floats / floats off: {cost['floats'] / cost['floats off']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
