"""Runtime type descriptors (``abi.Type``, ``src/internal/abi/type.go``) parsed
from bytes: the ones the binary holds (``irgen.descriptors``) and the ones a
program made at run time with reflect (SliceOf, StructOf, PointerTo of a type
without a ``*T`` in the binary, MapOf, ArrayOf, ChanOf, FuncOf), which live on
the heap and which the walker copies into events (``decode.heaptypes``). One
parser, over whatever reads the bytes: subclasses say where the bytes are.

``go_string`` spells a type as ``%T`` (reflect's ``String``) does for the types
reflect makes: ``[]T``, ``*T``, ``[N]T``, ``map[K]V``, ``chan T``,
``struct { A int; B string "tag" }``, ``func(A, ...B) (C, D)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

TYPE_SIZE = 48  # abi.Type
_SIZE, _TFLAG, KIND, _STR, _PTR_TO_THIS = 0, 20, 23, 40, 44
ELEM = 48  # PtrType, SliceType, ChanType, ArrayType .Elem; MapType .Key
ARRAY_LEN = 64
MAP_ELEM = 56
_MAP_STORAGE = 64  # MapType.Bucket (Go <= 1.23), .Group (swiss tables)
FIELDS = 56  # StructType.Fields, InterfaceType.Methods (after a Name)
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


class Bad(Exception):
    """A read outside what the reader holds."""


class DescriptorParser:
    """Parses descriptors; a subclass reads the bytes (``_u`` at a descriptor,
    ``_mem`` and ``_bytes`` anywhere) and says which addresses ``holds``."""

    base = 0
    _map_size: int | None = None

    def __init__(self) -> None:
        self._cache: dict[int, Descriptor | None] = {}

    def holds(self, address: int) -> bool:
        raise NotImplementedError

    def _u(self, fmt: str, address: int) -> int:
        raise NotImplementedError

    def _mem(self, fmt: str, address: int) -> int:
        raise NotImplementedError

    def _bytes(self, address: int, n: int) -> str:
        raise NotImplementedError

    def get(self, address: int) -> Descriptor | None:
        """The descriptor at ``address``; None if it is not one this reader holds."""
        if address in self._cache:
            return self._cache[address]
        self._cache[address] = None  # a cycle reads the partial one as None
        try:
            d = self._read(address)
        except Bad as e:
            log.debug("descriptor %#x unreadable at %#x", address, e.args[0])
            d = None
        self._cache[address] = d
        return d

    def _read(self, a: int) -> Descriptor | None:
        if not self.holds(a):
            return None
        kind = self._u("<B", a + KIND) & _KIND_MASK
        tflag = self._u("<B", a + _TFLAG)
        size = self._u("<Q", a + _SIZE)
        align = self._u("<B", a + 21) or 1
        name, named = self._type_name(a, kind, tflag)
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
            d.elem = self._u("<Q", a + ELEM)
        if kind == KIND_CHAN:
            d.chan_dir = self._u("<Q", a + ELEM + 8)
        if kind == KIND_ARRAY:
            d.count = self._u("<Q", a + ARRAY_LEN)
        elif kind == KIND_MAP:
            d.key, d.elem = self._u("<Q", a + ELEM), self._u("<Q", a + MAP_ELEM)
            d.storage = self._u("<Q", a + _MAP_STORAGE)
        elif kind == KIND_STRUCT:
            pkg_name = self._u("<Q", a + ELEM)
            d.pkg = self._pkg_name(pkg_name) if pkg_name else ""
            at, n = self._u("<Q", a + FIELDS), self._u("<Q", a + FIELDS + 8)
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
            d.empty_interface = self._u("<Q", a + FIELDS + 8) == 0
        elif kind == KIND_FUNC:
            ins = self._u("<H", a + _FUNC_COUNTS)
            outs = self._u("<H", a + _FUNC_COUNTS + 2)
            d.variadic = bool(outs & 0x8000)
            d.results = outs & 0x7FFF
            at = a + _KIND_SIZES[KIND_FUNC] + (_UNCOMMON_SIZE if tflag & TFLAG_UNCOMMON else 0)
            d.params = [self._u("<Q", at + 8 * i) for i in range(min(ins + d.results, 512))]
        return d

    def _type_name(self, a: int, kind: int, tflag: int) -> tuple[str, bool]:
        """The type's name (its ``Str``, an offset from ``base``) and whether it is
        a named type."""
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
        return name, named

    def _pkg_name(self, address: int) -> str:
        """A struct's package path (``StructType.PkgPath``, a name pointer)."""
        return self._name(address)

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
        raise Bad(address)


_CHAN_PREFIX = {1: "<-chan ", 2: "chan<- "}


def embedded_names(go_version: str) -> bool:
    """Whether reflect.StructOf of Go ``go_version`` (``go1.22.10``) spells an
    embedded field with its name before its type (``struct { T main.T }``), as up
    to Go 1.22; from 1.23 the type alone (``struct { main.T }``)."""
    parts = go_version.removeprefix("go").split(".")
    try:
        return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) < (1, 23)
    except (IndexError, ValueError):
        return False


def go_string(
    address: int,
    known: Callable[[int], str | None],
    parser: DescriptorParser,
    named_embedded: bool = False,
    limit: int = 64,
) -> str | None:
    """The name ``%T`` prints for the type at ``address``: ``known`` names the
    types it knows (the binary's), ``parser`` reads the others, which are spelled
    from their parts as reflect spells them (``reflect.SliceOf`` & co.; an embedded
    field with its name too if ``named_embedded``: ``embedded_names``); None when
    some part is neither known nor readable, or more than ``limit`` descriptors
    deep."""
    name = known(address)
    if name is not None:
        return name
    d = parser.get(address) if limit > 0 else None
    if d is None or d.named:
        return None

    def part(a: int) -> str | None:
        return go_string(a, known, parser, named_embedded, limit - 1)

    if d.kind in (KIND_POINTER, KIND_SLICE, KIND_ARRAY, KIND_CHAN):
        elem = part(d.elem)
        if elem is None:
            return None
        if d.kind == KIND_POINTER:
            return "*" + elem
        if d.kind == KIND_SLICE:
            return "[]" + elem
        if d.kind == KIND_ARRAY:
            return f"[{d.count}]{elem}"
        if d.chan_dir in _CHAN_PREFIX:
            return _CHAN_PREFIX[d.chan_dir] + elem
        return f"chan ({elem})" if elem.startswith("<") else "chan " + elem
    if d.kind == KIND_MAP:
        key, value = part(d.key), part(d.elem)
        return None if key is None or value is None else f"map[{key}]{value}"
    if d.kind == KIND_STRUCT:
        parts = []
        for f in d.fields:
            t = part(f.type)
            if t is None:
                return None
            text = (" " if f.embedded and not named_embedded else f" {f.name} ") + t
            if f.tag:
                text += " " + go_quote(f.tag)
            parts.append(text)
        return "struct {" + ";".join(parts) + (" }" if parts else "}")
    if d.kind == KIND_FUNC:
        names = [part(p) for p in d.params]
        if any(n is None for n in names):
            return None
        return func_spelling(d, [n for n in names if n is not None])
    return None


def func_spelling(d: Descriptor, names: list[str]) -> str:
    """``func(a, ...b) (c, d)``: the func type ``d`` from the names of its parameters
    then results, as the linker and ``%T`` spell it."""
    ins, outs = names[: len(names) - d.results], names[len(names) - d.results :]
    if d.variadic and ins and ins[-1].startswith("[]"):
        ins[-1] = "..." + ins[-1][2:]
    text = "func(" + ", ".join(ins) + ")"
    if len(outs) == 1:
        return text + " " + outs[0]
    return text + (" (" + ", ".join(outs) + ")" if outs else "")


_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
_ESCAPES |= {ord('"'): '\\"', ord("\\"): "\\\\"}


def go_quote(text: str) -> str:
    """``strconv.Quote``: Go's double-quoted literal of ``text``."""
    out = ['"']
    for ch in text:
        c = ord(ch)
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 0x20 <= c < 0x7F or (c >= 0x80 and ch.isprintable()):
            out.append(ch)
        elif c < 0x80:
            out.append(f"\\x{c:02x}")
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    return "".join(out) + '"'
