"""prefault: which mappings of a binary it reads, and that it reads them whole."""

from __future__ import annotations

import os
import sys

from stages.capture.prefault import binary_data_ranges, prefault


def _maps_of(path: str) -> list[tuple[int, int, str]]:
    st = os.stat(path)
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and int(fields[4]) == st.st_ino:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                out.append((start, end, fields[1]))
    return out


def test_ranges_are_the_binarys_readable_non_code_mappings() -> None:
    exe = os.path.realpath(sys.executable)
    want = [(s, e) for s, e, perms in _maps_of(exe) if "r" in perms and "x" not in perms]
    code = [(s, e) for s, e, perms in _maps_of(exe) if "x" in perms]
    got = binary_data_ranges(os.getpid(), exe)
    assert got == want and want
    assert not set(got) & set(code)


def test_prefault_reads_every_range_and_fails_soft() -> None:
    exe = os.path.realpath(sys.executable)
    total = sum(e - s for s, e in binary_data_ranges(os.getpid(), exe))
    assert prefault(os.getpid(), exe) == total
    assert prefault(2**22 + 12345, exe) == 0  # no such process
    assert prefault(os.getpid(), "/nonexistent/binary") == 0
