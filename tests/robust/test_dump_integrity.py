"""Dump integrity (issue 15, item 8): a damaged dump is reported, never misread.

Each record carries a sync marker and a CRC-32, the header a CRC-32 too. Random
bit flips (seeded) in the committed fixture dumps are either reported (decode's
error, a corrupt run skipped, a cut) or harmless (the same snapshots), never a
silently changed value; the records around a corrupt one are still decoded. A
dump whose capture was killed (no COUNTERS trailer) is reported unfinished by
``godi decode`` and ``godi status``, which calls the probes with events in it
EMITTING.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "decode"))
from fixture_cases import CASES, FIXTURES, Case, load_case

from stages.dump import RECORD_COUNTERS, RECORD_EVENT, RecordReader, read_header
from stages.errors import DecodeError

FLIPS = 150
"""Seeded single-bit flips per fixture (about a second each)."""


def _decode(case: Case, data: bytes) -> tuple[list[bytes], bool]:
    """The snapshots decoded and whether decode reported damage."""
    out: list[bytes] = []
    try:
        run = case.run(data)
        out.extend(run.encoded())
    except DecodeError:
        return out, True
    return out, bool(run.corrupt) or run.truncated_at is not None


@pytest.mark.parametrize("name", CASES)
def test_bit_flips_are_reported_or_harmless(name: str) -> None:
    case = load_case(name)
    clean, damaged = _decode(case, case.dump)
    assert clean and not damaged
    rng = random.Random(f"godi-flips-{name}")
    reported = 0
    for _ in range(FLIPS):
        bit = rng.randrange(8 * len(case.dump))
        data = bytearray(case.dump)
        data[bit // 8] ^= 1 << (bit % 8)
        snaps, damaged = _decode(case, bytes(data))
        if not damaged:
            assert snaps == clean, f"bit {bit} changed the snapshots silently"
            continue
        reported += 1
        # The records around the damaged one are decoded as they were; an entry
        # or return was lost says so (an evaluation error on @return or @entry).
        for snap in snaps:
            lost = b'"expr":"@return"' in snap or b'"expr":"@entry"' in snap
            assert snap in clean or lost, f"bit {bit}"
    assert reported > FLIPS // 2  # most bytes are covered by a CRC


def test_a_corrupt_record_is_skipped_and_the_rest_decoded() -> None:
    case = load_case(next(c for c in CASES if c.startswith("example")))
    clean, _ = _decode(case, case.dump)
    with io.BytesIO(case.dump) as f:
        read_header(f)
        events = [r for r in RecordReader(f, f.tell()) if r.kind == RECORD_EVENT]
    middle = events[len(events) // 2]
    data = bytearray(case.dump)
    data[middle.offset + 20 + len(middle.payload) // 2] ^= 0x10
    run = case.run(bytes(data))
    snaps = list(run.encoded())
    assert [at for at, _ in run.corrupt] == [middle.offset]
    assert len(snaps) >= len(clean) - 1
    assert run.finished


def _fixture_dir(tmp: Path, name: str) -> Path:
    d = FIXTURES / name
    (tmp / "ir.json").write_bytes(gzip.decompress((d / "ir.json.gz").read_bytes()))
    shutil.copytree(d / "prog", tmp / "prog")
    return tmp


def _godi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stages", *args], capture_output=True, text=True, timeout=120
    )


def test_a_killed_capture_is_unfinished(tmp_path: Path) -> None:
    """The dump of a capture killed before its trailer: decode and status say it is
    unfinished, and status calls the probes with events EMITTING."""
    name = next(c for c in CASES if c.startswith("example"))
    d = _fixture_dir(tmp_path, name)
    dump = load_case(name).dump
    with io.BytesIO(dump) as f:
        read_header(f)
        records = list(RecordReader(f, f.tell()))
    (counters,) = [r for r in records if r.kind == RECORD_COUNTERS]
    assert counters is records[-1]
    cut = dump[: counters.offset + 7]  # killed while writing its trailer
    (d / "events.dump").write_bytes(cut)
    dec = _godi(
        *("decode", "--ir", str(d / "ir.json"), "--program", str(d / "prog")),
        *(str(d / "events.dump"), "--service", "x", "-o", str(d / "s.json")),
    )
    assert dec.returncode == 0, dec.stderr
    assert "is unfinished: it has no trailer" in dec.stderr
    assert f"cut off at byte {counters.offset}" in dec.stderr
    assert json.loads((d / "s.json").read_text())  # every whole record decoded

    st = _godi(
        *("status", "--program", str(d / "prog"), "--dump", str(d / "events.dump")),
        *("--service", "x", "-o", "-"),
    )
    assert st.returncode == 0, st.stderr
    assert "is unfinished" in st.stderr
    states = {
        s["debugger"]["diagnostics"]["probeId"]: s["debugger"]["diagnostics"]["status"]
        for s in json.loads(st.stdout)
    }
    emitted = {r.payload[0] for r in records if r.kind == RECORD_EVENT}
    layout = load_case(name).layout
    with_events = {p.probe_id for p in layout.probes if p.index in emitted}
    assert with_events and all(states[p] == "EMITTING" for p in with_events)
    assert "INSTALLED" not in {states[p] for p in with_events}


def test_dump_versions() -> None:
    """A version 2 dump (the fixtures: no PARTIAL blocks) is read as it was; a
    version this godi does not know is one clear error, not a misreading."""
    data = (FIXTURES / "example-go1.27.3" / "events.dump").read_bytes()
    assert int.from_bytes(data[8:12], "little") == 2
    assert read_header(io.BytesIO(data)).build_id
    future = data[:8] + (99).to_bytes(4, "little") + data[12:]
    with pytest.raises(DecodeError, match="dump format version 99, this godi reads 2, 3"):
        read_header(io.BytesIO(future))
