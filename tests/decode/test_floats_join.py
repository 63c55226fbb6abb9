"""Joining floats records to their hits (``stages.decode.floats``), on hand-made
records: a value only from a record whose frame check passed, for the registers
it was asked for; every other case unavailable with its reason."""

from __future__ import annotations

import struct
from pathlib import Path

import msgspec

from stages.decode.floats import NO_FRAME, REFUSED, join_floats
from stages.dump import RECORD_EVENT, RECORD_NOTICE, RECORD_PREFIX, Notice, frame, record_crc
from stages.layout import (
    EVENT_FLAG_FLOATS_ASKED,
    EVENT_FLAG_FLOATS_REFUSED,
    EVENT_HEADER_FORMAT,
    FLOATS_OK,
    FLOATS_PC_MISMATCH,
    FLOATS_PROBE_BIT,
    FLOATS_RECORD_FORMAT,
    FLOATS_SP_MISMATCH,
    Layout,
    PieceLayout,
    decode_layout,
)

FIXTURE = Path(__file__).parent / "fixtures" / "example-go1.27.3" / "prog" / "layout.json"
ENTRY = 0  # checkout entry: c (register), discount (XMM0 here)
ROOT = 16


def _layout() -> Layout:
    """The example's layout, its checkout entry's ``discount`` made an XMM0 piece."""
    layout = decode_layout(FIXTURE.read_bytes())
    probe = layout.probes[ENTRY]
    c, discount = probe.variables
    discount = msgspec.structs.replace(
        discount, pieces=[PieceLayout(offset=0, size=8, source="vector", register=0)]
    )
    probe = msgspec.structs.replace(probe, variables=[c, discount], vector_registers=1)
    return msgspec.structs.replace(layout, probes=[probe, *layout.probes[1:]])


def _record(kind: int, payload: bytes) -> bytes:
    return frame(kind, payload)


def _event(tid: int, ktime: int, flags: int) -> bytes:
    head = struct.pack(
        EVENT_HEADER_FORMAT, ENTRY, ROOT, ktime, 1, 100, tid, ROOT, 0, flags, 0, 0, 0
    )
    return _record(RECORD_EVENT, head + struct.pack("<QQ", 0xC0FFEE, 0))


def _floats(tid: int, ktime: int, status: int, mask: int, xmm0: float) -> bytes:
    head = struct.pack(
        EVENT_HEADER_FORMAT, ENTRY | FLOATS_PROBE_BIT, 152, ktime, 0, 100, tid, 0, 0, 0, 0, 0, 0
    )
    regs = [struct.unpack("<Q", struct.pack("<d", xmm0))[0]] + [0] * 15
    body = struct.pack(FLOATS_RECORD_FORMAT, status, mask, 0x401234, 0x401234, *regs)
    return _record(RECORD_EVENT, head + body)


def _discount(layout: Layout, data: bytes) -> list[tuple[str, str | None, float | None]]:
    """(source, reason, value in the root) of ``discount`` in each event of ``data``."""
    out = []
    pos = 0
    while pos + RECORD_PREFIX <= len(data):
        _sync, kind, length, crc = struct.unpack_from("<4sIII", data, pos)
        if pos + RECORD_PREFIX + length > len(data):
            break  # a cut record
        payload = data[pos + RECORD_PREFIX : pos + RECORD_PREFIX + length]
        assert record_crc(data[pos + 4 : pos + 12], payload) == crc  # rewritten whole
        pos += RECORD_PREFIX + length
        if kind != RECORD_EVENT:
            continue
        (index,) = struct.unpack_from("<I", payload)
        assert not index & FLOATS_PROBE_BIT  # floats records are taken out
        probe = layout.probes[index]
        assert probe.probe_id == "checkout" and probe.kind == "entry"
        (piece,) = probe.variables[1].pieces
        assert probe.variables[0].pieces[0].source == "register"
        (value,) = struct.unpack_from("<d", payload, 64 + 8)
        out.append((piece.source, piece.reason, value))
    return out


def test_a_checked_frame_gives_the_value_and_the_others_their_reason() -> None:
    layout = _layout()
    data = b"".join(
        [
            _event(1, 10, EVENT_FLAG_FLOATS_ASKED),
            _floats(1, 10, FLOATS_OK, 1, 0.1),
            _event(2, 20, EVENT_FLAG_FLOATS_ASKED),  # no record came
            _event(3, 30, EVENT_FLAG_FLOATS_ASKED),
            _floats(3, 30, FLOATS_PC_MISMATCH, 1, 9.0),
            _event(4, 40, EVENT_FLAG_FLOATS_REFUSED),
            _event(5, 50, EVENT_FLAG_FLOATS_ASKED),
            _floats(5, 50, FLOATS_SP_MISMATCH, 1, 9.0),
            _event(6, 60, EVENT_FLAG_FLOATS_ASKED),
            _floats(6, 60, FLOATS_OK, 0, 9.0),  # XMM0 not asked for
            _floats(7, 70, FLOATS_OK, 1, 9.0),  # no hit of its own
            _event(1, 80, EVENT_FLAG_FLOATS_ASKED),
            _floats(1, 11, FLOATS_OK, 1, 9.0),  # another token: not this hit's
            _event(8, 90, EVENT_FLAG_FLOATS_ASKED),
            _floats(8, 90, FLOATS_OK, 1, 9.0),
            _floats(8, 90, FLOATS_OK, 1, 9.0),  # two claim one hit: neither believed
        ]
    )
    out, extended, tally = join_floats(data, layout)
    got = _discount(extended, out)
    assert got[0] == ("register", None, 0.1)
    assert got[1] == ("unavailable", NO_FRAME, 0.0)
    assert got[2][0] == "unavailable" and "interrupted at 0x401234" in (got[2][1] or "")
    assert got[3] == ("unavailable", REFUSED, 0.0)
    assert got[4][0] == "unavailable" and "stack pointer" in (got[4][1] or "")
    assert got[5][0] == "unavailable" and "written by the probed instruction" in (got[5][1] or "")
    assert got[6] == ("unavailable", NO_FRAME, 0.0)
    assert got[7] == ("unavailable", "two floats records claim the hit", 0.0)
    # Never a value but from its own checked frame: 9.0 appears nowhere.
    assert all(v != 9.0 for _, _, v in got)
    assert tally.captured == 1 and sum(tally.unavailable.values()) == 7
    assert tally.records == 8 and tally.orphans == 3
    # The variants follow the real probes, same probe id, one per outcome.
    assert len(extended.probes) == len(layout.probes) + 7
    assert all(p.index == i for i, p in enumerate(extended.probes))


def test_a_floats_notice_gives_its_reason_and_a_cut_record_is_kept() -> None:
    layout = _layout()
    notice = msgspec.json.encode(
        Notice(probe_id="checkout", kind="floats", message=f"{ENTRY}: floats off (--floats never)")
    )
    tail = frame(RECORD_EVENT, bytes(500))[:RECORD_PREFIX] + b"cut"
    data = _record(RECORD_NOTICE, notice) + _event(1, 10, 0) + tail
    out, extended, _ = join_floats(data, layout)
    assert _discount(extended, out) == [("unavailable", "floats off (--floats never)", 0.0)]
    assert out.endswith(tail)


def test_records_are_read_in_the_dumps_framing_and_a_damaged_one_is_kept() -> None:
    """Records carry the dump's sync marker and CRC (``dump.frame``): a floats
    record in them is joined, a record whose CRC fails is neither joined nor
    rewritten (decode reports it), and the records after it are joined still."""
    layout = _layout()
    damaged = bytearray(_floats(2, 20, FLOATS_OK, 1, 9.0))
    damaged[-1] ^= 1
    data = b"".join(
        [
            _event(1, 10, EVENT_FLAG_FLOATS_ASKED),
            _floats(1, 10, FLOATS_OK, 1, 0.5),
            _event(2, 20, EVENT_FLAG_FLOATS_ASKED),
            bytes(damaged),
            _event(3, 30, EVENT_FLAG_FLOATS_ASKED),
            _floats(3, 30, FLOATS_OK, 1, 0.25),
        ]
    )
    out, extended, tally = join_floats(data, layout)
    assert tally.records == 2
    assert bytes(damaged) in out
    body = out.replace(bytes(damaged), b"")
    got = _discount(extended, body)
    assert got[0] == ("register", None, 0.5)
    assert got[1] == ("unavailable", NO_FRAME, 0.0)
    assert got[2] == ("register", None, 0.25)
