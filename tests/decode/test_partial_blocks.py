"""Blocks BPF read only in part (``BLOCK_FLAG_PARTIAL``): a map bucket, group or
``hchan`` whose end runs into a page the program never touched is kept up to that
page (a BPF read cannot fault it in). What lies before the cut is shown, what lies
after it never is (the bytes there are zeros, not the program's)."""

from __future__ import annotations

import msgspec
from decode_helpers import (
    BYTES,
    T_INT,
    T_STRING,
    Blk,
    Var,
    bucket_map_layout,
    bucket_map_world,
    elem_sizes,
    make_dump,
    make_program,
    make_world,
    pack_bucket,
    pack_event,
    run,
    string_header,
    u64,
)

from stages.ir import ChanLayout, ChanType, MapType
from stages.layout import BLOCK_FLAG_PARTIAL, BpfType

T_CH = 800
HCHAN = ChanLayout(
    header=0,
    header_size=96,
    qcount_offset=0,
    dataqsiz_offset=8,
    buf_offset=16,
    elemsize_offset=24,
    closed_offset=28,
    sendx_offset=48,
    recvx_offset=56,
)
CH = 0xC000080FC0  # 64 bytes before a page boundary


def _channel(valid: int) -> dict[str, object]:
    program = make_program()
    chan = ChanType(id=T_CH, name="chan<- []bool", size=8, elem=T_INT, layout=HCHAN)
    program = msgspec.structs.replace(program, types=[*program.types, chan])
    w = make_world([Var("c", T_CH)], program=program)
    ix = len(w.layout.types)
    role = BpfType(index=ix, ir_type=T_CH, size=96, role="chan")
    w.layout = msgspec.structs.replace(w.layout, types=[*w.layout.types, role])
    hchan = u64(2) + u64(3) + bytes(80)  # len 2, cap 3, open
    # PARTIAL: no whole element, the head of one (its first `valid` bytes)
    blk = Blk(CH, ix, hchan) if valid == 96 else Blk(CH, ix, hchan[:valid], 0, BLOCK_FLAG_PARTIAL)
    event = pack_event(u64(CH), [blk], elem_sizes=elem_sizes(w))
    (snap,) = [msgspec.json.decode(raw) for raw in run(w, make_dump([event])).encoded()]
    return snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["c"]  # type: ignore[no-any-return]


def test_an_hchan_read_up_to_an_untouched_page_is_shown() -> None:
    """hchan at 0x...fc0: its first 64 bytes hold len, cap and closed."""
    whole = {
        "type": "chan<- []bool",
        "fields": {"closed": {"type": "bool", "value": "false"}},
        "address": hex(CH),
        "len": "2",
        "cap": "3",
    }
    assert _channel(96) == whole
    assert _channel(64) == whole


def test_an_hchan_cut_before_its_fields_is_unavailable() -> None:
    assert _channel(16) == {
        "type": "chan<- []bool",
        "address": hex(CH),
        "notCapturedReason": "unavailable",
    }


T_BMAP = 801
BUCKETS = bucket_map_layout(key_size=16, value_size=16)
HM, BK, KEY = 0xC000076FF0, 0xC000004E08, 0xC0000E0000


def _bucket_map(header_valid: int, bucket_valid: int, count: int = 2) -> object:
    """map[string]int of Go 1.21-1.23 (buckets): two entries, slots 0 and 5."""
    mt = MapType(
        id=T_BMAP, name="map[string]int", size=8, key=T_STRING, value=T_INT, layout=BUCKETS
    )
    w, n = bucket_map_world("m", mt)
    header = u64(count) + bytes(8) + u64(BK) + bytes(24)  # B = 0: one bucket
    bucket = pack_bucket(
        BUCKETS,
        {0: (9, string_header(KEY, 1), u64(10)), 5: (77, string_header(KEY + 1, 1), u64(15))},
    )

    def block(addr: int, ix: int, data: bytes, valid: int) -> Blk:
        if valid == len(data):
            return Blk(addr, ix, data)
        return Blk(addr, ix, data[:valid], count=0, flags=BLOCK_FLAG_PARTIAL)

    blocks = [
        block(HM, n, header, header_valid),
        block(BK, n + 1, bucket, bucket_valid),
        Blk(KEY, BYTES, b"a"),
        Blk(KEY + 1, BYTES, b"b"),
    ]
    event = pack_event(u64(HM), blocks, elem_sizes=elem_sizes(w))
    (snap,) = [msgspec.json.decode(raw) for raw in run(w, make_dump([event])).encoded()]
    return snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["m"]


def _entry(key: str, value: int) -> list[dict[str, str]]:
    return [{"type": "string", "value": key}, {"type": "int", "value": str(value)}]


def test_a_bucket_read_up_to_an_untouched_page() -> None:
    """Slot 5's value (and the overflow word) lie past the cut: the entry of
    slot 0 is shown, the map says it lacks the other; whole when both are read."""
    assert _bucket_map(48, 272) == {
        "type": "map[string]int",
        "entries": [_entry("a", 10), _entry("b", 15)],
        "size": "2",
    }
    assert _bucket_map(48, 160) == {
        "type": "map[string]int",
        "entries": [_entry("a", 10)],
        "size": "2",
        "truncated": True,
        "notCapturedReason": "unavailable",
    }
    # one entry in all: what was read holds it
    assert _bucket_map(48, 160, count=1)["entries"] == [_entry("a", 10)]  # type: ignore[index]


def test_a_map_header_cut_before_its_words_is_unavailable() -> None:
    assert _bucket_map(16, 272) == {"type": "map[string]int", "notCapturedReason": "unavailable"}
    assert _bucket_map(32, 272)["size"] == "2"  # type: ignore[index]
    # an empty map (Go 1.21, seed 6 F7: hmap at 0x...ff0, 16 bytes read): its count
    # is enough
    assert _bucket_map(16, 272, count=0) == {"type": "map[string]int", "entries": [], "size": "0"}
    assert _bucket_map(4, 272, count=0)["notCapturedReason"] == "unavailable"  # type: ignore[index]
