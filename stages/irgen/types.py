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
from ..rtypes import func_spelling
from . import descriptors as desc
from .descriptors import Descriptor, Descriptors
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


_COMPOSITE = (
    desc.KIND_POINTER,
    desc.KIND_SLICE,
    desc.KIND_ARRAY,
    desc.KIND_STRUCT,
    desc.KIND_MAP,
    desc.KIND_CHAN,
)


def _go_quote(text: str) -> str:
    """``strconv.Quote`` of a struct tag, for ASCII text."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else ch)
    return "".join(out) + '"'


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

    def from_descriptor(
        self, address: int, descriptors: Descriptors, described: dict[int, int]
    ) -> int | None:
        """The id of the type whose runtime descriptor is at ``address``: its DWARF
        entry's if it has one (``described``), else a type made from the descriptor
        (and from those of its elements, fields...), whose ``runtime_type`` is
        ``address``. None if ``address`` is not a descriptor the binary holds."""
        offset = described.get(address)
        if offset is not None:
            return self.require(offset)
        type_id = SYNTHETIC_BASE + (2 << 32) + address
        if type_id in self._types:
            return type_id
        d = descriptors.get(address)
        if d is None:
            return None
        common: _Common = {
            "id": type_id,
            "name": self._descriptor_name(address, descriptors, described, 0),
            "size": d.size,
            "align": d.align,
            "runtime_type": address,
        }
        # Reserved before the parts are made, so that a type reached again through
        # its parts (a named struct holding a pointer to itself) is this one.
        self._types[type_id] = UnsupportedType(**common, reason="being made")
        self._types[type_id] = self._from_descriptor(d, common, descriptors, described)
        return type_id

    def _from_descriptor(
        self, d: Descriptor, common: _Common, descriptors: Descriptors, described: dict[int, int]
    ) -> Type:
        def part(address: int) -> int | None:
            return self.from_descriptor(address, descriptors, described) if address else None

        kind = d.kind
        if kind in BASE_KINDS:
            return BaseType(**common, go_kind=BASE_KINDS[kind])
        if kind == desc.KIND_STRING:
            return StringType(**common)
        if kind == desc.KIND_UNSAFE_POINTER:
            return UnsafePointerType(**common)
        if kind == desc.KIND_FUNC:
            return FuncType(**common)
        if kind == desc.KIND_INTERFACE:
            return InterfaceType(**common, empty=d.empty_interface)
        if kind in (desc.KIND_POINTER, desc.KIND_SLICE, desc.KIND_ARRAY, desc.KIND_CHAN):
            elem = part(d.elem)
            if elem is None:
                return UnsupportedType(**common, reason="element descriptor unreadable")
            if kind == desc.KIND_POINTER:
                return PointerType(**common, elem=elem)
            if kind == desc.KIND_SLICE:
                return SliceType(**common, elem=elem)
            if kind == desc.KIND_ARRAY:
                return ArrayType(**common, elem=elem, count=d.count)
            return self._descriptor_chan(common, elem)
        if kind == desc.KIND_STRUCT:
            fields: list[Field] = []
            for f in d.fields:
                ftype = part(f.type)
                if ftype is None:
                    return UnsupportedType(**common, reason=f"field {f.name!r} unreadable")
                fields.append(Field(name=f.name, offset=f.offset, type=ftype, embedded=f.embedded))
            return StructType(**common, fields=fields)
        if kind == desc.KIND_MAP:
            return self._descriptor_map(d, common, descriptors, described)
        return UnsupportedType(**common, reason=f"runtime descriptor of kind {kind}")

    def _descriptor_map(
        self, d: Descriptor, common: _Common, descriptors: Descriptors, described: dict[int, int]
    ) -> Type:
        """A map from its descriptor: key, value, and its bucket or group type."""
        common["size"] = common["align"] = POINTER_SIZE
        key = self.from_descriptor(d.key, descriptors, described)
        value = self.from_descriptor(d.elem, descriptors, described)
        storage = self.from_descriptor(d.storage, descriptors, described)
        kd, vd, sd = descriptors.get(d.key), descriptors.get(d.elem), descriptors.get(d.storage)
        if None in (key, value, storage, kd, vd, sd):
            return UnsupportedType(**common, reason="map descriptor's parts unreadable")
        assert key is not None and value is not None and storage is not None
        assert kd is not None and vd is not None and sd is not None
        slots: dict[str, tuple[int, int]] = {}
        for f in sd.fields:
            fd = descriptors.get(f.type)
            slots[f.name] = (f.offset, fd.size if fd is not None else 0)
            if f.name == "slots" and fd is not None:  # [8]struct{key K; elem V}
                one = descriptors.get(fd.elem)
                for g in one.fields if one is not None else []:
                    gd = descriptors.get(g.type)
                    slots[g.name] = (g.offset, gd.size if gd is not None else 0)
            if f.name == "topbits" and fd is not None:
                slots[f.name] = (f.offset, fd.count)
        try:
            layout: MapLayout | None = self._layouts.descriptor_map_layout(
                kd.size, vd.size, slots, (storage, sd.size)
            )
            why = None
        except LayoutUnavailable as e:
            layout, why = None, str(e)
        header = layout.header if layout is not None else None
        return MapType(
            **common,
            key=key,
            value=value,
            header=header,
            layout=layout,
            layout_unavailable=why,
        )

    def _descriptor_chan(self, common: _Common, elem: int) -> Type:
        hchan = self._layouts.runtime_struct("runtime.hchan")
        layout: ChanLayout | None = None
        why: str | None = _NO_HEADER
        header_id = None
        if hchan is not None:
            header_id = self.require(hchan.offset)
            try:
                layout, why = self._layouts.chan_layout(hchan.offset), None
            except LayoutUnavailable as e:
                why = str(e)
        return ChanType(
            **common, elem=elem, header=header_id, layout=layout, layout_unavailable=why
        )

    def _descriptor_name(
        self, address: int, descriptors: Descriptors, described: dict[int, int], depth: int
    ) -> str:
        """Go's name of the type at ``address``, with full package paths as DWARF
        spells them (the descriptor's own string has package names)."""
        offset = described.get(address)
        if offset is not None:
            return unescape_path(self._reader.entry_at(offset).name or "")
        d = descriptors.get(address)
        if d is None or depth > _MAX_CHAIN:
            return "?"
        if d.kind == desc.KIND_FUNC and not d.named:
            return self._func_name(d, descriptors, described, depth)
        if d.named or d.kind not in _COMPOSITE:
            return d.name

        def sub(a: int) -> str:
            return self._descriptor_name(a, descriptors, described, depth + 1)

        if d.kind == desc.KIND_POINTER:
            return "*" + sub(d.elem)
        if d.kind == desc.KIND_SLICE:
            return "[]" + sub(d.elem)
        if d.kind == desc.KIND_ARRAY:
            return f"[{d.count}]" + sub(d.elem)
        if d.kind == desc.KIND_MAP:
            return f"map[{sub(d.key)}]{sub(d.elem)}"
        if d.kind == desc.KIND_CHAN:
            elem = sub(d.elem)
            if d.chan_dir == 1:
                return "<-chan " + elem
            if d.chan_dir == 2:
                return "chan<- " + elem
            return "chan (" + elem + ")" if elem.startswith("<-chan ") else "chan " + elem
        parts = []
        for f in d.fields:
            text = sub(f.type)
            if not f.embedded:
                exported = f.name[:1].isupper() or f.name == "_"
                text = f"{f.name if exported or not d.pkg else d.pkg + '.' + f.name} {text}"
            if f.tag:
                text += " " + _go_quote(f.tag)
            parts.append(text)
        return "struct { " + "; ".join(parts) + " }" if parts else "struct {}"

    def _func_name(
        self, d: Descriptor, descriptors: Descriptors, described: dict[int, int], depth: int
    ) -> str:
        """``func(a, ...b) (c, d)`` as the linker spells func types."""
        names = [self._descriptor_name(p, descriptors, described, depth + 1) for p in d.params]
        return func_spelling(d, names)

    def build_one(self, type_id: int) -> Type:
        """The type ``type_id`` (made by ``from_descriptor`` or converted now)."""
        t = self._types.get(type_id)
        return t if t is not None else self.get(type_id)

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
            common["runtime_type"] = self._descriptors.address(descriptor, entry.integer("go_kind"))
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
