"""Runtime type descriptors read from the binary, for types DWARF does not describe.

The linker writes a DWARF entry for the types variables and other entries refer
to, while the compiler writes a descriptor (``abi.Type``, ``src/internal/abi/
type.go``) for every type a program converts to an interface or that reflect can
reach: a ``*T`` only ever made by ``reflect.New``, an anonymous struct put in an
``any``, a func type stored in a map of ``any``. An interface value holding one has
a type word pointing at a descriptor without a DWARF entry. ``Descriptors`` reads
such descriptors (their kind, size, name, and the descriptors of their elements,
fields, key and value) so that irgen can make IR types of them, and finds them:
up to Go 1.26 through ``moduledata.typelinks`` (every unnamed composite type of the
program, as offsets from ``moduledata.types``), from Go 1.27 by walking the
descriptors one after another over ``moduledata.typedesclen`` bytes (as
``runtime.moduleTypelinks`` does); named types are reached from those.

The layout of ``abi.Type`` and of the kind-specific structs around it has been
the same on amd64 from Go 1.21 to 1.27, except for the map type's (read from the
DWARF of ``internal/abi``, which every Go binary has).
"""

from __future__ import annotations

import logging
import struct

from ..rtypes import (
    _FUNC_COUNTS,
    _IMETHOD_SIZE,
    _KIND_MASK,
    _KIND_SIZES,
    _MAX_DESCRIPTORS,
    _METHOD_SIZE,
    _TFLAG,
    _UNCOMMON_SIZE,
    FIELD_SIZE,
    FIELDS,
    KIND,
    KIND_ARRAY,
    KIND_CHAN,
    KIND_FUNC,
    KIND_INTERFACE,
    KIND_MAP,
    KIND_POINTER,
    KIND_SLICE,
    KIND_STRING,
    KIND_STRUCT,
    KIND_UNSAFE_POINTER,
    TFLAG_UNCOMMON,
    TYPE_SIZE,
    Bad,
    Descriptor,
    DescriptorParser,
    FieldDesc,
)
from .dwarf import DwarfReader, member_offset
from .elf import ElfImage
from .runtime_types import DescriptorRange

log = logging.getLogger(__name__)

__all__ = [
    "KIND_ARRAY",
    "KIND_CHAN",
    "KIND_FUNC",
    "KIND_INTERFACE",
    "KIND_MAP",
    "KIND_POINTER",
    "KIND_SLICE",
    "KIND_STRING",
    "KIND_STRUCT",
    "KIND_UNSAFE_POINTER",
    "Descriptor",
    "Descriptors",
    "FieldDesc",
]


class Descriptors(DescriptorParser):
    """Reads descriptors in ``[types, etypes)`` of the binary (read once)."""

    def __init__(self, image: ElfImage, reader: DwarfReader, descriptors: DescriptorRange) -> None:
        super().__init__()
        self._image = image
        self._reader = reader
        self.base = descriptors.base
        end = descriptors.end if descriptors.end is not None else descriptors.base
        self.end = end
        self._data = image.read(self.base, end - self.base) if end > self.base else b""
        self._map_size = _struct_size(reader, "internal/abi.MapType") or _struct_size(
            reader, "internal/abi.SwissMapType"
        )

    def holds(self, address: int) -> bool:
        return self.base <= address and address + TYPE_SIZE <= self.base + len(self._data)

    def _u(self, fmt: str, address: int) -> int:
        at = address - self.base
        if at < 0 or at + struct.calcsize(fmt) > len(self._data):
            raise Bad(address)
        return int(struct.unpack_from(fmt, self._data, at)[0])

    def _mem(self, fmt: str, address: int) -> int:
        """A word anywhere in the binary (a field's name lives outside the types)."""
        if self.base <= address < self.base + len(self._data):
            return self._u(fmt, address)
        raw = self._image.read(address, struct.calcsize(fmt))
        if len(raw) != struct.calcsize(fmt):
            raise Bad(address)
        return int(struct.unpack(fmt, raw)[0])

    def _bytes(self, address: int, n: int) -> str:
        at = address - self.base
        if at >= 0 and at + n <= len(self._data):
            raw = self._data[at : at + n]
        else:
            raw = self._image.read(address, n)
        if len(raw) != n:
            raise Bad(address)
        return raw.decode("utf-8", "replace")

    # ------------------------------------------------------------ enumeration

    def all_addresses(self) -> list[int]:
        """Every descriptor the linker lists: the typelinks up to Go 1.26, every
        descriptor from Go 1.27. Empty when they cannot be found."""
        md = self._image.symbol("runtime.firstmoduledata")
        if md is None:
            return []
        fields = _members(self._reader, "runtime.moduledata", "typelinks")
        if fields is not None:
            ptr = self._mem("<Q", md + fields["typelinks"])
            n = self._mem("<Q", md + fields["typelinks"] + 8)
            raw = self._image.read(ptr, 4 * n)
            offsets = struct.unpack(f"<{len(raw) // 4}i", raw)
            return [self.base + o for o in offsets]
        fields = _members(self._reader, "runtime.moduledata", "typedesclen")
        if fields is None:
            return []
        length = self._mem("<Q", md + fields["typedesclen"])
        return self._walk(self.base + 8, self.base + length)

    def _walk(self, at: int, end: int) -> list[int]:
        """Go 1.27: descriptors one after another (``abi.Type.DescriptorSize``)."""
        out: list[int] = []
        try:
            while at < end and len(out) < _MAX_DESCRIPTORS:
                at = (at + 7) & ~7
                kind = self._u("<B", at + KIND) & _KIND_MASK
                tflag = self._u("<B", at + _TFLAG)
                base = self._map_size if kind == KIND_MAP else _KIND_SIZES.get(kind, TYPE_SIZE)
                if not base or kind == 0 or kind > KIND_UNSAFE_POINTER:
                    log.debug("descriptor walk stopped at %#x (kind %d)", at, kind)
                    break
                add = 0
                if kind == KIND_FUNC:
                    ins = self._u("<H", at + _FUNC_COUNTS)
                    outs = self._u("<H", at + _FUNC_COUNTS + 2) & 0x7FFF
                    add = 8 * (ins + outs)
                elif kind == KIND_STRUCT:
                    add = FIELD_SIZE * self._u("<Q", at + FIELDS + 8)
                elif kind == KIND_INTERFACE:
                    add = _IMETHOD_SIZE * self._u("<Q", at + FIELDS + 8)
                size = base
                if tflag & TFLAG_UNCOMMON:
                    mcount = self._u("<H", at + base + 4)
                    size += _UNCOMMON_SIZE + _METHOD_SIZE * mcount
                out.append(at)
                at += size + add
        except Bad:
            log.debug("descriptor walk ran out of the types at %#x", at)
        return out


def _struct_size(reader: DwarfReader, name: str) -> int | None:
    entry = reader.find_named(name, "DW_TAG_structure_type", walk=False)
    return entry.integer("DW_AT_byte_size") if entry is not None else None


def _members(reader: DwarfReader, struct_name: str, *names: str) -> dict[str, int] | None:
    entry = reader.find_named(struct_name, "DW_TAG_structure_type", walk=False)
    if entry is None:
        return None
    found: dict[str, int] = {}
    for member in reader.children(entry):
        offset = member_offset(member)
        if member.tag == "DW_TAG_member" and member.name in names and offset is not None:
            found[member.name] = offset
    return found if len(found) == len(names) else None
