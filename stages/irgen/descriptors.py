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
from dataclasses import dataclass, field

from .dwarf import DwarfReader, member_offset
from .elf import ElfImage
from .runtime_types import DescriptorRange

log = logging.getLogger(__name__)

TYPE_SIZE = 48  # abi.Type
_SIZE, _TFLAG, _KIND, _STR, _PTR_TO_THIS = 0, 20, 23, 40, 44
_ELEM = 48  # PtrType, SliceType, ChanType, ArrayType .Elem; MapType .Key
_ARRAY_LEN = 64
_MAP_ELEM = 56
_MAP_STORAGE = 64  # MapType.Bucket (Go <= 1.23), .Group (swiss tables)
_FIELDS = 56  # StructType.Fields, InterfaceType.Methods (after a Name)
_FUNC_COUNTS = 48  # FuncType.InCount, .OutCount
FIELD_SIZE = 24  # abi.StructField: Name, Typ, Offset
_UNCOMMON_SIZE = 16
_METHOD_SIZE = 16
_IMETHOD_SIZE = 8
_KIND_MASK = 31
TFLAG_UNCOMMON = 1
TFLAG_EXTRA_STAR = 2
TFLAG_NAMED = 4
_NAME_TAG = 2
_NAME_EMBEDDED = 8
_MAX_DESCRIPTORS = 1 << 20

KIND_ARRAY, KIND_CHAN, KIND_FUNC, KIND_INTERFACE, KIND_MAP = 17, 18, 19, 20, 21
KIND_POINTER, KIND_SLICE, KIND_STRING, KIND_STRUCT, KIND_UNSAFE_POINTER = 22, 23, 24, 25, 26

# Size of each kind's descriptor struct (where its UncommonType follows).
_KIND_SIZES = {
    KIND_ARRAY: 72,
    KIND_CHAN: 64,
    KIND_FUNC: 56,
    KIND_INTERFACE: 80,
    KIND_POINTER: 56,
    KIND_SLICE: 56,
    KIND_STRUCT: 80,
}


@dataclass
class FieldDesc:
    name: str
    type: int  # descriptor address
    offset: int
    embedded: bool
    tag: str


@dataclass
class Descriptor:
    """What irgen needs of one descriptor; addresses of the ones it refers to."""

    address: int
    kind: int
    size: int
    align: int
    named: bool
    name: str  # as Go spells it, with full package paths where known
    ptr_to_this: int = 0
    elem: int = 0  # pointer, slice, array, chan element; map value
    key: int = 0
    storage: int = 0  # a map's bucket or group type
    count: int = 0  # array length
    fields: list[FieldDesc] = field(default_factory=list)
    pkg: str = ""  # a struct's package path (of its unexported fields)
    params: list[int] = field(default_factory=list)  # a func's, then its results
    results: int = 0
    variadic: bool = False
    chan_dir: int = 3  # a channel's: 1 receive, 2 send, 3 both
    empty_interface: bool = False


class Descriptors:
    """Reads descriptors in ``[types, etypes)`` of the binary (read once)."""

    def __init__(self, image: ElfImage, reader: DwarfReader, descriptors: DescriptorRange) -> None:
        self._image = image
        self._reader = reader
        self.base = descriptors.base
        end = descriptors.end if descriptors.end is not None else descriptors.base
        self.end = end
        self._data = image.read(self.base, end - self.base) if end > self.base else b""
        self._cache: dict[int, Descriptor | None] = {}
        self._map_size = _struct_size(reader, "internal/abi.MapType") or _struct_size(
            reader, "internal/abi.SwissMapType"
        )

    def holds(self, address: int) -> bool:
        return self.base <= address and address + TYPE_SIZE <= self.base + len(self._data)

    def _u(self, fmt: str, address: int) -> int:
        at = address - self.base
        if at < 0 or at + struct.calcsize(fmt) > len(self._data):
            raise _Bad(address)
        return int(struct.unpack_from(fmt, self._data, at)[0])

    def _mem(self, fmt: str, address: int) -> int:
        """A word anywhere in the binary (a field's name lives outside the types)."""
        if self.base <= address < self.base + len(self._data):
            return self._u(fmt, address)
        raw = self._image.read(address, struct.calcsize(fmt))
        if len(raw) != struct.calcsize(fmt):
            raise _Bad(address)
        return int(struct.unpack(fmt, raw)[0])

    def get(self, address: int) -> Descriptor | None:
        """The descriptor at ``address``; None if it is not one the binary holds."""
        if address in self._cache:
            return self._cache[address]
        self._cache[address] = None  # a cycle reads the partial one as None
        try:
            d = self._read(address)
        except _Bad as e:
            log.debug("descriptor %#x unreadable at %#x", address, e.args[0])
            d = None
        self._cache[address] = d
        return d

    def _read(self, a: int) -> Descriptor | None:
        if not self.holds(a):
            return None
        kind = self._u("<B", a + _KIND) & _KIND_MASK
        tflag = self._u("<B", a + _TFLAG)
        size = self._u("<Q", a + _SIZE)
        align = self._u("<B", a + 21) or 1
        name = self._name(self.base + self._u("<i", a + _STR))
        if tflag & TFLAG_EXTRA_STAR and name.startswith("*"):
            name = name[1:]
        named = bool(tflag & TFLAG_NAMED)
        if named and tflag & TFLAG_UNCOMMON:
            pkg = self._uncommon_pkg(a, kind)
            # A package name has no dot (its path may); go.shape's types are
            # named with their path already.
            if pkg and "." in name and not name.startswith(pkg + "."):
                name = pkg + name[name.index(".") :]
        ptt = self._u("<i", a + _PTR_TO_THIS)
        d = Descriptor(
            address=a,
            kind=kind,
            size=size,
            align=align,
            named=named,
            name=name,
            ptr_to_this=self.base + ptt if ptt > 0 else 0,
        )
        if kind in (KIND_POINTER, KIND_SLICE, KIND_CHAN, KIND_ARRAY):
            d.elem = self._u("<Q", a + _ELEM)
        if kind == KIND_CHAN:
            d.chan_dir = self._u("<Q", a + _ELEM + 8)
        if kind == KIND_ARRAY:
            d.count = self._u("<Q", a + _ARRAY_LEN)
        elif kind == KIND_MAP:
            d.key, d.elem = self._u("<Q", a + _ELEM), self._u("<Q", a + _MAP_ELEM)
            d.storage = self._u("<Q", a + _MAP_STORAGE)
        elif kind == KIND_STRUCT:
            pkg_name = self._u("<Q", a + _ELEM)
            d.pkg = self._name(pkg_name) if pkg_name else ""
            at, n = self._u("<Q", a + _FIELDS), self._u("<Q", a + _FIELDS + 8)
            for i in range(min(n, 4096)):
                f = at + i * FIELD_SIZE
                fname, tag, embedded = self._field_name(self._mem("<Q", f))
                d.fields.append(
                    FieldDesc(
                        name=fname,
                        type=self._mem("<Q", f + 8),
                        offset=self._mem("<Q", f + 16),
                        embedded=embedded,
                        tag=tag,
                    )
                )
        elif kind == KIND_INTERFACE:
            d.empty_interface = self._u("<Q", a + _FIELDS + 8) == 0
        elif kind == KIND_FUNC:
            ins = self._u("<H", a + _FUNC_COUNTS)
            outs = self._u("<H", a + _FUNC_COUNTS + 2)
            d.variadic = bool(outs & 0x8000)
            d.results = outs & 0x7FFF
            at = a + _KIND_SIZES[KIND_FUNC] + (_UNCOMMON_SIZE if tflag & TFLAG_UNCOMMON else 0)
            d.params = [self._u("<Q", at + 8 * i) for i in range(min(ins + d.results, 512))]
        return d

    def _uncommon_pkg(self, a: int, kind: int) -> str:
        size = self._map_size if kind == KIND_MAP else _KIND_SIZES.get(kind, TYPE_SIZE)
        if not size:
            return ""
        off = self._u("<i", a + size)
        return self._name(self.base + off) if off else ""

    def _name_parts(self, address: int) -> tuple[int, str, str]:
        flags = self._mem("<B", address)
        n, at = self._varint(address + 1)
        text = self._bytes(at, n)
        tag = ""
        if flags & _NAME_TAG:
            m, tat = self._varint(at + n)
            tag = self._bytes(tat, m)
        return flags, text, tag

    def _name(self, address: int) -> str:
        return self._name_parts(address)[1]

    def _field_name(self, address: int) -> tuple[str, str, bool]:
        flags, text, tag = self._name_parts(address)
        return text, tag, bool(flags & _NAME_EMBEDDED)

    def _varint(self, address: int) -> tuple[int, int]:
        value = shift = 0
        for i in range(10):
            b = self._mem("<B", address + i)
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value, address + i + 1
        raise _Bad(address)

    def _bytes(self, address: int, n: int) -> str:
        at = address - self.base
        if at >= 0 and at + n <= len(self._data):
            raw = self._data[at : at + n]
        else:
            raw = self._image.read(address, n)
        if len(raw) != n:
            raise _Bad(address)
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
                kind = self._u("<B", at + _KIND) & _KIND_MASK
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
                    add = FIELD_SIZE * self._u("<Q", at + _FIELDS + 8)
                elif kind == KIND_INTERFACE:
                    add = _IMETHOD_SIZE * self._u("<Q", at + _FIELDS + 8)
                size = base
                if tflag & TFLAG_UNCOMMON:
                    mcount = self._u("<H", at + base + 4)
                    size += _UNCOMMON_SIZE + _METHOD_SIZE * mcount
                out.append(at)
                at += size + add
        except _Bad:
            log.debug("descriptor walk ran out of the types at %#x", at)
        return out


class _Bad(Exception):
    """A read outside what the binary holds."""


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
