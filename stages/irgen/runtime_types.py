"""Runtime type descriptors: where they are, and which DWARF types have one.

An interface value's type word points at a runtime type descriptor (``abi.Type``
in ``src/internal/abi/type.go``); a generic shape function's dictionary holds
such pointers too. The linker records, on each type DIE that has a descriptor,
the descriptor's offset from the start of the descriptors (``runtime.types``,
which is ``moduledata.types``) in ``DW_AT_go_runtime_type``. irgen turns those
offsets into addresses, so that a type word seen at run time names an IR type.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from .dwarf import DwarfReader
from .elf import ElfImage

log = logging.getLogger(__name__)


class DescriptorRange:
    """Where the runtime type descriptors are: ``[base, end)``; ``end`` None if unknown."""

    def __init__(self, base: int, end: int | None) -> None:
        self.base = base
        self.end = end

    def address(self, value: int) -> int:
        """The descriptor address a ``DW_AT_go_runtime_type`` value means.

        An offset from ``base``; but Go 1.21 and 1.22 write uintptr's as an
        absolute address (``DW_CLS_ADDRESS`` in their linker), recognised as a
        value that only makes sense as one.
        """
        if self.end is not None and self.base + value >= self.end and self.base <= value < self.end:
            return value
        return self.base + value


def descriptor_range(image: ElfImage) -> DescriptorRange | None:
    """Where ``DW_AT_go_runtime_type`` offsets are relative to, if known.

    The ``runtime.types`` symbol (``moduledata.types``) up to ``runtime.etypes``;
    without a symbol table, the start of the section the linker puts the
    descriptors at the start of (``.go.type`` from Go 1.27, ``.rodata`` before).
    """
    base = image.symbol("runtime.types")
    end = image.symbol("runtime.etypes")
    if base is None:
        base = image.section_address(".go.type") or image.section_address(".rodata")
        log.debug("%s: no runtime.types symbol, assuming descriptors at %s", image.path, base)
    return DescriptorRange(base, end) if base is not None else None


def described_types(reader: DwarfReader) -> Iterator[int]:
    """The DIE offsets of every type that has a runtime type descriptor.

    The linker writes all type entries at the end of the runtime package's unit
    (``movetomodule`` in ``cmd/link/internal/ld/dwarf.go``), found through
    ``runtime.g``; only that unit's top-level entries are read.
    """
    anchor = reader.find_named("runtime.g", "DW_TAG_structure_type", walk=False)
    if anchor is None:
        log.debug("%s: no runtime.g type, so no runtime type descriptors", reader.path)
        return
    for entry in reader.top_entries(anchor.unit):
        if entry.attrs.get("go_runtime_type"):
            yield entry.offset
