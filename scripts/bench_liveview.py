#!/usr/bin/env python3
"""Benchmark of `godi run`'s live view (issue 21): does watching slow the capture?

Captures the same workload (tests/progs/bench, ``scalars N``: one probed call per
iteration, an entry and a return event each, no rate limit) with and without the
live view decoding beside it, alternating, and prints the capture's wall time
with the view as a ratio to the time without it (medians), the target's time per
call both ways, and how many events the view skipped while behind. The view's
lines go to /dev/null (a terminal would be slower still, and is not capture's
cost). Everything is measured in this run, on this machine.

Usage: sudo .venv/bin/python scripts/bench_liveview.py [--calls N] [--repeats R] [--go V]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_capture import build, ns_per_call, prepare  # noqa: E402

from stages.capture import capture  # noqa: E402
from stages.cli import LiveView  # noqa: E402


def once(
    binary: Path, prog: Path, work: Path, calls: int, live: bool
) -> tuple[float, float, int, int, float, float]:
    """(capture seconds, target ns per call, events, events the view skipped,
    seconds the view took to finish after the capture, the view's CPU seconds)."""
    dump = work / "events.dump"
    out = work / "target.out"
    err = work / "view.err"
    view = None
    with open(err, "w") as verr, open("/dev/null", "w") as null:
        if live:
            view = LiveView(work / "ir.json", prog, dump, "bench", False, stdout=null, stderr=verr)
        dump.unlink(missing_ok=True)
        if view is not None:
            view.start()  # as `godi run` does: before the capture
        start = time.monotonic()
        with open(out, "w") as tout:
            saved = os.dup(1)
            os.dup2(tout.fileno(), 1)  # the target's stdout: its timing line
            try:
                result = capture(
                    str(prog),
                    str(dump),
                    command=[str(binary), "scalars", str(calls)],
                )
            finally:
                os.dup2(saved, 1)
                os.close(saved)
        elapsed = time.monotonic() - start
        # The target was reaped by the capture: what the children use from here
        # on is the view's.
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = used.ru_utime + used.ru_stime
        if view is not None:
            view.finish()
        tail = time.monotonic() - start - elapsed
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        view_cpu = used.ru_utime + used.ru_stime - before
    skipped = 0
    if live:
        text = err.read_text()
        m = re.search(r"live view: (\d+) snapshots shown(?:, (\d+) events skipped)?", text)
        if m is None:
            raise RuntimeError(f"no live view summary: {text!r}")
        skipped = int(m[2] or 0)
    return elapsed, ns_per_call(out.read_text()), result.events, skipped, tail, view_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=50_000, help="calls per capture (2 events each)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--go", default=(REPO / "scripts" / "go-versions.txt").read_text().split()[-1])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="godi-bench-live-") as tmp:
        work = Path(tmp)
        binary = build(args.go, work / "bench")
        probe = {
            "id": "s",
            "where": {"methodName": "main.scalars"},
            "captureSnapshot": True,
            "sampling": {"snapshotsPerSecond": 0},
        }
        prog = prepare(binary, [probe], work)
        times: dict[bool, list[float]] = {False: [], True: []}
        per_call: dict[bool, list[float]] = {False: [], True: []}
        events = skipped = 0
        tails: list[float] = []
        cpus: list[float] = []
        once(binary, prog, work, min(args.calls, 1000), True)  # warm caches
        for _ in range(args.repeats):
            for live in (False, True):
                elapsed, ns, n, sk, tail, cpu = once(binary, prog, work, args.calls, live)
                times[live].append(elapsed)
                per_call[live].append(ns)
                if live:
                    events += n
                    skipped += sk
                    tails.append(tail)
                    cpus.append(cpu)
        base, with_view = statistics.median(times[False]), statistics.median(times[True])
        print(f"calls per capture      {args.calls} ({2 * args.calls} events), {args.repeats} runs")
        spread = {k: f"{min(v):.3f}-{max(v):.3f}" for k, v in times.items()}
        print(f"capture without view   {base:.3f} s (median; {spread[False]})")
        print(f"capture with view      {with_view:.3f} s (median; {spread[True]})")
        print(f"ratio with/without     {with_view / base:.2f}x")
        print(
            f"target ns per call     {statistics.median(per_call[False]):.0f} without, "
            f"{statistics.median(per_call[True]):.0f} with"
        )
        print(f"view done after        {statistics.median(tails):.3f} s more (median)")
        print(f"view CPU time          {statistics.median(cpus):.3f} s per run (median)")
        print(f"load average           {os.getloadavg()[0]:.1f} at the end")
        print(f"view skipped           {skipped} of {events} events")


if __name__ == "__main__":
    main()
