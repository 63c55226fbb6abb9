"""Symbolication data from ``.gopclntab``: the runtime's own PC -> function/file/line table.

The Go linker writes ``.gopclntab`` into every binary, stripped or not, because the
runtime needs it for tracebacks. ``build_symbols`` reads it (Go 1.18+ format, magic
``0xfffffff0``; Go 1.20+, ``0xfffffff1``, which changed the inline tree entries) and
returns a ``SymbolTable``: the function table plus, per function, the raw pcvalue
streams for file, line and inline tree index and the inline tree itself. Decode
symbolicates stack PCs from it without the binary (``stages.decode.stacks``).

The layout follows ``runtime/symtab.go``, ``runtime/symtabinl.go`` and
``debug/gosym/pclntab.go``:

- ``pcHeader``: magic, pad, pad, PC quantum, pointer size, ``nfunc``, ``nfiles``,
  an unused word, then offsets (from the header) of ``funcnametab``, ``cutab``,
  ``filetab``, ``pctab`` and ``pclntable``;
- ``pclntable`` starts with ``functab``: ``nfunc + 1`` pairs of u32 (entry offset
  from ``runtime.text``, ``_func`` offset from ``pclntable``), the last one's entry
  being the end of the text;
- ``_func``: entry, name offset, args, deferreturn, pcsp, pcfile, pcln, npcdata,
  cuOffset, startLine (1.20+), funcID, flag, pad, nfuncdata; then ``npcdata`` u32
  pctab offsets and ``nfuncdata`` u32 offsets from ``go:func.*``;
- ``FUNCDATA_InlTree`` entries (1.20+): funcID u8, pad, nameOff i32, parentPc i32,
  startLine i32; before 1.20: parent i16, funcID u8, pad, file i32, line i32,
  nameOff i32, parentPc i32.

``runtime.text`` and ``go:func.*`` are not in the table: they are read from the
runtime's ``firstmoduledata`` (found by its pointer to the pclntab; in ``.noptrdata``,
in ``.go.module`` since Go 1.27), else from the
symbol table, else ``.text`` is assumed to start the Go text.
"""

from __future__ import annotations

import base64
import bisect
import logging
import struct
from collections.abc import Collection, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from ..errors import BinaryError
from ..ir import FunctionSymbols, InlinedCall, SymbolTable
from .elf import ElfImage, open_elf

__all__ = ["build_symbols", "pcvalue_stream_end"]

log = logging.getLogger(__name__)

GO118_MAGIC = 0xFFFFFFF0
GO120_MAGIC = 0xFFFFFFF1

PCDATA_INLTREE_INDEX = 2
FUNCDATA_INLTREE = 3
_NO_FUNCDATA = 0xFFFFFFFF

# moduledata: pcHeader *, then six slices (funcnametab, cutab, filetab, pctab,
# pclntable, ftab), findfunctab, minpc, maxpc, text, etext...
_MD_FUNCNAMETAB = 8
_MD_TEXT = 8 + 6 * 24 + 3 * 8
# ...then noptrdata..ecovctrs, end, gcdata, gcbss, types, etypes, rodata, gofunc:
# the number of words from ``text`` to ``gofunc`` depends on the Go version.
_MD_GOFUNC_WORDS = (
    ((1, 27), 21),  # + typedesclen, itaboffset, itabsize
    ((1, 20), 18),  # + covctrs, ecovctrs
    ((1, 18), 16),
)
_MD_SIZE = _MD_TEXT + 8 * 22


def _u32s(data: bytes, offset: int, count: int) -> tuple[int, ...]:
    return struct.unpack_from(f"<{count}I", data, offset)


def pcvalue_stream_end(data: bytes, start: int) -> int:
    """The offset of the terminating zero of the pcvalue stream at ``data[start:]``.

    A stream is a sequence of (value delta, PC delta) varint pairs ended by a zero
    value delta (except for the first pair, whose value delta may be zero).
    Raises ``IndexError`` when the stream runs off ``data``.
    """
    pos = start
    first = True
    n = len(data)
    while True:
        if pos >= n:
            raise IndexError("pcvalue stream runs off the table")
        if data[pos] == 0 and not first:
            return pos
        first = False
        for _ in range(2):  # value delta, then PC delta
            while data[pos] & 0x80:
                pos += 1
            pos += 1


def _stream_values(data: bytes) -> Iterator[int]:
    """The values of a pcvalue stream (without its terminator)."""
    pos = 0
    val = -1
    n = len(data)
    while pos < n:
        for which in range(2):
            shift = result = 0
            while True:
                b = data[pos]
                pos += 1
                result |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            if which == 0:
                val += -(result & 1) ^ (result >> 1)
                yield val


@dataclass(frozen=True)
class _Header:
    magic: int
    quantum: int
    nfunc: int
    funcnametab: int
    cutab: int
    filetab: int
    pctab: int
    pclntable: int


def _header(path: str, tab: bytes) -> _Header:
    if len(tab) < 8 + 8 * 8:
        raise BinaryError(path, ".gopclntab is too short for its header")
    magic, pad1, pad2, quantum, ptr_size = struct.unpack_from("<IBBBB", tab, 0)
    if magic not in (GO118_MAGIC, GO120_MAGIC):
        raise BinaryError(
            path, f".gopclntab magic {magic:#x}: only the Go 1.18+ format is supported"
        )
    if pad1 or pad2 or quantum not in (1, 2, 4) or ptr_size != 8:
        raise BinaryError(path, ".gopclntab header is corrupt")
    nfunc, _nfiles, _text, names, cutab, filetab, pctab, pcln = struct.unpack_from("<8Q", tab, 8)
    for off in (names, cutab, filetab, pctab, pcln):
        if off > len(tab):
            raise BinaryError(path, ".gopclntab header points past the table")
    return _Header(magic, quantum, nfunc, names, cutab, filetab, pctab, pcln)


def _version_tuple(version: str | None) -> tuple[int, int]:
    if not version or not version.startswith("go"):
        return (0, 0)
    parts = version[2:].split(".")
    try:
        return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0))
    except (IndexError, ValueError):
        return (0, 0)


def _section(image: ElfImage, name: str) -> tuple[int, bytes] | None:
    """(address, bytes) of a file-backed section, or None."""
    section = image.elffile.get_section_by_name(name)
    if section is None or section["sh_type"] == "SHT_NOBITS":
        return None
    return section["sh_addr"], section.data()


def _moduledata_words(image: ElfImage, pclntab_addr: int, funcnametab: int) -> tuple[int, ...]:
    """The words of ``runtime.firstmoduledata``, or () when it cannot be found."""
    want = struct.pack("<QQ", pclntab_addr, pclntab_addr + funcnametab)
    for name in (".go.module", ".noptrdata", ".data", ".data.rel.ro"):  # 1.27: .go.module
        found = _section(image, name)
        if found is None:
            continue
        _, data = found
        pos = data.find(want)
        while pos >= 0:
            if pos % 8 == 0 and pos + _MD_SIZE <= len(data):
                return struct.unpack_from(f"<{_MD_SIZE // 8}Q", data, pos)
            pos = data.find(want, pos + 1)
    return ()


def _symbol(image: ElfImage, *names: str) -> int | None:
    symtab = image.elffile.get_section_by_name(".symtab")
    if symtab is None:
        return None
    for name in names:
        symbols = symtab.get_symbol_by_name(name)  # type: ignore[attr-defined]
        if symbols:
            return int(symbols[0]["st_value"])
    return None


def _text_and_gofunc(
    image: ElfImage, pclntab_addr: int, header: _Header, version: str | None
) -> tuple[int, int | None]:
    """The address of ``runtime.text`` and the candidate address of ``go:func.*``
    from ``firstmoduledata`` (None when not found; checked by the caller)."""
    words = _moduledata_words(image, pclntab_addr, header.funcnametab)
    text: int | None = None
    gofunc: int | None = None
    if words:
        text = words[_MD_TEXT // 8]
        v = _version_tuple(version)
        index = next((n for since, n in _MD_GOFUNC_WORDS if v >= since), None)
        if index is not None:
            gofunc = words[_MD_TEXT // 8 + index]
    if text is None:
        text = _symbol(image, "runtime.text")
    if text is None:
        found = _section(image, ".text")
        if found is None:
            raise BinaryError(image.path, "no .text section")
        text = found[0]
    return text, gofunc


class _Names:
    """Interned strings in first-use order."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.items: list[str] = []

    def __call__(self, name: str) -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.items)
            self.items.append(name)
        return i


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if end < 0:
        end = len(data)
    return data[offset:end].decode("utf-8", "replace")


class _Reader:
    """Reads one pclntab into a ``SymbolTable``."""

    def __init__(self, image: ElfImage) -> None:
        found = _section(image, ".gopclntab")
        if found is None:
            raise BinaryError(image.path, "no .gopclntab section: not a Go binary?")
        self.path = image.path
        addr, self.tab = found
        self.h = _header(image.path, self.tab)
        self.text, self.gofunc = _text_and_gofunc(image, addr, self.h, image.go_version())
        self.image = image
        h = self.h
        self.functab = h.pclntable
        end = self.functab + (2 * h.nfunc + 1) * 4
        if end > len(self.tab):
            raise BinaryError(image.path, ".gopclntab function table runs past the section")
        self.ftab = _u32s(self.tab, self.functab, 2 * h.nfunc + 1)
        self.cutab_len = (h.filetab - h.cutab) // 4 if h.filetab > h.cutab else 0
        self.names = _Names()
        self.files = _Names()
        self.units: dict[int, int] = {}
        self.unit_lists: list[list[int]] = []
        self.wrappers: set[int] = set()
        self.wrapper_id = self._wrapper_func_id()
        if not self._plausible_gofunc(self.gofunc):
            symbol = _symbol(image, "go:func.*", "go.func.*")
            self.gofunc = symbol if self._plausible_gofunc(symbol) else None
            if self.gofunc is None:
                log.warning("%s: go:func.* not found: inlined frames are not expanded", image.path)

    # ----------------------------------------------------------------- pieces

    def _func_fields(self, funcoff: int) -> tuple[int, ...]:
        """entryOff, nameOff, pcfile, pcln, npcdata, cuOffset, funcID, nfuncdata, and
        the offset of the pcdata array."""
        tab = self.tab
        base = self.functab + funcoff
        entry, name, _args, _defer, _pcsp, pcfile, pcln, npcdata, cu = struct.unpack_from(
            "<IiiIIIIII", tab, base
        )
        if self.h.magic == GO120_MAGIC:
            func_id, nfuncdata, tail = tab[base + 40], tab[base + 43], base + 44
        else:
            func_id, nfuncdata, tail = tab[base + 36], tab[base + 39], base + 40
        return entry, name, pcfile, pcln, npcdata, cu, func_id, nfuncdata, tail

    def _name(self, name_off: int) -> str:
        return _cstring(self.tab, self.h.funcnametab + name_off)

    def _wrapper_func_id(self) -> int | None:
        """``abi.FuncIDWrapper``: the ID after ``runtime.systemstack_switch``'s, in every
        Go version from 1.18 on (the IDs before it vary)."""
        for i in range(self.h.nfunc):
            fields = self._func_fields(self.ftab[2 * i + 1])
            if self._name(fields[1]) == "runtime.systemstack_switch":
                return fields[6] + 1
        return None

    def _plausible_gofunc(self, gofunc: int | None, sample: int = 16) -> bool:
        """Whether inline trees read at ``gofunc`` make sense for the first ``sample``
        functions that have one: callee names inside the name table, call sites
        inside the function."""
        if gofunc is None:
            return False
        size = 16 if self.h.magic == GO120_MAGIC else 20
        names_size = self.h.cutab - self.h.funcnametab
        checked = 0
        for i in range(self.h.nfunc):
            fields = self._func_fields(self.ftab[2 * i + 1])
            npcdata, nfuncdata, tail = fields[4], fields[7], fields[8]
            if nfuncdata <= FUNCDATA_INLTREE:
                continue
            (off,) = struct.unpack_from("<I", self.tab, tail + 4 * (npcdata + FUNCDATA_INLTREE))
            if off == _NO_FUNCDATA:
                continue
            raw = self.image.read(gofunc + off, size)
            if len(raw) < size:
                return False
            if self.h.magic == GO120_MAGIC:
                name_off, parent_pc = struct.unpack_from("<4xii", raw)
            else:
                name_off, parent_pc = struct.unpack_from("<12xii", raw)
            func_size = self.ftab[2 * i + 2] - self.ftab[2 * i]
            if not (0 <= name_off < names_size and 0 <= parent_pc < func_size):
                return False
            checked += 1
            if checked >= sample:
                break
        return True

    def _stream(self, offset: int) -> bytes:
        if offset == 0:
            return b""
        start = self.h.pctab + offset
        return self.tab[start : pcvalue_stream_end(self.tab, start)]

    def _unit(self, cu_offset: int, cu_ends: list[int]) -> int:
        if cu_offset >= self.cutab_len:  # markers such as go:textfipsstart
            return -1
        unit = self.units.get(cu_offset)
        if unit is None:
            # The unit's files run to the next unit's first entry.
            i = bisect.bisect_right(cu_ends, cu_offset)
            end = cu_ends[i] if i < len(cu_ends) else self.cutab_len
            offsets = _u32s(self.tab, self.h.cutab + 4 * cu_offset, max(0, end - cu_offset))
            files = [
                -1 if off == _NO_FUNCDATA else self.files(_cstring(self.tab, self.h.filetab + off))
                for off in offsets
            ]
            unit = self.units[cu_offset] = len(self.unit_lists)
            self.unit_lists.append(files)
        return unit

    def _inline_tree(
        self, nfuncdata: int, npcdata: int, tail: int, pcinl: bytes
    ) -> list[InlinedCall]:
        if not pcinl or nfuncdata <= FUNCDATA_INLTREE or self.gofunc is None:
            return []
        (off,) = struct.unpack_from("<I", self.tab, tail + 4 * (npcdata + FUNCDATA_INLTREE))
        if off == _NO_FUNCDATA:
            return []
        count = max(_stream_values(pcinl), default=-1) + 1
        if count <= 0:
            return []
        new = self.h.magic == GO120_MAGIC
        size = 16 if new else 20
        raw = self.image.read(self.gofunc + off, count * size)
        if len(raw) < count * size:
            raise BinaryError(self.path, "inline tree runs past its section")
        calls = []
        for i in range(count):
            if new:
                func_id, name_off, parent_pc = struct.unpack_from("<B3xii", raw, i * size)
            else:
                _parent, func_id, name_off, parent_pc = struct.unpack_from(
                    "<hBx4x4xii", raw, i * size
                )
            name = self.names(self._name(name_off))
            if func_id == self.wrapper_id:
                self.wrappers.add(name)
            calls.append(InlinedCall(name=name, parent_pc=parent_pc))
        return calls

    # ------------------------------------------------------------------ table

    def build(self, pcs: Collection[int] | None) -> SymbolTable:
        h = self.h
        ftab = self.ftab
        fields = [self._func_fields(ftab[2 * i + 1]) for i in range(h.nfunc)]
        cu_ends = sorted({f[5] for f in fields if f[5] < self.cutab_len})
        wanted: set[int] | None = None
        if pcs is not None:
            entries = [self.text + ftab[2 * i] for i in range(h.nfunc + 1)]
            wanted = set()
            for pc in pcs:
                i = bisect.bisect_right(entries, pc) - 1
                if 0 <= i < h.nfunc:
                    wanted.add(i)
        functions: list[FunctionSymbols] = []
        for i, (
            entry_off,
            name_off,
            pcfile,
            pcln,
            npcdata,
            cu,
            func_id,
            nfuncdata,
            tail,
        ) in enumerate(fields):
            if wanted is not None and i not in wanted:
                continue
            entry = self.text + ftab[2 * i]
            if entry_off != ftab[2 * i]:
                raise BinaryError(
                    self.path, f".gopclntab function {i} disagrees with the function table"
                )
            size = ftab[2 * i + 2] - ftab[2 * i]
            name = self.names(self._name(name_off))
            if func_id == self.wrapper_id:
                self.wrappers.add(name)
            pcinl_off = 0
            if npcdata > PCDATA_INLTREE_INDEX:
                (pcinl_off,) = struct.unpack_from("<I", self.tab, tail + 4 * PCDATA_INLTREE_INDEX)
            pcinl = self._stream(pcinl_off)
            inlined = self._inline_tree(nfuncdata, npcdata, tail, pcinl)
            functions.append(
                FunctionSymbols(
                    entry=entry,
                    size=size,
                    name=name,
                    unit=self._unit(cu, cu_ends),
                    pcfile=_b64(self._stream(pcfile)),
                    pcln=_b64(self._stream(pcln)),
                    pcinl=_b64(pcinl) if inlined else "",
                    inlined=inlined,
                )
            )
        return SymbolTable(
            quantum=h.quantum,
            names=self.names.items,
            files=self.files.items,
            units=self.unit_lists,
            wrappers=sorted(self.wrappers),
            functions=functions,
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_symbols(binary: str | ElfImage, pcs: Collection[int] | None = None) -> SymbolTable:
    """The symbolication table of a Go binary (a path or an opened ``ElfImage``).

    With ``pcs``, only the functions containing one of them are kept; without, every
    function (stack PCs can be anywhere). Raises ``BinaryError`` when the binary has
    no usable ``.gopclntab`` (absent, older than Go 1.18, corrupt).
    """
    with ExitStack() as stack:
        image = binary if isinstance(binary, ElfImage) else stack.enter_context(open_elf(binary))
        try:
            return _Reader(image).build(pcs)
        except (struct.error, IndexError) as e:
            raise BinaryError(image.path, f".gopclntab is corrupt: {e}") from e
