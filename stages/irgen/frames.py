"""Call-frame information (.debug_frame): the CFA rule of each function, by PC.

Go describes every stack-pointer change with a CFA row: ``PUSH BP`` and
``SUB SP`` in the prologue, ``ADD SP`` and ``POP BP`` in each epilogue, so the row
that makes the CFA RSP+8 again starts exactly at a return instruction (or at
the stack-growth call path). irgen uses that to find the returns of a function
with a frame without disassembling all of it.

Only the CFA register and offset are tracked; register save rules are skipped.
FDE headers are indexed once; a function's rows are decoded when first asked for.
"""

from __future__ import annotations

import bisect
import struct
from typing import NamedTuple

from .dies import DwarfFormatError, sleb, uleb

_CIE_ID_32 = 0xFFFFFFFF
_FDE32 = struct.Struct("<IIQQ").unpack_from
_CIE_ID_64 = 0xFFFFFFFFFFFFFFFF


class CfaRow(NamedTuple):
    """From ``pc`` on (until the next row), CFA = ``register`` + ``offset``."""

    pc: int
    register: int
    offset: int


class _Cie(NamedTuple):
    code_align: int
    data_align: int
    initial: tuple[int, int]  # (register, offset) after the initial instructions


class FrameTable:
    """The FDEs of a .debug_frame section, indexed by their initial location."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._cies: dict[int, _Cie] = {}
        # initial location -> (instructions start, end, address range, CIE offset)
        self._fdes: dict[int, tuple[int, int, int, int]] = {}
        self._starts: list[int] | None = None
        self._rows: dict[int, list[CfaRow]] = {}
        try:
            self._index()
        except IndexError as e:
            raise DwarfFormatError(".debug_frame runs past its end") from e

    def _index(self) -> None:
        data, pos = self._data, 0
        fdes = self._fdes
        while pos + 4 <= len(data):
            start = pos
            # The common case first: a 32-bit FDE (length, CIE pointer, initial
            # location, address range), read at once.
            if pos + 24 <= len(data):
                length, pointer, location, address_range = _FDE32(data, pos)
                if (
                    length not in (0, 0xFFFFFFFF)
                    and pointer != _CIE_ID_32
                    and length >= 20
                    and pos + 4 + length <= len(data)
                ):
                    end = pos + 4 + length
                    fdes[location] = (pos + 24, end, address_range, pointer)
                    pos = end
                    continue
            length = int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
            size = 4
            if length == 0xFFFFFFFF:
                length = int.from_bytes(data[pos : pos + 8], "little")
                pos, size = pos + 8, 8
            if length == 0:
                pos = start + 4
                continue
            end = pos + length
            if end > len(data):
                raise DwarfFormatError(f".debug_frame entry at {start:#x} runs past its end")
            pointer = int.from_bytes(data[pos : pos + size], "little")
            body = pos + size
            if pointer in (_CIE_ID_32, _CIE_ID_64):
                self._cies[start] = self._cie(body, end)
            else:
                location = int.from_bytes(data[body : body + 8], "little")
                address_range = int.from_bytes(data[body + 8 : body + 16], "little")
                self._fdes[location] = (body + 16, end, address_range, pointer)
            pos = end

    def _cie(self, pos: int, end: int) -> _Cie:
        data = self._data
        version = data[pos]
        augmentation_end = data.index(b"\0", pos + 1)
        if augmentation_end != pos + 1:
            raise DwarfFormatError("a .debug_frame CIE with an augmentation is not supported")
        pos = augmentation_end + 1
        if version >= 4:
            pos += 2  # address size, segment selector size
        code_align, pos = uleb(data, pos)
        data_align, pos = sleb(data, pos)
        if version == 1:
            pos += 1
        else:
            _, pos = uleb(data, pos)
        rows = self._run(pos, end, 0, code_align, data_align, (7, 8))
        register, offset = (rows[-1].register, rows[-1].offset) if rows else (7, 8)
        return _Cie(code_align, data_align, (register, offset))

    def cfa_at(self, pc: int) -> CfaRow | None:
        """The CFA rule in force at ``pc``, from the FDE whose range holds it."""
        if self._starts is None:
            self._starts = sorted(self._fdes)
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0:
            return None
        low_pc = self._starts[i]
        if pc >= low_pc + self._fdes[low_pc][2]:
            return None
        rows = self.rows(low_pc) or []
        k = bisect.bisect_right(rows, pc, key=lambda row: row.pc) - 1
        return rows[k] if k >= 0 else None

    def rows(self, low_pc: int) -> list[CfaRow] | None:
        """The CFA rows of the function starting at ``low_pc``; None without an FDE."""
        cached = self._rows.get(low_pc)
        if cached is not None:
            return cached
        fde = self._fdes.get(low_pc)
        if fde is None:
            return None
        start, end, _, cie_offset = fde
        cie = self._cies.get(cie_offset)
        if cie is None:
            raise DwarfFormatError(f"FDE for {low_pc:#x} refers to a missing CIE")
        try:
            rows = self._run(start, end, low_pc, cie.code_align, cie.data_align, cie.initial)
        except IndexError as e:
            raise DwarfFormatError(f"FDE for {low_pc:#x} runs past its end") from e
        self._rows[low_pc] = rows
        return rows

    def _run(
        self,
        pos: int,
        end: int,
        pc: int,
        code_align: int,
        data_align: int,
        initial: tuple[int, int],
    ) -> list[CfaRow]:
        data = self._data
        register, offset = initial
        rows = [CfaRow(pc, register, offset)]
        while pos < end:
            op = data[pos]
            pos += 1
            high, low = op >> 6, op & 0x3F
            advance = -1
            if high == 1:  # DW_CFA_advance_loc
                advance = low * code_align
            elif high == 2:  # DW_CFA_offset
                _, pos = uleb(data, pos)
            elif high == 3 or op == 0x00:  # DW_CFA_restore, DW_CFA_nop
                pass
            elif op == 0x01:  # set_loc
                pc = int.from_bytes(data[pos : pos + 8], "little")
                pos += 8
                advance = 0
            elif op in (0x02, 0x03, 0x04):  # advance_loc1/2/4
                width = {0x02: 1, 0x03: 2, 0x04: 4}[op]
                advance = int.from_bytes(data[pos : pos + width], "little") * code_align
                pos += width
            elif op in (0x05, 0x09, 0x14):  # offset_extended, register, val_offset
                _, pos = uleb(data, pos)
                _, pos = uleb(data, pos)
            elif op in (0x06, 0x07, 0x08):  # restore_extended, undefined, same_value
                _, pos = uleb(data, pos)
            elif op in (0x0A, 0x0B):  # remember/restore state: not used by Go
                raise DwarfFormatError("DW_CFA_remember_state is not supported")
            elif op == 0x0C:  # def_cfa
                register, pos = uleb(data, pos)
                offset, pos = uleb(data, pos)
            elif op == 0x0D:  # def_cfa_register
                register, pos = uleb(data, pos)
            elif op == 0x0E:  # def_cfa_offset
                offset, pos = uleb(data, pos)
            elif op in (0x11, 0x15):  # offset_extended_sf, val_offset_sf
                _, pos = uleb(data, pos)
                _, pos = sleb(data, pos)
            elif op == 0x12:  # def_cfa_sf
                register, pos = uleb(data, pos)
                factored, pos = sleb(data, pos)
                offset = factored * data_align
            elif op == 0x13:  # def_cfa_offset_sf
                factored, pos = sleb(data, pos)
                offset = factored * data_align
            elif op in (0x0F, 0x10, 0x16):  # expressions: the CFA is not a register + offset
                if op != 0x0F:
                    _, pos = uleb(data, pos)
                size, pos = uleb(data, pos)
                pos += size
                if op == 0x0F:
                    register, offset = -1, 0
            else:
                raise DwarfFormatError(f"unknown call frame instruction {op:#x}")
            if advance >= 0:
                pc += advance
                if rows[-1].pc == pc:
                    rows[-1] = CfaRow(pc, register, offset)
                else:
                    rows.append(CfaRow(pc, register, offset))
            else:
                rows[-1] = CfaRow(rows[-1].pc, register, offset)
        return rows
