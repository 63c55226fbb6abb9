"""A reader of the Go runtime's ``.gopclntab``: PC -> function, file, line, inline tree.

The IR carries the table as the linker wrote it (``stages.ir.SymbolTable``), so
irgen only copies bytes and the cost of symbolication grows with the PCs looked
up, not with the size of the binary: ``Pclntab`` decodes a function's entries the
first time one of its PCs is asked for. irgen uses it to check a table, decode
to name stack PCs and function values (``stages.decode.stacks``).

The layout follows ``runtime/symtab.go``, ``runtime/symtabinl.go`` and
``debug/gosym/pclntab.go`` (Go 1.18+ format, magic ``0xfffffff0``; Go 1.20+,
``0xfffffff1``, which changed the inline tree entries):

- ``pcHeader``: magic, pad, pad, PC quantum, pointer size, ``nfunc``, ``nfiles``,
  an unused word, then offsets (from the header) of ``funcnametab``, ``cutab``,
  ``filetab``, ``pctab`` and ``pclntable``;
- ``pclntable`` starts with ``functab``: ``nfunc + 1`` pairs of u32 (entry offset
  from ``runtime.text``, ``_func`` offset from ``pclntable``), the last one's entry
  being the end of the text;
- ``_func``: entry, name offset, args, deferreturn, pcsp, pcfile, pcln, npcdata,
  cuOffset, startLine (1.20+), funcID, flag, pad, nfuncdata; then ``npcdata`` u32
  pctab offsets and ``nfuncdata`` u32 offsets from ``go:func.*``;
- a pcvalue stream (``runtime.step``): (zig-zag value delta, PC delta in
  ``quantum`` units) varint pairs, the value starting at -1, ended by a zero value
  delta after the first pair;
- ``FUNCDATA_InlTree`` entries (1.20+): funcID u8, pad, nameOff i32, parentPc i32,
  startLine i32; before 1.20: parent i16, funcID u8, pad, file i32, line i32,
  nameOff i32, parentPc i32.
"""

from __future__ import annotations

import bisect
import struct
from array import array
from dataclasses import dataclass

from .ir import SymbolTable

__all__ = ["GO118_MAGIC", "GO120_MAGIC", "Function", "PcValues", "Pclntab", "PclntabError"]

GO118_MAGIC = 0xFFFFFFF0
GO120_MAGIC = 0xFFFFFFF1

PCDATA_INLTREE_INDEX = 2
FUNCDATA_INLTREE = 3
NO_OFFSET = 0xFFFFFFFF

_HEADER = struct.Struct("<IBBBB8Q")
_FUNC = struct.Struct("<IiiIIIIII")


class PclntabError(ValueError):
    """The table is not a Go 1.18+ ``.gopclntab`` or is corrupt (callers say whose)."""


def _uvarint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``data[pos:]`` and the position after it (a varint cut
    off by the end of ``data`` ends there)."""
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return value, pos


class PcValues:
    """One pcvalue stream, decoded as far as asked: ``ends[k]`` is the PC offset
    (from the function's entry) where ``values[k]`` stops applying. A lookup
    decodes the stream up to its offset only (a big function's stream is long,
    and a stack needs one or two offsets of it)."""

    __slots__ = ("_data", "_pc", "_pos", "_quantum", "_val", "ends", "values")

    def __init__(self, data: bytes | memoryview, start: int, quantum: int) -> None:
        self._data = data
        self._pos = start  # -1: decoded to its end
        self._quantum = quantum
        self._val = -1
        self._pc = 0
        self.ends: list[int] = []
        self.values: list[int] = []

    def _decode(self, offset: int) -> None:
        """Decode entries until one ends past ``offset`` or the stream ends."""
        data = self._data
        pos = self._pos
        val = self._val
        pc = self._pc
        quantum = self._quantum
        ends = self.ends
        values = self.values
        first = not ends
        n = len(data)
        while True:
            if pos >= n:
                pos = -1
                break
            b = data[pos]
            if b == 0 and not first:
                pos = -1
                break
            first = False
            # (most varints are one byte: read here, the others by _uvarint)
            if b < 0x80:
                delta = b
                pos += 1
            else:
                delta, pos = _uvarint(data, pos)
            if pos < n and data[pos] < 0x80:
                step = data[pos]
                pos += 1
            else:
                step, pos = _uvarint(data, pos)
            val += -(delta & 1) ^ (delta >> 1)
            pc += step * quantum
            ends.append(pc)
            values.append(val)
            if pc > offset:
                break
        self._pos = pos
        self._val = val
        self._pc = pc

    def at(self, offset: int) -> int:
        """The value at PC ``offset`` from the entry, -1 outside the table."""
        ends = self.ends
        if self._pos >= 0 and (not ends or ends[-1] <= offset):
            self._decode(offset)
        k = bisect.bisect_right(ends, offset)
        return self.values[k] if k < len(self.values) else -1


_EMPTY = PcValues(b"", 0, 1)


@dataclass(frozen=True, slots=True)
class InlinedCall:
    """An entry of a function's inline tree: the callee's name and ``funcID``, and
    the offset from the function's entry of an instruction at the call site."""

    name: str
    func_id: int
    parent_pc: int


class Function:
    """One function of the table, its pcvalue streams decoded on first use."""

    __slots__ = ("_inl", "_table", "cu", "entry", "file", "func_id", "inltree", "line", "name")

    def __init__(self, table: Pclntab, index: int) -> None:
        self._table = table
        t = table
        base = t.functab + t.func_offsets[index]
        try:
            entry, name_off, _args, _defer, _sp, pcfile, pcln, npcdata, cu = _FUNC.unpack_from(
                t.data, base
            )
            tail = base + (44 if t.go120 else 40)
            self.func_id = t.data[tail - 4]
            nfuncdata = t.data[tail - 1]
            pcinl = inltree = 0
            if npcdata > PCDATA_INLTREE_INDEX:
                (pcinl,) = struct.unpack_from("<I", t.data, tail + 4 * PCDATA_INLTREE_INDEX)
            if nfuncdata > FUNCDATA_INLTREE:
                (inltree,) = struct.unpack_from(
                    "<I", t.data, tail + 4 * (npcdata + FUNCDATA_INLTREE)
                )
        except (struct.error, IndexError) as e:
            raise PclntabError(f"function {index} runs off the table") from e
        if entry != t.entries[index]:
            raise PclntabError(f"function {index} disagrees with the function table")
        self.entry = t.text + entry
        self.name = t.name(name_off)
        self.cu = cu
        self.file = t.values(pcfile)
        self.line = t.values(pcln)
        self.inltree = inltree if pcinl and inltree != NO_OFFSET else NO_OFFSET
        self._inl = pcinl

    def inline_index(self, offset: int) -> int:
        """The inline tree index at PC ``offset`` from the entry (-1: none)."""
        if self.inltree == NO_OFFSET:
            return -1
        return self._table.values(self._inl).at(offset)

    def position(self, offset: int) -> tuple[str, int]:
        """File and line at PC ``offset`` from the entry (``("?", 0)`` if unknown)."""
        fileno = self.file.at(offset)
        line = self.line.at(offset)
        name = self._table.file(self.cu, fileno) if fileno >= 0 and line >= 0 else None
        return (name, line) if name is not None else ("?", 0)


class Pclntab:
    """The ``.gopclntab`` of one binary (from its ``SymbolTable``), read lazily.

    Raises ``PclntabError`` if the header is not a Go 1.18+ table that fits.
    """

    def __init__(self, table: SymbolTable) -> None:
        self.data = data = table.pclntab
        self.text = table.text
        if len(data) < _HEADER.size:
            raise PclntabError("too short for its header")
        magic, pad1, pad2, quantum, ptr_size, nfunc, _nfiles, _unused, *offsets = (
            _HEADER.unpack_from(data)
        )
        if magic not in (GO118_MAGIC, GO120_MAGIC):
            raise PclntabError(f"magic {magic:#x}: only the Go 1.18+ format is supported")
        if pad1 or pad2 or quantum not in (1, 2, 4) or ptr_size != 8:
            raise PclntabError("the header is corrupt")
        if any(off > len(data) for off in offsets):
            raise PclntabError("the header points past the table")
        self.go120 = magic == GO120_MAGIC
        self.quantum = quantum
        self.nfunc = nfunc
        self.funcnametab, self.cutab, self.filetab, self.pctab, self.functab = offsets
        end = self.functab + (2 * nfunc + 1) * 4
        if end > len(data):
            raise PclntabError("the function table runs past the section")
        functab = array("I", data[self.functab : end])
        self.entries = functab[0::2]  # nfunc + 1: the last is the end of the text
        self.func_offsets = functab[1::2]
        self.cutab_len = (self.filetab - self.cutab) // 4 if self.filetab > self.cutab else 0
        if table.funcdata_offset >= 0:
            self.funcdata: bytes | memoryview = memoryview(data)[table.funcdata_offset :]
        else:
            self.funcdata = table.funcdata
        self.inline_entry_size = 16 if self.go120 else 20
        self._functions: dict[int, Function] = {}
        self._names: dict[int, str] = {}
        self._values: dict[int, PcValues] = {}
        self._wrapper_id: int | None = -1

    def index(self, pc: int) -> int | None:
        """The index of the function holding ``pc``, or None."""
        offset = pc - self.text
        i = bisect.bisect_right(self.entries, offset) - 1
        return i if 0 <= i < self.nfunc and offset < self.entries[i + 1] else None

    def function(self, index: int) -> Function:
        fn = self._functions.get(index)
        if fn is None:
            fn = self._functions[index] = Function(self, index)
        return fn

    def function_at(self, pc: int) -> Function | None:
        """The function holding ``pc``, or None."""
        i = self.index(pc)
        return None if i is None else self.function(i)

    def size(self, index: int) -> int:
        return self.entries[index + 1] - self.entries[index]

    def name(self, offset: int) -> str:
        """The function name at ``offset`` in ``funcnametab``."""
        name = self._names.get(offset)
        if name is None:
            start = self.funcnametab + offset
            if not 0 <= offset < self.cutab - self.funcnametab:
                raise PclntabError(f"name offset {offset} is outside the name table")
            end = self.data.find(b"\0", start, self.cutab)
            raw = self.data[start : end if end >= 0 else self.cutab]
            name = self._names[offset] = raw.decode("utf-8", "replace")
        return name

    def values(self, offset: int) -> PcValues:
        """The pcvalue stream at ``offset`` in ``pctab`` (offset 0: none)."""
        if offset == 0:
            return _EMPTY
        found = self._values.get(offset)
        if found is None:
            found = self._values[offset] = PcValues(self.data, self.pctab + offset, self.quantum)
        return found

    def file(self, cu: int, fileno: int) -> str | None:
        """File ``fileno`` of compilation unit ``cu`` (None: none)."""
        at = cu + fileno
        if cu >= self.cutab_len or at >= self.cutab_len:  # markers like go:textfipsstart
            return None
        (off,) = struct.unpack_from("<I", self.data, self.cutab + 4 * at)
        if off == NO_OFFSET or self.filetab + off >= len(self.data):
            return None
        start = self.filetab + off
        end = self.data.find(b"\0", start)
        return self.data[start : end if end >= 0 else len(self.data)].decode("utf-8", "replace")

    def inlined(self, fn: Function, ix: int) -> InlinedCall | None:
        """Entry ``ix`` of ``fn``'s inline tree (None if it cannot be read)."""
        if fn.inltree == NO_OFFSET or ix < 0:
            return None
        size = self.inline_entry_size
        at = fn.inltree + ix * size
        if at + size > len(self.funcdata):
            return None
        if self.go120:
            func_id, name_off, parent_pc = struct.unpack_from("<B3xii", self.funcdata, at)
        else:
            _parent, func_id, name_off, parent_pc = struct.unpack_from(
                "<hBx4x4xii", self.funcdata, at
            )
        try:
            name = self.name(name_off)
        except PclntabError:
            return None
        return InlinedCall(name, func_id, parent_pc)

    @property
    def wrapper_id(self) -> int | None:
        """``abi.FuncIDWrapper``: the ID after ``runtime.systemstack_switch``'s, in every
        Go version from 1.18 on (the IDs before it vary). None if not found."""
        if self._wrapper_id == -1:
            self._wrapper_id = None
            needle = b"\0runtime.systemstack_switch\0"
            at = self.data.find(needle, self.funcnametab - 1, self.cutab)
            if at >= 0:
                name_off = at + 1 - self.funcnametab
                for i in range(self.nfunc):
                    base = self.functab + self.func_offsets[i]
                    if struct.unpack_from("<i", self.data, base + 4)[0] == name_off:
                        self._wrapper_id = self.function(i).func_id + 1
                        break
        return self._wrapper_id
