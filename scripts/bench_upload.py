#!/usr/bin/env python3
"""Benchmark ``godi upload``: time, throughput and peak memory on a generated input.

Writes COUNT small snapshots (JSON lines or a pretty JSON array) to a temporary
directory, starts a local intake there (unless --agent is given), and runs
``godi upload`` in a subprocess launched from a fresh small interpreter, so that
the peak RSS reported is the uploader's own.

    .venv/bin/python scripts/bench_upload.py --count 200000 --format jsonl
    .venv/bin/python scripts/bench_upload.py --count 100000 --format json --pad 2000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "upload"))

from upload_helpers import make_snapshot, write_array, write_lines  # noqa: E402

from stages.intake import Intake, IntakeOptions  # noqa: E402

LAUNCHER = """
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--format", choices=["json", "jsonl"], default="jsonl")
    ap.add_argument("--pad", type=int, default=0, help="extra bytes of string per snapshot")
    ap.add_argument("--agent", help="upload there instead of to a local intake")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="godi-bench-") as tmp:
        d = Path(tmp)
        write = write_lines if args.format == "jsonl" else write_array
        t0 = time.monotonic()
        inp = write(
            d / f"snapshots.{args.format}",
            (make_snapshot(i, pad=args.pad) for i in range(args.count)),
        )
        size = inp.stat().st_size
        print(f"input: {args.count} snapshots, {size / 2**20:.1f} MiB "
              f"(written in {time.monotonic() - t0:.1f}s)")  # fmt: skip
        intake = None
        agent = args.agent
        if agent is None:
            intake = Intake(d / "intake", options=IntakeOptions(validate=False)).start()
            agent = intake.url
        try:
            t0 = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "stages", "upload",
                 str(inp), "--agent", agent],
                cwd=REPO,
                capture_output=True,
                text=True,
            )  # fmt: skip
            elapsed = time.monotonic() - t0
        finally:
            if intake is not None:
                intake.stop()
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        if result.returncode:
            sys.exit(result.returncode)
        peak = int(result.stdout.split()[-1]) / 1024
        print(
            f"upload: {elapsed:.1f}s, {args.count / elapsed:,.0f} snapshots/s, "
            f"{size / 2**20 / elapsed:.1f} MiB/s, peak RSS {peak:.1f} MiB"
        )


if __name__ == "__main__":
    main()
