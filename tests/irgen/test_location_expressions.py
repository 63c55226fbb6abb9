"""DWARF location expressions -> pieces, on hand-written expressions."""

from __future__ import annotations

import pytest

from stages.ir import AddressPiece, CfaPiece, MissingPiece, RegisterPiece
from stages.irgen.locations import (
    UnsupportedLocation,
    absolute_v4,
    absolute_v5,
    decode_expression,
)

REG0, REG3, REG17 = 0x50, 0x53, 0x61
REGX, FBREG, PIECE, CFA, ADDR, PLUS_UCONST, STACK_VALUE, LIT0 = (
    0x90,
    0x91,
    0x93,
    0x9C,
    0x03,
    0x23,
    0x9F,
    0x30,
)


@pytest.mark.parametrize(
    ("expr", "pieces"),
    [
        (b"", []),
        (bytes([REG0]), [RegisterPiece(register=0)]),
        (bytes([REG17]), [RegisterPiece(register=17)]),
        (bytes([REGX, 33]), [RegisterPiece(register=33)]),
        (bytes([CFA]), [CfaPiece(offset=0)]),
        (bytes([CFA, PLUS_UCONST, 16]), [CfaPiece(offset=16)]),
        (bytes([FBREG, 8]), [CfaPiece(offset=8)]),
        (bytes([FBREG, 0x68]), [CfaPiece(offset=-24)]),  # SLEB128 -24
        (bytes([ADDR]) + (0x570480).to_bytes(8, "little"), [AddressPiece(address=0x570480)]),
        # A string in two registers.
        (
            bytes([REG0, PIECE, 8, REG3, PIECE, 8]),
            [RegisterPiece(register=0, size=8), RegisterPiece(register=3, size=8)],
        ),
        # A string spilled to the argument area.
        (
            bytes([CFA, PIECE, 8, FBREG, 8, PIECE, 8]),
            [CfaPiece(offset=0, size=8), CfaPiece(offset=8, size=8)],
        ),
        # Half of it optimised out.
        (
            bytes([PIECE, 8, REG3, PIECE, 8]),
            [MissingPiece(size=8), RegisterPiece(register=3, size=8)],
        ),
        # A multi-byte piece size (ULEB128 128).
        (bytes([REG0, PIECE, 0x80, 0x01]), [RegisterPiece(register=0, size=128)]),
    ],
)
def test_decode(expr: bytes, pieces: list[object]) -> None:
    assert decode_expression(expr, frame_base_cfa=True) == pieces


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        (bytes([LIT0, STACK_VALUE]), "DW_OP_lit0"),
        (bytes([CFA, STACK_VALUE]), "DW_OP_stack_value"),
        (bytes([REG0, PLUS_UCONST, 8]), "register location followed"),
        (bytes([REG0, PIECE, 8, REG3]), "after the last DW_OP_piece"),
        (bytes([ADDR, 1, 2]), "truncated"),
        (bytes([FBREG]), "truncated"),
    ],
)
def test_unsupported(expr: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedLocation, match=reason):
        decode_expression(expr, frame_base_cfa=True)


def test_fbreg_needs_a_cfa_frame_base() -> None:
    with pytest.raises(UnsupportedLocation, match="frame base"):
        decode_expression(bytes([FBREG, 8]), frame_base_cfa=False)


def _addr(value: int) -> bytes:
    return value.to_bytes(8, "little")


def test_absolute_v4() -> None:
    data = (
        b"\x00"  # padding: lists start at an offset
        + _addr(0x10)
        + _addr(0x20)  # relative to the unit's base
        + (1).to_bytes(2, "little")
        + bytes([REG0])
        + _addr(2**64 - 1)
        + _addr(0x401000)  # base address selection
        + _addr(0)
        + _addr(0x10)
        + (1).to_bytes(2, "little")
        + bytes([CFA])
        + _addr(0)
        + _addr(0)
    )
    assert absolute_v4(data, 1, 0x400000) == [
        (0x400010, 0x400020, bytes([REG0])),
        (0x401000, 0x401010, bytes([CFA])),
    ]
    with pytest.raises(IndexError):
        absolute_v4(data[:-8], 1, 0)


def test_absolute_v5() -> None:
    addresses = {0: 0x49B940}
    data = bytes(
        [
            0x04, 0x01, 0x02, 0x01, CFA,  # DW_LLE_offset_pair from the unit's base
            0x01, 0x00,  # DW_LLE_base_addressx 0
            0x04, 0x00, 0xC2, 0x01, 0x01, REG0,  # DW_LLE_offset_pair 0..0xc2 (2-byte ULEB)
            0x05, 0x01, REG0,  # DW_LLE_default_location: no range to put it in
            0x07, *_addr(0x500000), *_addr(0x500010), 0x01, CFA,  # DW_LLE_start_end
            0x08, *_addr(0x600000), 0x04, 0x00,  # DW_LLE_start_length, empty expr
            0x03, 0x00, 0x08, 0x00,  # DW_LLE_startx_length
            0x00,  # DW_LLE_end_of_list
        ]
    )  # fmt: skip
    entries, default = absolute_v5(data, 0, 0x400000, addresses.__getitem__)
    assert default
    assert entries == [
        (0x400001, 0x400002, bytes([CFA])),
        (0x49B940, 0x49B940 + 0xC2, bytes([REG0])),
        (0x500000, 0x500010, bytes([CFA])),
        (0x600000, 0x600004, b""),
        (0x49B940, 0x49B948, b""),
    ]
    with pytest.raises(IndexError):
        absolute_v5(data[:-1], 0, 0, addresses.__getitem__)
