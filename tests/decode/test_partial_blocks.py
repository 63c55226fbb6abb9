"""Blocks BPF read only in part (``BLOCK_FLAG_PARTIAL``): a map bucket, group or
``hchan`` whose end runs into a page the program never touched is kept up to that
page (a BPF read cannot fault it in). What lies before the cut is shown, what lies
after it never is (the bytes there are zeros, not the program's)."""

from __future__ import annotations

import msgspec
from decode_helpers import (
    T_INT,
    Blk,
    Var,
    elem_sizes,
    make_dump,
    make_program,
    make_world,
    pack_event,
    run,
    u64,
)

from stages.ir import ChanLayout, ChanType
from stages.layout import BLOCK_FLAG_PARTIAL, BLOCK_VALID_SHIFT, BpfType

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
    flags = 0 if valid == 96 else BLOCK_FLAG_PARTIAL | valid << BLOCK_VALID_SHIFT
    hchan = hchan[:valid] + bytes(96 - valid)
    event = pack_event(u64(CH), [Blk(CH, ix, hchan, flags=flags)], elem_sizes=elem_sizes(w))
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
