"""Benchmark of capture's binary check (stages/capture/identity.py), before attaching.

Usage: ``python scripts/bench_identity.py BINARY PROGRAM_DIR [REPEAT]``, with
PROGRAM_DIR written by ``godi codegen`` for BINARY (e.g. ``go test -c
encoding/json`` or cmd/compile and a few probes on them).

Prints, best of REPEAT runs (default 5): reading the file's bytes (the baseline,
measured in the same run), hashing them (``content_sha256``, its in-process
memory cleared each time), and proving every uprobe address an instruction start
(``open_checked`` minus the hash), with the ratios to the baseline.
"""

from __future__ import annotations

import os
import sys
import time

from stages import buildid
from stages.artifacts import load_layout
from stages.capture.identity import open_checked


def read_all(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = 0
        while chunk := os.pread(fd, 1 << 20, offset):
            offset += len(chunk)
    finally:
        os.close(fd)


def best(repeat: int, run: object) -> float:
    assert callable(run)
    times = []
    for _ in range(repeat):
        buildid._HASHES.clear()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    binary, program = sys.argv[1], sys.argv[2]
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    layout = load_layout(program)
    size = os.path.getsize(binary)
    read = best(repeat, lambda: read_all(binary))
    hashed = best(repeat, lambda: buildid.file_sha256(binary))
    checked = best(repeat, lambda: open_checked(binary, layout).close())
    bounds = max(checked - hashed, 0.0)
    print(f"{binary}: {size / 1e6:.1f} MB, {len(layout.probes)} uprobes (best of {repeat})")
    print(f"  read the bytes (baseline) {read * 1e3:7.1f} ms")
    print(f"  sha256 of the bytes       {hashed * 1e3:7.1f} ms  {hashed / read:5.1f}x the read")
    print(
        f"  instruction boundaries    {bounds * 1e3:7.1f} ms  {bounds / read:5.1f}x the read, "
        f"{bounds / max(len(layout.probes), 1) * 1e6:.0f} us per uprobe"
    )
    print(f"  whole check               {checked * 1e3:7.1f} ms  {checked / read:5.1f}x the read")


if __name__ == "__main__":
    main()
