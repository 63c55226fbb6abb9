"""Runtime type descriptors: where they are, and which DWARF types have one.

An interface value's type word points at a runtime type descriptor (``abi.Type``
in ``src/internal/abi/type.go``); a generic shape function's dictionary holds
such pointers too. The linker records, on each type DIE that has a descriptor,
the descriptor's offset from the start of the descriptors (``runtime.types``,
which is ``moduledata.types``) in ``DW_AT_go_runtime_type``. irgen turns those
offsets into addresses, so that a type word seen at run time names an IR type.

The dynamic types a non-empty interface can hold are the ones the linker wrote an
itab for (``abi.ITab``: the interface's descriptor, the concrete type's, then the
method table): in the ``.itablink`` section (pointers to the itabs) up to Go 1.26,
from Go 1.27 one after another at ``moduledata.types + itaboffset`` for
``itabsize`` bytes. ``itab_pairs`` reads them, so that a scoped IR can hold the
types its interfaces may hold without holding every type of the binary.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Iterator

from .dwarf import DwarfReader, Entry, member_offset
from .elf import ElfImage

log = logging.getLogger(__name__)

_KIND_OFFSET = 23  # abi.Type.Kind_
_KIND_MASK = 31


class DescriptorRange:
    """Where the runtime type descriptors are: ``[base, end)``; ``end`` None if unknown.
    ``image``, when given, lets ``address`` check a descriptor's kind."""

    def __init__(self, base: int, end: int | None, image: ElfImage | None = None) -> None:
        self.base = base
        self.end = end
        self._image = image

    def address(self, value: int, kind: int | None = None) -> int:
        """The descriptor address a ``DW_AT_go_runtime_type`` value means.

        An offset from ``base``; but Go 1.21 and 1.22 write uintptr's as an
        absolute address (``DW_CLS_ADDRESS`` in their linker): a value that only
        makes sense as one, or, when it makes sense both ways (a binary whose
        descriptors span more than their start address: 5.8 MB from 0x54b000),
        the one whose descriptor has the entry's ``kind`` (``DW_AT_go_kind``).
        """
        if self.end is None or not self.base <= value < self.end:
            return self.base + value
        if self.base + value >= self.end:
            return value
        if kind is not None and self._kind(value) == kind and self._kind(self.base + value) != kind:
            return value
        return self.base + value

    def _kind(self, address: int) -> int | None:
        raw = self._image.read(address + _KIND_OFFSET, 1) if self._image is not None else b""
        return raw[0] & _KIND_MASK if raw else None


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
    return DescriptorRange(base, end, image) if base is not None else None


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


def described_addresses(
    reader: DwarfReader, descriptors: DescriptorRange, offsets: Iterable[int] | None = None
) -> dict[int, int]:
    """Descriptor address -> DIE offset of every type that has a descriptor
    (``offsets``: ``described_types``, if already listed)."""
    out: dict[int, int] = {}
    for offset in described_types(reader) if offsets is None else offsets:
        entry = reader.entry_at(offset)
        value = entry.integer("go_runtime_type")
        if value:
            out.setdefault(descriptors.address(value, entry.integer("go_kind")), offset)
    return out


def itab_pairs(image: ElfImage, reader: DwarfReader) -> list[tuple[int, int]]:
    """(interface descriptor, concrete type descriptor) of every itab the linker
    wrote; empty when they cannot be found."""
    itablink = image.elffile.get_section_by_name(".itablink")
    if itablink is not None:  # Go <= 1.26: pointers to the itabs
        data = itablink.data()
        pointers = struct.unpack_from(f"<{len(data) // 8}Q", data)
        return [_itab_head(image, p) for p in pointers if p] if pointers else []
    return list(_packed_itabs(image, reader))


def _itab_head(image: ElfImage, address: int) -> tuple[int, int]:
    head = image.read(address, 16)
    return struct.unpack("<QQ", head) if len(head) == 16 else (0, 0)


def _packed_itabs(image: ElfImage, reader: DwarfReader) -> Iterator[tuple[int, int]]:
    """Go 1.27: the itabs one after another, each 3 words and one per method."""
    md = image.symbol("runtime.firstmoduledata")
    fields = _members(reader, "runtime.moduledata", "types", "itaboffset", "itabsize")
    methods = _members(reader, "internal/abi.InterfaceType", "Methods")
    if md is None or fields is None or methods is None:
        log.debug("%s: no itabs found (no moduledata or its layout)", image.path)
        return
    words = [image.read(md + fields[name], 8) for name in ("types", "itaboffset", "itabsize")]
    if any(len(w) != 8 for w in words):
        return
    types, offset, size = (int.from_bytes(w, "little") for w in words)
    at, end = types + offset, types + offset + size
    while at < end:
        inter, concrete = _itab_head(image, at)
        count = image.read(inter + methods["Methods"] + 8, 8) if inter else b""
        if not inter or len(count) != 8:
            return
        n = int.from_bytes(count, "little")
        yield inter, concrete
        at += 24 + 8 * max(n, 1)


def _members(reader: DwarfReader, struct_name: str, *names: str) -> dict[str, int] | None:
    """Offsets of members ``names`` of the struct type ``struct_name``; None if any
    is missing."""
    entry: Entry | None = reader.find_named(struct_name, "DW_TAG_structure_type")
    if entry is None:
        return None
    found: dict[str, int] = {}
    for member in reader.children(entry):
        offset = member_offset(member)
        if member.tag == "DW_TAG_member" and member.name in names and offset is not None:
            found[member.name] = offset
    return found if len(found) == len(names) else None


def unnamed_pointers(
    image: ElfImage, reader: DwarfReader, descriptors: DescriptorRange, described: dict[int, int]
) -> dict[int, int]:
    """Descriptor address -> DIE offset of T, for each ``*T`` that has a descriptor
    (``abi.Type.PtrToThis`` of T's) but no DWARF entry of its own."""
    fields = _members(reader, "internal/abi.Type", "PtrToThis")
    if fields is None:
        return {}
    at = fields["PtrToThis"]
    out: dict[int, int] = {}
    for address, offset in described.items():
        raw = image.read(address + at, 4)
        if len(raw) != 4:
            continue
        (ptr,) = struct.unpack("<i", raw)
        if ptr > 0 and descriptors.base + ptr not in described:
            out[descriptors.base + ptr] = offset
    return out


def undescribed_elements(
    image: ElfImage, reader: DwarfReader, descriptors: DescriptorRange, described: dict[int, int]
) -> dict[int, int]:
    """Descriptor address -> DIE offset of each T whose DWARF entry has no
    ``DW_AT_go_runtime_type`` while ``*T`` has one: the pointer's descriptor
    (``abi.PtrType.Elem``) names T's. Go 1.21 and 1.22 write none for
    ``unsafe.Pointer``, so that one in an ``any`` had no known type."""
    fields = _members(reader, "internal/abi.PtrType", "Elem")
    if fields is None:
        return {}
    at = fields["Elem"]
    out: dict[int, int] = {}
    for address, offset in described.items():
        entry = reader.entry_at(offset)
        if entry.tag != "DW_TAG_pointer_type":
            continue
        target = entry.ref("DW_AT_type")
        if target is None or reader.entry_at(target).attrs.get("go_runtime_type"):
            continue
        raw = image.read(address + at, 8)
        if len(raw) != 8:
            continue
        (elem,) = struct.unpack("<Q", raw)
        if elem and elem not in described and elem not in out:
            out[elem] = target
    return out
