"""Taking one raw event apart: every length is checked."""

from __future__ import annotations

import struct

import pytest
from decode_helpers import Blk, pack_event, u64

from stages.decode.events import ROOT_AT, RawEvent, parse_event
from stages.errors import DecodeError
from stages.layout import BLOCK_FLAG_READ_FAILED, BLOCK_HEADER_FORMAT, EVENT_HEADER_SIZE

SIZES = [1, 16, 8]  # bytes, a root, an 8-byte type


def _data(e: RawEvent, key: tuple[int, int]) -> bytes:
    start, end, _, _ = e.blocks[key]
    return e.payload[start:end]


def test_parts() -> None:
    ev = pack_event(
        b"abc",
        [Blk(0x10, 0, b"hello"), Blk(0x20, 2, u64(1) + u64(2))],
        stack=(1, 2, 3),
        goid=9,
        flags=2,
        fail_mask=5,
        elem_sizes={2: 8},
    )
    e = parse_event(ev, 100, SIZES)
    assert (e.offset, e.probe, e.goid, e.flags, e.fail_mask) == (100, 0, 9, 2, 5)
    assert e.payload[ROOT_AT : ROOT_AT + e.root_len] == b"abc"
    assert e.pcs == (1, 2, 3)
    assert _data(e, (0x10, 0)) == b"hello"
    assert e.blocks[(0x20, 2)][2] == 2  # elements
    assert not e.any_short


def test_last_block_padding_may_be_left_out() -> None:
    ev = pack_event(b"", [Blk(0x10, 0, b"abc")], stack=())
    trimmed = ev[:-5]
    trimmed = trimmed[:4] + struct.pack("<I", len(trimmed) - EVENT_HEADER_SIZE) + trimmed[8:]
    e = parse_event(trimmed, 0, SIZES)
    assert _data(e, (0x10, 0)) == b"abc"


def test_same_memory_twice_keeps_the_larger_block() -> None:
    ev = pack_event(b"", [Blk(0x10, 0, b"abcdef"), Blk(0x10, 0, b"ab")], stack=())
    assert parse_event(ev, 0, SIZES).blocks[(0x10, 0)][2] == 6  # elements


def test_failed_read_does_not_replace_data() -> None:
    ev = pack_event(
        b"",
        [Blk(0x10, 0, b"ab"), Blk(0x10, 0, b"", count=9, flags=BLOCK_FLAG_READ_FAILED)],
        stack=(),
    )
    e = parse_event(ev, 0, SIZES)
    assert _data(e, (0x10, 0)) == b"ab"


def _patch(ev: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(ev)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _with_data_len(ev: bytes, n: int) -> bytes:
    return _patch(ev, 4, "<I", n)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (b"\0" * 20, "shorter than the 64-byte header"),
        (_with_data_len(pack_event(b"x"), 3), "header says 3 data bytes"),
        (_patch(pack_event(b"", stack=()), 36, "<H", 0xFFFF), "65535 pcs\\) overrun"),
        (_patch(pack_event(b"abc", stack=()), 32, "<I", 9), "root \\(9 bytes\\)"),
        (pack_event(b"", [Blk(1, 5, b"")], stack=()), "capture type 5"),
        (pack_event(b"", [Blk(1, 2, b"abc", count=1)], stack=()), "1 elements of 8 bytes but 3"),
        (
            pack_event(b"", [Blk(1, 0, b"abc", flags=BLOCK_FLAG_READ_FAILED)], stack=()),
            "read failed but holds 3 bytes",
        ),
    ],
)
def test_corrupt(event: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=f"corrupt event record at byte 77: .*{why}"):
        parse_event(event, 77, SIZES)


def test_block_header_cut_off() -> None:
    ev = pack_event(b"", stack=()) + b"\0" * 8
    ev = _with_data_len(ev, 8)
    with pytest.raises(DecodeError, match="block header at event byte 64 cut off"):
        parse_event(ev, 0, SIZES)


def test_block_data_overrun() -> None:
    head = struct.pack(BLOCK_HEADER_FORMAT, 1, 0, 100, 100, 0)
    ev = _with_data_len(pack_event(b"", stack=()) + head, 24)
    with pytest.raises(DecodeError, match="100 data bytes overrun"):
        parse_event(ev, 0, SIZES)
