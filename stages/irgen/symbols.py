"""Symbolication data for stack PCs: the binary's ``.gopclntab``, located and checked.

The Go linker writes ``.gopclntab`` into every binary, stripped or not, because the
runtime needs it for tracebacks. ``build_symbols`` copies it into the IR's
``SymbolTable`` with what reading it takes besides (``stages.pclntab`` reads it):

- ``runtime.text``, which the table's PCs are relative to, and ``go:func.*``,
  where inline trees live, are not in the table: they are read from the runtime's
  ``firstmoduledata`` (found by its pointer to the pclntab; in ``.noptrdata``, in
  ``.go.module`` since Go 1.27), else from the symbol table, else ``.text`` is
  assumed to start the Go text (and inlined frames are not expanded);
- a ``go:func.*`` candidate is kept only if the inline trees of the first
  functions that have one make sense there.

Copying bytes is the whole cost: the table is decoded lazily, by decode, for the
PCs its events hold.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator

from ..errors import BinaryError
from ..ir import SymbolTable
from ..pclntab import NO_OFFSET, Pclntab, PclntabError
from .elf import ElfImage, open_elf

__all__ = ["build_symbols"]

log = logging.getLogger(__name__)

# moduledata: pcHeader *, then six slices (funcnametab, cutab, filetab, pctab,
# pclntable, ftab), findfunctab, minpc, maxpc, text, etext...
_MD_TEXT = 8 + 6 * 24 + 3 * 8
# ...then noptrdata..ecovctrs, end, gcdata, gcbss, types, etypes, rodata, gofunc:
# the number of words from ``text`` to ``gofunc`` depends on the Go version.
_MD_GOFUNC_WORDS = (
    ((1, 27), 21),  # + typedesclen, itaboffset, itabsize
    ((1, 20), 18),  # + covctrs, ecovctrs
    ((1, 18), 16),
)
_MD_SIZE = _MD_TEXT + 8 * 22


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
    image: ElfImage, pclntab_addr: int, funcnametab: int, version: str | None
) -> tuple[int, int | None]:
    """The address of ``runtime.text`` and the candidate address of ``go:func.*``
    from ``firstmoduledata`` (None when not found; checked by the caller)."""
    words = _moduledata_words(image, pclntab_addr, funcnametab)
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


PLAUSIBILITY_SAMPLE = 16
"""Functions with an inline tree checked against a ``go:func.*`` candidate."""


def _gofunc_section(image: ElfImage, gofunc: int) -> tuple[int, bytes] | None:
    """(address, bytes) of the file-backed section holding ``gofunc``."""
    for section in image.elffile.iter_sections():
        addr, size = section["sh_addr"], section["sh_size"]
        if section["sh_type"] != "SHT_NOBITS" and addr <= gofunc < addr + size:
            return addr, section.data()
    return None


def _plausible(table: SymbolTable) -> bool:
    """Whether the inline trees of the first functions that have one, read from the
    table's ``go:func.*``, name functions of the table and call sites inside them."""
    tab = Pclntab(table)
    checked = 0
    for i in range(tab.nfunc):
        fn = tab.function(i)
        if fn.inltree == NO_OFFSET:
            continue
        call = tab.inlined(fn, 0)
        if call is None or not 0 <= call.parent_pc < tab.size(i):
            return False
        checked += 1
        if checked >= PLAUSIBILITY_SAMPLE:
            break
    return True


def _with_funcdata(
    table: SymbolTable, pclntab_addr: int, image: ElfImage, gofunc: int
) -> SymbolTable:
    """``table`` with the inline trees at ``gofunc``, if it is plausible."""
    size = len(table.pclntab)
    if pclntab_addr <= gofunc < pclntab_addr + size:
        candidate = SymbolTable(
            text=table.text, pclntab=table.pclntab, funcdata_offset=gofunc - pclntab_addr
        )
    else:
        found = _gofunc_section(image, gofunc)
        if found is None:
            return table
        addr, data = found
        candidate = SymbolTable(
            text=table.text, pclntab=table.pclntab, funcdata=data[gofunc - addr :]
        )
    return candidate if _plausible(candidate) else table


def _gofunc_candidates(image: ElfImage, from_moduledata: int | None) -> Iterator[int]:
    """Where ``go:func.*`` may be: from ``firstmoduledata``, else the symbol table
    (looked up only if needed: pyelftools maps every symbol to find one)."""
    if from_moduledata is not None:
        yield from_moduledata
    symbol = _symbol(image, "go:func.*", "go.func.*")
    if symbol is not None:
        yield symbol


def _read(image: ElfImage) -> SymbolTable:
    found = _section(image, ".gopclntab")
    if found is None:
        raise BinaryError(image.path, "no .gopclntab section: not a Go binary?")
    addr, data = found
    bare = SymbolTable(text=0, pclntab=data)
    funcnametab = Pclntab(bare).funcnametab
    text, gofunc = _text_and_gofunc(image, addr, funcnametab, image.go_version())
    table = SymbolTable(text=text, pclntab=data)
    for candidate in _gofunc_candidates(image, gofunc):
        with_trees = _with_funcdata(table, addr, image, candidate)
        if with_trees is not table:
            return with_trees
    log.warning("%s: go:func.* not found: inlined frames are not expanded", image.path)
    return table


def build_symbols(binary: str | ElfImage) -> SymbolTable:
    """The symbolication table of a Go binary (a path or an opened ``ElfImage``).

    Raises ``BinaryError`` when the binary has no usable ``.gopclntab`` (absent,
    older than Go 1.18, corrupt header).
    """
    if isinstance(binary, ElfImage):
        return _checked(binary)
    with open_elf(binary) as image:
        return _checked(image)


def _checked(image: ElfImage) -> SymbolTable:
    try:
        return _read(image)
    except PclntabError as e:
        raise BinaryError(image.path, f".gopclntab: {e}") from e
    except (struct.error, IndexError) as e:
        raise BinaryError(image.path, f".gopclntab is corrupt: {e}") from e
