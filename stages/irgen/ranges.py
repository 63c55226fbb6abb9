"""Range lists: the PC ranges of an entry given by ``DW_AT_ranges``.

DWARF 5 ``.debug_rnglists`` entries and DWARF 2-4 ``.debug_ranges`` address
pairs, made absolute. Decoded here rather than by a generic parser, as the
location lists are (see ``locations``): lexical blocks and inlined copies have
one each, a big binary hundreds of thousands.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .dies import DwarfFormatError, uleb

_MAX_ADDRESS = (1 << 64) - 1

# DW_RLE_* codes of DWARF 5 .debug_rnglists.
_RLE_END = 0
_RLE_BASE_ADDRESSX = 1
_RLE_STARTX_ENDX = 2
_RLE_STARTX_LENGTH = 3
_RLE_OFFSET_PAIR = 4
_RLE_BASE_ADDRESS = 5
_RLE_START_END = 6
_RLE_START_LENGTH = 7


def debug_ranges(data: bytes, pos: int, base: int) -> list[tuple[int, int]]:
    """The non-empty ranges of the .debug_ranges list at ``pos``; ``base`` is the
    unit's base address. Raises ``IndexError`` when truncated."""
    out: list[tuple[int, int]] = []
    while True:
        if pos + 16 > len(data):
            raise IndexError(pos)
        begin, end = struct.unpack_from("<QQ", data, pos)
        pos += 16
        if begin == 0 and end == 0:
            return out
        if begin == _MAX_ADDRESS:
            base = end
        elif end > begin:
            out.append((begin + base, end + base))


def rnglist(
    data: bytes, pos: int, base: int, address: Callable[[int], int]
) -> list[tuple[int, int]]:
    """The non-empty ranges of the .debug_rnglists list at ``pos``.

    ``base`` is the unit's base address, ``address(i)`` entry ``i`` of the unit's
    .debug_addr. Raises ``IndexError`` when truncated, ``DwarfFormatError`` on an
    unknown entry kind.
    """
    out: list[tuple[int, int]] = []
    while True:
        kind = data[pos]
        pos += 1
        if kind == _RLE_OFFSET_PAIR:
            begin, pos = uleb(data, pos)
            end, pos = uleb(data, pos)
            begin, end = begin + base, end + base
        elif kind == _RLE_END:
            return out
        elif kind == _RLE_BASE_ADDRESSX:
            index, pos = uleb(data, pos)
            base = address(index)
            continue
        elif kind == _RLE_BASE_ADDRESS:
            base = int.from_bytes(data[pos : pos + 8], "little")
            pos += 8
            continue
        elif kind == _RLE_STARTX_ENDX:
            a, pos = uleb(data, pos)
            b, pos = uleb(data, pos)
            begin, end = address(a), address(b)
        elif kind == _RLE_STARTX_LENGTH:
            a, pos = uleb(data, pos)
            length, pos = uleb(data, pos)
            begin = address(a)
            end = begin + length
        elif kind == _RLE_START_END:
            begin, end = struct.unpack_from("<QQ", data, pos)
            pos += 16
        elif kind == _RLE_START_LENGTH:
            begin = int.from_bytes(data[pos : pos + 8], "little")
            length, pos = uleb(data, pos + 8)
            end = begin + length
        else:
            raise DwarfFormatError(f"unknown range list entry kind {kind:#x}")
        if end > begin:
            out.append((begin, end))
