"""The capture benchmark's floor (bpf/bench_floor.c) does the work it stands for.

scripts/bench_capture.py compares godi with this program to tell godi's own cost
from the kernel operations any snapshot needs. A floor whose reads failed would be
cheap for the wrong reason, so: every call of the probed function gives one entry
event that read the goroutine and its stack (the return address found in the
copy) and one return event.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from gobuild import REPO, build_go, go_versions

from stages.dump import RECORD_EVENT, RecordReader

pytestmark = pytest.mark.live

CALLS = 1000


def _events(chunk: bytes) -> list[bytes]:
    """The EVENT payloads of framed records, every record intact (sync marker, CRC)."""
    reader = RecordReader(io.BytesIO(chunk), 0)
    records = list(reader)
    assert not reader.corrupt and reader.truncated_at is None
    assert all(r.kind == RECORD_EVENT for r in records)
    return [r.payload for r in records]


def test_floor_reads_the_goroutine_and_its_stack_at_every_call(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import bench_capture

    binary = build_go(REPO / "tests" / "progs" / "bench", go_versions()[-1])
    prog = bench_capture.prepare(
        binary,
        [{"id": "s", "where": {"methodName": "main.scalars"}, "captureSnapshot": True}],
        tmp_path,
    )
    probes = json.loads((prog / "layout.json").read_text())["probes"]
    floor = bench_capture.Floor(binary, [p["pc"] for p in probes], [p["kind"] for p in probes])
    try:
        subprocess.run([str(binary), "scalars", str(CALLS)], check=True, capture_output=True)
        events = _events(floor.reader.drain())
    finally:
        floor.close()

    entries = [e for e in events if len(e) == 120]
    returns = [e for e in events if len(e) == 72]
    assert len(entries) == len(returns) == CALLS == len(events) // 2
    with open(binary, "rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        lo, hi = text["sh_addr"], text["sh_addr"] + text["sh_size"]
    for e in entries:
        stack_hi, length, err, ret = struct.unpack_from("<QQqQ", e, 16)
        assert err == 0 and 16 < length <= 2048
        assert stack_hi > 0
        assert lo <= ret < hi  # main.main's call site, read from the stack copy
