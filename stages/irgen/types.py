"""DWARF type entries -> IR types, materialised on demand.

``TypeTable.require(offset)`` records that a type is needed and returns its id (the
DIE offset); ``TypeTable.build()`` then converts every required type and everything
they reference (elements, fields, typedef targets, map and channel headers and
the runtime structs of their layouts, see ``runtime_layouts``), so the IR holds
exactly the types reachable from the kept functions.
"""

from __future__ import annotations

import re
from typing import TypedDict

import msgspec

from ..ir import (
    ArrayType,
    BaseType,
    ChanLayout,
    ChanType,
    Field,
    FuncType,
    GoBaseKind,
    InterfaceType,
    MapLayout,
    MapType,
    PointerType,
    SliceType,
    StringType,
    StructType,
    Type,
    TypedefType,
    UnsafePointerType,
    UnsupportedType,
)
from .dwarf import DwarfReader, Entry, member_offset
from .runtime_layouts import LayoutUnavailable, RuntimeLayouts
from .runtime_types import DescriptorRange

POINTER_SIZE = 8
SYNTHETIC_BASE = 1 << 40
"""Ids of the types irgen makes up (DIE offsets, the other ids, are far below)."""
_MAX_CHAIN = 64
_NO_HEADER = "the DWARF describes no runtime header type for it"

# reflect.Kind numbering, as in DW_AT_go_kind.
KIND_BOOL = 1
KIND_COMPLEX64 = 15
KIND_COMPLEX128 = 16
KIND_ARRAY = 17
KIND_CHAN = 18
KIND_FUNC = 19
KIND_INTERFACE = 20
KIND_MAP = 21
KIND_POINTER = 22
KIND_SLICE = 23
KIND_STRING = 24
KIND_STRUCT = 25
KIND_UNSAFE_POINTER = 26

BASE_KINDS: dict[int, GoBaseKind] = {
    1: "bool",
    2: "int",
    3: "int8",
    4: "int16",
    5: "int32",
    6: "int64",
    7: "uint",
    8: "uint8",
    9: "uint16",
    10: "uint32",
    11: "uint64",
    12: "uintptr",
    13: "float32",
    14: "float64",
    15: "complex64",
    16: "complex128",
}

# DW_ATE_* encodings, for a base type without DW_AT_go_kind.
_ENCODINGS: dict[tuple[int, int], GoBaseKind] = {
    (0x02, 1): "bool",
    (0x05, 1): "int8",
    (0x05, 2): "int16",
    (0x05, 4): "int32",
    (0x05, 8): "int64",
    (0x07, 1): "uint8",
    (0x07, 2): "uint16",
    (0x07, 4): "uint32",
    (0x07, 8): "uint64",
    (0x04, 4): "float32",
    (0x04, 8): "float64",
    (0x03, 8): "complex64",
    (0x03, 16): "complex128",
}


class _Common(TypedDict):
    """The fields every IR type has."""

    id: int
    name: str
    size: int
    align: int
    runtime_type: int


_PATH_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")


def unescape_path(name: str) -> str:
    """A type name as Go spells it: the linker escapes a package path's characters
    (``objabi.PathToPrefix``: the dots of its last element, ``%``, controls...) as
    ``%xx``: ``example.com/lib%2ev2.V2Type`` is ``example.com/lib.v2.V2Type``."""
    if "%" not in name:
        return name
    return _PATH_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


class TypeTable:
    """The IR types of one program, converted lazily and cached by DIE offset."""

    def __init__(self, reader: DwarfReader, descriptors: DescriptorRange | None = None) -> None:
        self._reader = reader
        self._descriptors = descriptors
        self._types: dict[int, Type] = {}
        self._pending: list[int] = []
        self._queued: set[int] = set()
        self._sizes: dict[int, int] = {}
        self._aligns: dict[int, int] = {}
        self._layouts = RuntimeLayouts(reader, self)

    def require(self, offset: int) -> int:
        """Mark the type at ``offset`` as needed; returns its IR id."""
        if offset not in self._queued:
            self._queued.add(offset)
            self._pending.append(offset)
        return offset

    def get(self, offset: int) -> Type:
        """The IR type at ``offset``, converted now if need be (and so required)."""
        t = self._types.get(offset)
        if t is None:
            self.require(offset)
            t = self._types[offset] = self._convert(self._reader.entry_at(offset))
        return t

    def dictionary_pointer(self, words: int) -> int | None:
        """The id of a made-up ``*[words]uintptr``: the type Go 1.27 gives a shape
        function's ``.dict`` argument, for the Go versions whose DWARF has no such
        argument. None if the binary has no ``uintptr``."""
        uintptr = self._reader.find_named("uintptr", "DW_TAG_base_type", walk=False)
        if uintptr is None or words <= 0:
            return None
        array_id = SYNTHETIC_BASE + 2 * words
        pointer_id = array_id + 1
        if pointer_id not in self._types:
            elem = self.require(uintptr.offset)
            name = f"[{words}]uintptr"
            self._types[array_id] = ArrayType(
                id=array_id,
                name=name,
                size=POINTER_SIZE * words,
                align=POINTER_SIZE,
                elem=elem,
                count=words,
            )
            self._types[pointer_id] = PointerType(
                id=pointer_id,
                name="*" + name,
                size=POINTER_SIZE,
                align=POINTER_SIZE,
                elem=array_id,
            )
        return pointer_id

    def pointer_to(self, elem: int, descriptor: int) -> int:
        """The id of a made-up ``*T`` for the type at DIE offset ``elem``, whose
        runtime descriptor is at ``descriptor``: the linker writes a DWARF entry for
        a pointer type only if some DWARF refers to it, while the descriptor exists
        as soon as the program makes such a pointer (say, to put it in an ``any``)."""
        pointer_id = SYNTHETIC_BASE + (1 << 32) + elem
        if pointer_id not in self._types:
            target = self.get(elem)
            self._types[pointer_id] = PointerType(
                id=pointer_id,
                name="*" + target.name,
                size=POINTER_SIZE,
                align=POINTER_SIZE,
                runtime_type=descriptor,
                elem=self.require(elem),
            )
        return pointer_id

    def describe(self, offset: int, descriptor: int) -> None:
        """Give the type at DIE offset ``offset`` the runtime descriptor at
        ``descriptor``, when DWARF gave it none (``undescribed_elements``)."""
        self.require(offset)
        self.build()
        t = self._types[offset]
        if not t.runtime_type:
            self._types[offset] = msgspec.structs.replace(t, runtime_type=descriptor)

    def build(self) -> list[Type]:
        """Convert every required type and its references; sorted by id."""
        while self._pending:
            offset = self._pending.pop()
            if offset not in self._types:
                self._types[offset] = self._convert(self._reader.entry_at(offset))
        return [self._types[k] for k in sorted(self._types)]

    # ------------------------------------------------------------ conversion

    def _convert(self, entry: Entry) -> Type:
        common: _Common = {
            "id": entry.offset,
            "name": unescape_path(entry.name or ""),
            "size": self.size_of(entry),
            "align": self.align_of(entry),
            "runtime_type": 0,
        }
        descriptor = entry.integer("go_runtime_type")
        if descriptor and self._descriptors is not None:
            common["runtime_type"] = self._descriptors.address(descriptor)
        kind = entry.integer("go_kind")
        tag = entry.tag
        if tag == "DW_TAG_base_type":
            base = self._base_kind(entry)
            if base is None:
                return UnsupportedType(**common, reason=f"base type with go_kind {kind}")
            return BaseType(**common, go_kind=base)
        if tag == "DW_TAG_pointer_type":
            target = entry.ref("DW_AT_type")
            if kind == KIND_UNSAFE_POINTER or (target is None and entry.name == "unsafe.Pointer"):
                return UnsafePointerType(**common)
            return PointerType(**common, elem=self.require(target) if target is not None else None)
        if tag == "DW_TAG_structure_type":
            return self._struct(entry, kind, common)
        if tag == "DW_TAG_array_type":
            return self._array(entry, common)
        if tag == "DW_TAG_typedef":
            return self._typedef(entry, kind, common)
        if tag == "DW_TAG_subroutine_type":
            return FuncType(**common)
        return UnsupportedType(**common, reason=f"unsupported DWARF type entry {tag}")

    @staticmethod
    def _base_kind(entry: Entry) -> GoBaseKind | None:
        kind = entry.integer("go_kind")
        if kind is not None and kind in BASE_KINDS:
            return BASE_KINDS[kind]
        if kind:
            return None
        encoding, size = entry.integer("DW_AT_encoding"), entry.integer("DW_AT_byte_size")
        if encoding is None or size is None:
            return None
        return _ENCODINGS.get((encoding, size))

    def _struct(self, entry: Entry, kind: int | None, common: _Common) -> Type:
        if kind == KIND_STRING:
            return StringType(**common)
        if kind == KIND_SLICE:
            elem = entry.ref("go_elem")
            if elem is None:
                return UnsupportedType(**common, reason="slice without DW_AT_go_elem")
            return SliceType(**common, elem=self.require(elem))
        fields: list[Field] = []
        for member in self._reader.children(entry):
            if member.tag != "DW_TAG_member":
                continue
            target = member.ref("DW_AT_type")
            offset = member_offset(member)
            if target is None or offset is None:
                return UnsupportedType(
                    **common, reason=f"member {member.name!r} without a type or constant offset"
                )
            fields.append(
                Field(
                    name=member.name or "",
                    offset=offset,
                    type=self.require(target),
                    embedded=member.flag("go_embedded_field"),
                )
            )
        return StructType(**common, fields=fields)

    def _array(self, entry: Entry, common: _Common) -> Type:
        elem = entry.ref("DW_AT_type")
        count = None
        for child in self._reader.children(entry):
            if child.tag == "DW_TAG_subrange_type":
                count = child.integer("DW_AT_count")
                if count is None and (upper := child.integer("DW_AT_upper_bound")) is not None:
                    count = upper + 1
                break
        if elem is None or count is None:
            return UnsupportedType(**common, reason="array without element type or count")
        return ArrayType(**common, elem=self.require(elem), count=count)

    def _typedef(self, entry: Entry, kind: int | None, common: _Common) -> Type:
        target = entry.ref("DW_AT_type")
        if kind in (KIND_MAP, KIND_CHAN):
            common["size"] = POINTER_SIZE
            common["align"] = POINTER_SIZE
            header = self._pointee(target)
            header_id = self.require(header) if header is not None else None
            elem = entry.ref("go_elem")
            if kind == KIND_MAP:
                key = entry.ref("go_key")
                if key is None or elem is None:
                    return UnsupportedType(**common, reason="map without go_key/go_elem")
                map_layout: MapLayout | None = None
                why: str | None = _NO_HEADER
                if header is not None:
                    try:
                        map_layout, why = self._layouts.map_layout(header, key, elem), None
                    except LayoutUnavailable as e:
                        why = str(e)
                return MapType(
                    **common,
                    key=self.require(key),
                    value=self.require(elem),
                    header=header_id,
                    layout=map_layout,
                    layout_unavailable=why,
                )
            if elem is None:
                return UnsupportedType(**common, reason="chan without go_elem")
            chan_layout: ChanLayout | None = None
            why = _NO_HEADER
            if header is not None:
                try:
                    chan_layout, why = self._layouts.chan_layout(header), None
                except LayoutUnavailable as e:
                    why = str(e)
            return ChanType(
                **common,
                elem=self.require(elem),
                header=header_id,
                layout=chan_layout,
                layout_unavailable=why,
            )
        if kind == KIND_INTERFACE:
            name = entry.name or ""
            target_name = self._reader.entry_at(target).name if target is not None else None
            empty = name == "interface {}" or target_name == "runtime.eface"
            return InterfaceType(**common, empty=empty)
        if kind == KIND_FUNC:
            return FuncType(**common)
        if target is None:
            return UnsupportedType(**common, reason="typedef without a target type")
        return TypedefType(
            **common, target=self.require(target), dict_index=entry.integer("go_dict_index")
        )

    def _pointee(self, offset: int | None) -> int | None:
        """What the pointer type at ``offset`` points at (the runtime header)."""
        if offset is None:
            return None
        entry = self._reader.entry_at(offset)
        if entry.tag != "DW_TAG_pointer_type":
            return None
        return entry.ref("DW_AT_type")

    # --------------------------------------------------------- size and align

    def size_of(self, entry: Entry) -> int:
        """Byte size of a type entry, following typedefs; 0 when unknown."""
        cached = self._sizes.get(entry.offset)
        if cached is not None:
            return cached
        size = self._size(entry, 0)
        self._sizes[entry.offset] = size
        return size

    def _size(self, entry: Entry, depth: int) -> int:
        byte_size = entry.integer("DW_AT_byte_size")
        if byte_size is not None:
            return byte_size
        if depth > _MAX_CHAIN:
            return 0
        tag = entry.tag
        if tag in ("DW_TAG_pointer_type", "DW_TAG_subroutine_type"):
            return POINTER_SIZE
        if tag == "DW_TAG_typedef":
            if entry.integer("go_kind") in (KIND_MAP, KIND_CHAN):
                return POINTER_SIZE
            target = entry.ref("DW_AT_type")
            return self._size(self._reader.entry_at(target), depth + 1) if target is not None else 0
        return 0

    def align_of(self, entry: Entry) -> int:
        """Best-effort alignment: the largest scalar alignment inside, 1 if none."""
        cached = self._aligns.get(entry.offset)
        if cached is not None:
            return cached
        self._aligns[entry.offset] = 1  # breaks cycles through malformed DWARF
        align = self._align(entry)
        self._aligns[entry.offset] = align
        return align

    def _align(self, entry: Entry) -> int:
        tag, kind = entry.tag, entry.integer("go_kind")
        if tag == "DW_TAG_base_type":
            size = entry.integer("DW_AT_byte_size") or 1
            if kind in (KIND_COMPLEX64, KIND_COMPLEX128):
                size //= 2
            return max(1, min(size, POINTER_SIZE))
        if tag in ("DW_TAG_pointer_type", "DW_TAG_subroutine_type"):
            return POINTER_SIZE
        if tag == "DW_TAG_typedef" and kind in (KIND_MAP, KIND_CHAN, KIND_INTERFACE, KIND_FUNC):
            return POINTER_SIZE
        if tag in ("DW_TAG_typedef", "DW_TAG_array_type"):
            target = entry.ref("DW_AT_type")
            return self.align_of(self._reader.entry_at(target)) if target is not None else 1
        if tag == "DW_TAG_structure_type":
            align = 1
            for member in self._reader.children(entry):
                target = member.ref("DW_AT_type")
                if member.tag == "DW_TAG_member" and target is not None:
                    align = max(align, self.align_of(self._reader.entry_at(target)))
            return align
        return 1
