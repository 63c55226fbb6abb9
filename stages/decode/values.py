"""Captured values: bytes of an event plus an IR type -> the value's JSON text.

A value is read from a buffer (the event's root area or a block) at an offset. The
references in it (pointers, string and slice data) are followed by looking up the
block the BPF walker copied for ``(address, capture type index)``. Rendering follows
snapshot-format.md; the limits come from the probe.

Depth: root variables are at depth 0, a pointee one deeper than its pointer; only
pointer and interface hops spend depth. A pointee deeper than ``max_reference_depth``
is not shown (``notCapturedReason: "depth"``), nor one already being rendered higher
up the same path (``"circular reference"``).

The captured data, not only its types, decides how deep rendering goes: a map or a
slice can hold itself (``m["x"] = m`` through an ``any``, ``type S []S``). So
every hop through memory (pointer, interface, slice, map) is put on the context's
``path`` while what it reaches is rendered: one reached again on the same path is
cut with ``"circular reference"``. A slice or map is keyed by its address and the
negated type id (``path_key``), so it never matches a pointer to the same address.
Each hop also adds the JSON levels of what it reaches (``levels``: a type's
nesting by value) to ``ctx.levels``; a hop that would pass ``MAX_LEVELS`` is cut
with ``"depth"``, since slices and maps spend no depth. So the JSON of a value,
and the recursion that renders it, is at most about 1.5 ``MAX_LEVELS`` deep (a
type nesting deeper than half of it by value is refused), whatever the data.

Output: a renderer returns the JSON text of the value's ``CapturedValue``, as
msgspec would encode it (``jsontext``); ``ValueRenderer.value`` reads a text back
into the object for what needs one.

Speed: each type gets one renderer, a closure built on first use
(``ValueRenderer.renderer``) with everything that does not depend on the event
worked out once: names, the texts of field keys, of ``unavailable`` and ``null``
values, redaction. Scalar values are cached per type by their raw bits. Scalars,
strings, slices and pointers also render from the words of their bytes
(``ValueRenderer.words``): struct fields, elements and root variables are then
rendered by generated code that unpacks them all at once (``generated``). The
common kinds also render in C (``native``), with these renderers as the reference
and the fallback. ``scripts/bench_decode.py`` measures the whole stage.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from typing import get_args

from ..errors import ArtifactError
from ..ir import (
    ArrayType,
    BaseType,
    ChanType,
    Field,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    Program,
    SliceType,
    StringType,
    StructType,
    Type,
    TypedefType,
    TypeIndex,
    UnsafePointerType,
)
from ..layout import BLOCK_FLAG_READ_FAILED, BYTES_TYPE, Layout
from ..redaction import Redaction
from ..snapshot import CapturedValue, NotCapturedReason
from ..spec import Capture
from . import jsontext, runtime_values
from .events import Block, Blocks, EventData
from .generated import Elements, Slot, Words, elements_renderer, struct_renderer
from .gofmt import BASE_FORMATS
from .heaptypes import HeapTypes
from .jsontext import UNAVAILABLE, quote
from .stacks import Symbolizer

_U64 = struct.Struct("<Q")
_STR = struct.Struct("<QQ")
_SLICE = struct.Struct("<QQQ")

Ranges = tuple[tuple[int, int], ...]
"""Byte ranges ``[start, end)`` of a buffer that hold no captured data."""

_NO_RANGES: Ranges = ()

Buffer = memoryview | bytes
Render = Callable[[Buffer, int, int, Ranges, "RenderContext"], str]
"""A compiled renderer: ``(buffer, offset, depth, holes, context) -> JSON text``."""

# Base kinds read as one integer: the value itself, or the bits of a float (which
# is how values are cached: -0.0 and NaN payloads keep their own spelling).
RAW_FORMATS: dict[tuple[str, int], struct.Struct] = {
    (kind, size): struct.Struct(fmt)
    for kind, size, fmt in [
        ("int", 8, "<q"),
        ("int", 4, "<i"),
        ("int8", 1, "<b"),
        ("int16", 2, "<h"),
        ("int32", 4, "<i"),
        ("int64", 8, "<q"),
        ("uint", 8, "<Q"),
        ("uint", 4, "<I"),
        ("uint8", 1, "<B"),
        ("uint16", 2, "<H"),
        ("uint32", 4, "<I"),
        ("uint64", 8, "<Q"),
        ("uintptr", 8, "<Q"),
        ("uintptr", 4, "<I"),
        ("float32", 4, "<I"),
        ("float64", 8, "<Q"),
        ("complex64", 8, "<Q"),
    ]
}
INT_KINDS = frozenset(
    {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64"}
)
_SEEN_LIMIT = 4096
"""Distinct values of one base type kept for reuse before the cache starts over."""
MAX_LEVELS = 256
"""JSON levels the hops of one path may reach (see the module's docstring): what
bounds rendering when slices and maps, which spend no depth, nest. The C renderer
has the same bound (``GODI_MAX_LEVELS`` in ``_render.c``)."""


def path_key(address: int, type_id: int) -> tuple[int, int]:
    """The ``ctx.path`` key of a slice's or a map's data at ``address``: the
    type id negated, apart from the keys of pointees, ``(address, type id)``."""
    return (address, -1 - type_id)


# A pointer to one of these shows its pointee under ``fields: {"*": ...}`` rather
# than inlined: their renderings may carry ``isNull`` or ``address`` of their own,
# which would be mistaken for the pointer's. A map is inlined (its ``size`` and
# ``entries`` on the pointer), as Datadog shows it; a nil map's ``isNull`` then
# reads as the pointer's.
NESTED_POINTEES = (
    PointerType,
    UnsafePointerType,
    SliceType,
    ChanType,
    FuncType,
    InterfaceType,
)

_POINTER_SHAPE = "go.shape.*"
"""The name of the GC shape every pointer type of a generic function shares."""

_UNIMPLEMENTED = (MapType, ChanType, FuncType, InterfaceType)

# Sizes a base kind may have (int, uint and uintptr default to 8 or 4).
_BASE_SIZES: dict[str, tuple[int, ...]] = {
    "bool": (1,),
    "int8": (1,),
    "uint8": (1,),
    "int16": (2,),
    "uint16": (2,),
    "int32": (4,),
    "uint32": (4,),
    "float32": (4,),
    "int64": (8,),
    "uint64": (8,),
    "float64": (8,),
    "complex64": (8,),
    "complex128": (16,),
}
_CIRCULAR = ',"notCapturedReason":"circular reference"}'
_TOO_DEEP = ',"notCapturedReason":"depth"}'

_MIN_SIZES: dict[type, int] = {
    StringType: 16,
    SliceType: 24,
    PointerType: 8,
    UnsafePointerType: 8,
}


class RenderContext:
    """What rendering one event needs besides the bytes.

    ``payload`` and ``blocks`` are the event's; the limits are the probe's, copied
    out of ``limits`` for speed. ``path`` holds the ``(address, type id)`` of the
    pointees being rendered, to spot cycles; ``missing`` is set when a needed block
    was not in the event (and the absence is not explained by the depth limit).
    """

    __slots__ = (
        "blocks",
        "levels",
        "max_collection_size",
        "max_field_count",
        "max_length",
        "max_reference_depth",
        "missing",
        "path",
        "payload",
    )

    def __init__(self, event: EventData, limits: Capture) -> None:
        self.payload = event.payload
        self.blocks = event.blocks
        self.max_reference_depth = limits.max_reference_depth
        self.max_collection_size = limits.max_collection_size
        self.max_length = limits.max_length
        self.max_field_count = limits.max_field_count
        self.path: set[tuple[int, int]] = set()
        self.levels = 0
        self.missing = False


class _NoEvent:
    """The event of a value rendered without one (``missing_text``)."""

    payload = b""
    blocks: Blocks = {}
    fail_mask = 0


_NO_EVENT = _NoEvent()


def _overlap(ranges: Ranges, start: int, end: int) -> int:
    """0: ``[start, end)`` misses ``ranges``; 1: partly covered; 2: fully covered."""
    covered = 0
    reached = start  # ranges may overlap: count each byte once
    for lo, hi in sorted(ranges):
        a = max(lo, reached)
        b = min(hi, end)
        if a < b:
            covered += b - a
            reached = b
    if covered == 0:
        return 0
    return 2 if covered >= end - start else 1


def _decode_text(data: bytes, cut: bool) -> str:
    """UTF-8 with invalid bytes replaced; a sequence split by a cut is dropped."""
    if not cut:
        return data.decode("utf-8", "replace")
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)


class ValueRenderer:
    """Renders captured values for one (program, layout) pair.

    Built once per decode: it indexes the IR types, maps IR types to capture type
    indices and checks that both agree on sizes. Raises ``ArtifactError`` when the
    layout refers to types the IR does not have or disagrees with it on a size.
    """

    def __init__(
        self, program: Program, layout: Layout, redaction: Redaction | None = None
    ) -> None:
        self.redaction = redaction if redaction is not None else Redaction()
        self._types = TypeIndex(program.types)
        self._names: dict[int, str] = {t.id: t.name for t in program.types}
        self._resolved: dict[int, Type] = {}
        self._capture: dict[int, tuple[int, ...]] = {}
        self._by_exact: dict[int, list[int]] = {}
        self._by_resolved: dict[int, list[int]] = {}
        self._checked: set[int] = set()
        self._redacted_types = (
            frozenset(t.id for t in program.types if self.redaction.type(t.name))
            if self.redaction.any_types
            else frozenset()
        )
        self._compiled: dict[int, Render] = {}
        self._reaches: dict[int, bool] = {}
        self._levels: dict[int, int] = {}
        self._words: dict[int, Words] = {}
        self._scalars: dict[int, tuple[dict[int, str], Callable[[int], str]]] = {}
        self._roles: dict[tuple[str, int | None], int] = {}
        self._by_name: dict[str, int] | None = None
        self._runtime_types = {rt.address: rt.type for rt in program.runtime_types}
        self.symbolizer = Symbolizer(program.symbols) if program.symbols is not None else None
        """Names PCs (stacks, func values); None when the IR has no symbol table."""
        for bpf in layout.types:
            if bpf.role not in ("value", "root"):
                # Runtime structures behind maps, chans, funcs and interfaces.
                self._roles.setdefault((bpf.role, bpf.ir_type), bpf.index)
                continue
            if bpf.ir_type is None:
                continue
            self._check_type(bpf.ir_type, f"capture type {bpf.index}")
            ir_size = self.resolve(bpf.ir_type).size
            if bpf.size != ir_size:
                raise ArtifactError(
                    "layout.json",
                    f"capture type {bpf.index} is {bpf.size} bytes but IR type "
                    f"{bpf.ir_type} is {ir_size}: layout and ir.json disagree",
                )
            self._by_exact.setdefault(bpf.ir_type, []).append(bpf.index)
            self._by_resolved.setdefault(self.resolve(bpf.ir_type).id, []).append(bpf.index)
        self.heap_types = HeapTypes(
            layout.types_start,
            layout.types_end,
            self._roles,
            self._described_name,
            program.binary.go_version,
        )
        """Interfaces holding a value of a type reflect made on the heap."""
        for probe in layout.probes:
            for var in probe.variables:
                self._check_type(var.type, f"probe {probe.probe_id} variable {var.name}")
                ir_size = self.resolve(var.type).size
                if var.root_offset is not None and var.size != ir_size:
                    raise ArtifactError(
                        "layout.json",
                        f"probe {probe.probe_id}: variable {var.name} is {var.size} bytes "
                        f"but its IR type {var.type} is {ir_size}",
                    )

        self._check_no_value_cycle(program.types)

    def _check_no_value_cycle(self, types: list[Type]) -> None:
        """Refuse an IR in which a type holds itself by value (through struct
        fields, array elements or typedefs), which no Go type can and whose
        rendering would never end, or nests deeper than ``MAX_LEVELS // 2`` by
        value; work out each type's ``levels`` on the way. Without recursion, over
        every type (an interface may hold any of them), ``types`` in the IR's
        order; a type that holds no other (a pointer, a scalar...) is one level
        and needs no visit: about 1 ms per 1,000 types."""
        levels = self._levels
        held: dict[int, list[int]] = {}
        for t in types:
            if isinstance(t, StructType):
                if t.fields:
                    held[t.id] = [f.type for f in t.fields]
                else:
                    levels[t.id] = 2
            elif isinstance(t, TypedefType):
                held[t.id] = [t.target]
            elif isinstance(t, ArrayType):
                held[t.id] = [t.elem]
        state: dict[int, int] = {}  # 1: on the current path, 2: done
        names = self._names
        for start, children in held.items():
            if start in state:
                continue
            stack = [(start, iter(children))]
            state[start] = 1
            while stack:
                tid, rest = stack[-1]
                nxt = next(rest, None)
                if nxt is None:
                    state[tid] = 2
                    stack.pop()
                    inner = max([levels.get(c, 1) for c in held[tid]])
                    level = inner if isinstance(self._types[tid], TypedefType) else 2 + inner
                    levels[tid] = level
                    if level > MAX_LEVELS // 2:
                        raise ArtifactError(
                            "ir.json",
                            f"type {names[tid]!r} ({tid}) nests {level} levels "
                            f"by value, more than {MAX_LEVELS // 2}",
                        )
                elif state.get(nxt) == 1:
                    raise ArtifactError(
                        "ir.json", f"type {names[nxt]!r} ({nxt}) holds itself by value"
                    )
                elif nxt not in state and nxt in held:
                    state[nxt] = 1
                    stack.append((nxt, iter(held[nxt])))

    def levels(self, type_id: int) -> int:
        """The JSON levels of a value of ``type_id`` down to its hops: 1 for a
        scalar, string or hop (pointer, slice, map, interface...), 2 more for each
        struct or array around it."""
        return self._levels.get(type_id, 1)

    # ------------------------------------------------------------------ IR helpers

    def resolve(self, type_id: int) -> Type:
        """The type ``type_id`` names with typedefs followed (cached)."""
        t = self._resolved.get(type_id)
        if t is None:
            t = self._types.resolve(type_id)
            self._resolved[type_id] = t
        return t

    def name(self, type_id: int) -> str:
        """The Go name of ``type_id`` as DWARF spells it (a typedef's own name)."""
        return self._names[type_id]

    def _check_type(self, type_id: int, user: str) -> None:
        """Check that ``type_id`` and every type it reaches exist and fit together."""
        stack = [(type_id, user)]
        while stack:
            tid, who = stack.pop()
            if tid in self._checked:
                continue
            if tid not in self._types:
                raise ArtifactError("ir.json", f"type {tid} used by {who} is missing")
            self._checked.add(tid)
            t = self._types[tid]
            here = f"type {t.name!r} ({tid})"
            if isinstance(t, TypedefType):
                stack.append((t.target, here))
            elif isinstance(t, StructType):
                for f in t.fields:
                    stack.append((f.type, here))
                for f in t.fields:
                    if f.type in self._types:
                        end = f.offset + self.resolve(f.type).size
                        if f.offset < 0 or end > t.size:
                            raise ArtifactError(
                                "ir.json", f"{here}: field {f.name} ends at {end}, past {t.size}"
                            )
            elif isinstance(t, ArrayType):
                stack.append((t.elem, here))
                if t.elem in self._types and self.resolve(t.elem).size * t.count > t.size:
                    raise ArtifactError("ir.json", f"{here}: elements overrun {t.size} bytes")
            elif isinstance(t, (PointerType, SliceType)) and t.elem is not None:
                stack.append((t.elem, here))
            if isinstance(t, BaseType):
                sizes = _BASE_SIZES.get(t.go_kind, (8, 4))
                if t.size not in sizes:
                    raise ArtifactError("ir.json", f"{here}: {t.go_kind} of {t.size} bytes")
            elif t.size < _MIN_SIZES.get(type(t), 0):
                raise ArtifactError("ir.json", f"{here}: implausible size {t.size}")

    def reaches_memory(self, type_id: int) -> bool:
        """Whether a value of ``type_id`` holds, in its own bytes, a way to more
        values that can lead back (a pointer, slice, map or interface; strings,
        chans and funcs cannot)."""
        found = self._reaches.get(type_id)
        if found is not None:
            return found
        self._reaches[type_id] = True  # a type holding itself by value: assume so
        t = self.resolve(type_id)
        if isinstance(t, StructType):
            found = any(self.reaches_memory(f.type) for f in t.fields)
        elif isinstance(t, ArrayType):
            found = t.count > 0 and self.reaches_memory(t.elem)
        else:
            found = isinstance(t, (PointerType, SliceType, MapType, InterfaceType))
        self._reaches[type_id] = found
        return found

    def slice_key_id(self, type_id: int) -> int:
        """The type part of a slice's ``path`` key (``path_key``); 0 when its
        elements cannot lead back to it, so it needs no key."""
        elem = self.resolve(type_id)
        assert isinstance(elem, SliceType)
        if not self.reaches_memory(elem.elem):
            return 0
        return path_key(0, elem.id)[1]

    def slice_levels(self, type_id: int) -> int:
        """The levels a slice of ``type_id`` adds to the path: its elements list and
        an element."""
        t = self.resolve(type_id)
        assert isinstance(t, SliceType)
        return 2 + self.levels(t.elem)

    def pointer_levels(self, target: int) -> int:
        """The levels a pointer to ``target`` adds to the path: the pointee (and
        the ``fields: {"*": ...}`` around one that is not inlined)."""
        return 2 + self.levels(target)

    def type_named(self, name: str) -> int | None:
        """An IR type called ``name`` (the dynamic type of an interface)."""
        if self._by_name is None:
            self._by_name = {}
            for tid, n in self._names.items():
                self._by_name.setdefault(n, tid)
        return self._by_name.get(name)

    def role_index(self, role: str, ir_type: int | None) -> int | None:
        """The capture type copying the runtime structure ``role`` of ``ir_type``."""
        return self._roles.get((role, ir_type))

    def value_indices(self, type_id: int) -> tuple[int, ...]:
        """Capture types whose blocks hold values of ``type_id``."""
        return self._capture_types(type_id)

    def runtime_type(self, descriptor: int) -> int | None:
        """The IR type whose runtime type descriptor is at ``descriptor``."""
        return self._runtime_types.get(descriptor)

    def _described_name(self, descriptor: int) -> str | None:
        """The name of the IR type of the binary's descriptor at ``descriptor``."""
        type_id = self._runtime_types.get(descriptor)
        return self.name(type_id) if type_id is not None else None

    def function_name(self, pc: int) -> str | None:
        """The name of the function whose code is at ``pc``."""
        if self.symbolizer is None:
            return None
        frames = self.symbolizer.frames(pc)
        return frames[-1].function if frames else None

    @staticmethod
    def overlaps(holes: Ranges, start: int, end: int) -> bool:
        """Whether ``[start, end)`` touches a hole."""
        return _overlap(holes, start, end) != 0

    @staticmethod
    def covered(holes: Ranges, start: int, end: int) -> bool:
        """Whether holes cover all of ``[start, end)``."""
        return _overlap(holes, start, end) == 2

    def missing_text(self, type_id: int) -> str:
        """The text of a value of ``type_id`` none of whose bytes were captured:
        whatever an event holds, since a renderer never reads the bytes of a hole."""
        size = self.resolve(type_id).size
        ctx = RenderContext(_NO_EVENT, Capture())
        return self.renderer(type_id)(bytes(size), 0, 0, ((0, size),), ctx)

    def _capture_types(self, type_id: int) -> tuple[int, ...]:
        """Capture type indices whose blocks can hold values of ``type_id``."""
        found = self._capture.get(type_id)
        if found is None:
            exact = self._by_exact.get(type_id, [])
            same = self._by_resolved.get(self.resolve(type_id).id, [])
            found = tuple(dict.fromkeys([*exact, *same]))
            self._capture[type_id] = found
        return found

    # ------------------------------------------------------------------- rendering

    def value(self, text: str) -> CapturedValue:
        """The ``CapturedValue`` a renderer's text stands for."""
        return jsontext.captured_value(text)

    def renderer(self, type_id: int) -> Render:
        """The function rendering values of ``type_id`` (built once, then cached).

        It takes ``(buffer, offset, depth, holes, context)``: ``holes`` are byte
        ranges of the buffer that were not captured; a value that touches one
        renders ``unavailable`` (a struct or array only in the affected fields or
        elements).
        """
        fn = self._compiled.get(type_id)
        return fn if fn is not None else self._compile(type_id)

    def redacted_type(self, type_id: int) -> bool:
        """Whether values of ``type_id`` render ``redactedType``."""
        return type_id in self._redacted_types

    def scalar_cache(self, type_id: int) -> tuple[dict[int, str], Callable[[int], str]] | None:
        """The cache of a base type read as one integer: its texts by raw value, and
        the function making (and keeping) a missing one (None: another kind)."""
        self.renderer(type_id)
        return self._scalars.get(type_id)

    def field_constant(self, f: Field) -> str | None:
        """The text of a struct field whatever its value (its name is redacted)."""
        if self.redaction.ident(f.name):
            return jsontext.value_text(self._names[f.type], "redactedIdent")
        return None

    def words(self, type_id: int) -> Words | None:
        """How values of ``type_id`` render from their words, for generated
        renderers (None: only from their bytes, through ``renderer``)."""
        self.renderer(type_id)
        return self._words.get(type_id)

    def _compile(self, type_id: int) -> Render:
        """Build the renderer of ``type_id``: a closure specialised for the type, with
        everything that does not depend on the event computed once. A struct's
        fields are compiled with it; the types reached through pointers, slices,
        arrays and interfaces on first use. A type reached again while it is being
        compiled (a struct holding a map of itself) gets a forwarder."""
        compiled = self._compiled

        def forward(buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext) -> str:
            return compiled[type_id](buf, off, depth, holes, ctx)

        compiled[type_id] = forward
        try:
            fn = self._build(type_id)
        except BaseException:
            del compiled[type_id]
            raise
        compiled[type_id] = fn
        return fn

    def _build(self, type_id: int) -> Render:
        """The renderer of ``type_id``, by kind."""
        t = self.resolve(type_id)
        name = self._names[type_id]
        fn: Render
        if type_id in self._redacted_types:
            fn = _constant(jsontext.value_text(name, "redactedType"))
        elif isinstance(t, BaseType):
            fn = self._compile_base(type_id, name, t)
        elif isinstance(t, StringType):
            fn = self._compile_string(type_id, name, t)
        elif isinstance(t, StructType):
            timefn = runtime_values.compile_time(self, name, t) if t.name == "time.Time" else None
            fn = timefn if timefn is not None else self._compile_struct(name, t)
        elif isinstance(t, ArrayType):
            fn = self._compile_array(name, t)
        elif isinstance(t, SliceType):
            fn = self._compile_slice(type_id, name, t)
        elif isinstance(t, PointerType):
            fn = self._compile_pointer(type_id, name, t)
        elif isinstance(t, UnsafePointerType):
            fn = self._compile_unsafe_pointer(name, t)
        elif isinstance(t, MapType):
            fn = runtime_values.compile_map(self, name, t)
        elif isinstance(t, ChanType):
            fn = runtime_values.compile_chan(self, name, t)
        elif isinstance(t, FuncType):
            fn = runtime_values.compile_func(self, name, t)
        elif isinstance(t, InterfaceType):
            fn = runtime_values.compile_interface(self, name, t)
        else:
            fn = _constant(
                jsontext.value_text(name, "unimplemented"),
                t.size,
                jsontext.value_text(name, "unavailable"),
            )
        return fn

    def _compile_base(self, type_id: int, name: str, t: BaseType) -> Render:
        size = t.size
        head = jsontext.head(name)
        unavailable = head + UNAVAILABLE
        if t.go_kind == "bool":
            true = head + ',"value":"true"}'
            false = head + ',"value":"false"}'
            self._words[type_id] = Words(
                "B", 1, lambda src, w: f"({src.ref(true)} if {w[0]} else {src.ref(false)})"
            )

            def render_bool(
                buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
            ) -> str:
                if holes and _overlap(holes, off, off + 1):
                    return unavailable
                return true if buf[off] else false

            return render_bool
        raw = RAW_FORMATS.get((t.go_kind, size))
        fmt = BASE_FORMATS[t.go_kind]
        value = head + ',"value":'
        if raw is None:

            def render_other(
                buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
            ) -> str:
                if holes and _overlap(holes, off, off + size):
                    return unavailable
                return value + quote(fmt(buf, off, size)) + "}"

            return render_other
        unpack = raw.unpack_from
        # Values repeat (counters, flags, sizes): each distinct one is built once.
        # Floats are keyed by their bits, so that -0.0 and NaNs keep their spelling.
        seen: dict[int, str] = {}
        text = None if t.go_kind in INT_KINDS else fmt

        def miss(key: int) -> str:
            """The text of raw value ``key``, kept in ``seen``."""
            if len(seen) >= _SEEN_LIMIT:
                seen.clear()
            shown = str(key) if text is None else text(raw.pack(key), 0, size)
            v = seen[key] = value + quote(shown) + "}"
            return v

        self._scalars[type_id] = (seen, miss)

        self._words[type_id] = Words(
            raw.format[1:],
            1,
            lambda src, w: f"({src.ref(seen)}.get({w[0]}) or {src.ref(miss)}({w[0]}))",
        )

        def render_number(
            buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
        ) -> str:
            if holes and _overlap(holes, off, off + size):
                return unavailable
            key = unpack(buf, off)[0]
            return seen.get(key) or miss(key)

        return render_number

    def _compile_string(self, type_id: int, name: str, t: StringType) -> Render:
        size = t.size
        head = jsontext.head(name)
        value = head + ',"value":'
        empty = value + '""}'
        unavailable = head + UNAVAILABLE
        unpack = _STR.unpack_from

        def string_text(ptr: int, length: int, ctx: RenderContext) -> str:
            """The string of ``length`` bytes at ``ptr``."""
            block = ctx.blocks.get((ptr, BYTES_TYPE))
            if (
                block is not None
                and 0 < length <= ctx.max_length
                and block[2] >= length
                and not block[3] & BLOCK_FLAG_READ_FAILED
            ):  # the whole string is there
                start = block[0]
                text = ctx.payload[start : start + length].decode("utf-8", "replace")
                return f"{value}{quote(text)}}}"
            if length == 0:
                return empty
            want = length if length < ctx.max_length else ctx.max_length
            if want <= 0:
                data = b""
            else:
                block = ctx.blocks.get((ptr, BYTES_TYPE))
                if block is None or block[3] & BLOCK_FLAG_READ_FAILED:
                    ctx.missing = ctx.missing or block is None
                    return unavailable
                start, end, got, _ = block
                if got < want:
                    ctx.missing = True
                    data = ctx.payload[start:end]
                else:
                    data = ctx.payload[start : start + want]
            if len(data) == length:
                return value + quote(data.decode("utf-8", "replace")) + "}"
            reason = ',"notCapturedReason":"length"}' if len(data) == want else "}"
            return (
                f'{value}{quote(_decode_text(data, True))},"size":"{length}"'
                f',"truncated":true{reason}'
            )

        self._words[type_id] = Words(
            "QQ", 2, lambda src, w: f"{src.ref(string_text)}({w[0]}, {w[1]}, ctx)"
        )

        def render_string(
            buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
        ) -> str:
            if holes and _overlap(holes, off, off + size):
                return unavailable
            ptr, length = unpack(buf, off)
            return string_text(ptr, length, ctx)

        return render_string

    def _compile_struct(self, name: str, t: StructType) -> Render:
        """A struct: a generated renderer of all its fields at once (see
        ``generated``), and for holes or a field limit the field by field one."""
        size = t.size
        head = jsontext.head(name)
        fields_start = head + ',"fields":{'
        unavailable = head + UNAVAILABLE
        keys = field_keys(t)
        total = len(keys)
        ready = [
            (jsontext.key(key), self._field_renderer(f), f.offset)
            for key, f in zip(keys, shown_fields(t), strict=True)
        ]

        def render_struct(
            buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
        ) -> str:
            if holes:
                state = _overlap(holes, off, off + size)
                if state == 2:
                    return unavailable
                if state == 0:
                    holes = _NO_RANGES
            limit = ctx.max_field_count
            fields = ",".join(
                [
                    key + (fn if isinstance(fn, str) else fn(buf, off + foff, depth, holes, ctx))
                    for key, fn, foff in (ready if total <= limit else ready[:limit])
                ]
            )
            if total > limit:
                return fields_start + fields + '},"notCapturedReason":"fieldCount"}'
            return fields_start + fields + "}}"

        slots = [
            Slot(f.offset, fn, None if isinstance(fn, str) else self._words.get(f.type))
            for (_, fn, _), f in zip(ready, shown_fields(t), strict=True)
        ]
        members = ",".join(key.replace("%", "%%") + "%s" for key, _, _ in ready)
        template = fields_start.replace("%", "%%") + members + "}}"
        return struct_renderer(slots, template, total, render_struct, f"struct_{t.id}")

    def _field_renderer(self, f: Field) -> Render | str:
        """How a struct field renders: its type's renderer, or the constant text of
        a field whose name is redacted."""
        constant = self.field_constant(f)
        return constant if constant is not None else self.renderer(f.type)

    def _elements(self, elem: int, stride: int) -> Elements:
        """The renderer of consecutive values of ``elem``, ``stride`` bytes apart:
        generated when ``elem`` has words, else calling its renderer for each."""
        words = self.words(elem)
        if words is not None and stride >= struct.calcsize("<" + words.fmt):
            return elements_renderer(words, stride, f"elements_{elem}")
        fn = self.renderer(elem)

        def one_by_one(
            buf: Buffer, start: int, count: int, depth: int, ctx: RenderContext
        ) -> list[str]:
            end = start + count * stride
            return [fn(buf, at, depth, _NO_RANGES, ctx) for at in range(start, end, stride)]

        return one_by_one

    def _compile_array(self, name: str, t: ArrayType) -> Render:
        size = t.size
        stride = self.resolve(t.elem).size
        count = t.count
        elem = t.elem
        head = jsontext.head(name)
        elements_start = head + ',"elements":['
        unavailable = head + UNAVAILABLE
        whole = f'],"size":"{count}"}}'
        cut = f'],"size":"{count}","truncated":true,"notCapturedReason":"collectionSize"}}'
        many: list[Elements] = []

        def render_array(
            buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
        ) -> str:
            if holes:
                state = _overlap(holes, off, off + size)
                if state == 2:
                    return unavailable
                if state == 0:
                    holes = _NO_RANGES
            shown = count if count <= ctx.max_collection_size else ctx.max_collection_size
            if holes or not stride:
                fn = self.renderer(elem)
                elements = [fn(buf, off + i * stride, depth, holes, ctx) for i in range(shown)]
            else:
                if not many:  # first use: the element type is compiled now
                    many.append(self._elements(elem, stride))
                elements = many[0](buf, off, shown, depth, ctx)
            return elements_start + ",".join(elements) + (cut if count > shown else whole)

        return render_array

    def _compile_slice(self, type_id: int, name: str, t: SliceType) -> Render:
        head = jsontext.head(name)
        null = head + ',"isNull":true}'
        elements_start = head + ',"elements":['
        unpack = _SLICE.unpack_from
        elem = t.elem
        stride = self.resolve(elem).size
        size = t.size
        unavailable = head + UNAVAILABLE
        many: list[Elements] = []
        find = self._finder(elem)
        key_id = self.slice_key_id(type_id)
        add = self.slice_levels(type_id)

        def slice_text(ptr: int, length: int, depth: int, ctx: RenderContext) -> str:
            """The slice of ``length`` elements at ``ptr``."""
            if ptr == 0:
                return null
            limit = ctx.max_collection_size
            want = length if length < limit else limit
            elements: list[str] = []
            if want > 0:
                if stride == 0:
                    fn = self.renderer(elem)
                    elements = [fn(b"", 0, depth, _NO_RANGES, ctx)] * want
                else:
                    if find is None:
                        return f'{head},"size":"{length}","notCapturedReason":"unimplemented"}}'
                    key = (ptr, key_id)
                    if key_id:
                        if key in ctx.path:
                            return f'{head},"size":"{length}"{_CIRCULAR}'
                        if ctx.levels + add > MAX_LEVELS:
                            return f'{head},"size":"{length}"{_TOO_DEEP}'
                    block = find(ctx.blocks, ptr)
                    if block is None or block[3] & BLOCK_FLAG_READ_FAILED:
                        ctx.missing = ctx.missing or block is None
                        return f'{head},"size":"{length}"{UNAVAILABLE}'
                    start, _, got, _ = block
                    if got < want:
                        ctx.missing = True
                    else:
                        got = want
                    if not many:  # first use: the element type is compiled now
                        many.append(self._elements(elem, stride))
                    if key_id:
                        ctx.path.add(key)
                        ctx.levels += add
                        try:
                            elements = many[0](ctx.payload, start, got, depth, ctx)
                        finally:
                            ctx.path.discard(key)
                            ctx.levels -= add
                    else:
                        elements = many[0](ctx.payload, start, got, depth, ctx)
            text = elements_start + ",".join(elements)
            if length > len(elements):
                reason = ',"notCapturedReason":"collectionSize"}' if len(elements) == want else "}"
                return f'{text}],"size":"{length}","truncated":true{reason}'
            return f'{text}],"size":"{length}"}}'

        self._words[type_id] = Words(
            "QQ8x", 2, lambda src, w: f"{src.ref(slice_text)}({w[0]}, {w[1]}, depth, ctx)"
        )

        def render_slice(
            buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
        ) -> str:
            if holes and _overlap(holes, off, off + size):
                return unavailable
            ptr, length, _cap = unpack(buf, off)
            return slice_text(ptr, length, depth, ctx)

        return render_slice

    def _compile_pointer(self, type_id: int, name: str, t: PointerType) -> Render:
        target = t.elem
        if target is None:
            return self._compile_unsafe_pointer(name, t)
        if self.pointer_shape(type_id):
            # Every pointer type of a generic function shares the shape
            # ``go.shape.*uint8``: what it points at is known only from the call's
            # dictionary, so its pointee was captured as one byte. Its address only.
            return self._compile_unsafe_pointer(name, t, "missing type information")
        head = jsontext.head(name)
        null = head + ',"isNull":true}'
        unpack = _U64.unpack_from
        size = t.size
        unavailable = head + UNAVAILABLE
        elem_type = self.resolve(target)
        elem_id = elem_type.id
        nested = isinstance(elem_type, NESTED_POINTEES)
        zero_size = elem_type.size == 0
        # The pointee's text starts with its own type, which the pointer's replaces.
        skip = len(jsontext.head(self._names[target]))
        find = self._finder(target)
        compiled = self._compiled
        add = self.pointer_levels(target)

        def pointer_text(addr: int, depth: int, ctx: RenderContext) -> str:
            """The pointer to ``addr``."""
            if addr == 0:
                return null
            address = f',"address":"{addr:#x}"'
            key = (addr, elem_id)
            if key in ctx.path:
                return head + address + ',"notCapturedReason":"circular reference"}'
            if depth >= ctx.max_reference_depth or ctx.levels + add > MAX_LEVELS:
                return head + address + ',"notCapturedReason":"depth"}'
            data: Buffer = b""
            at = 0
            if not zero_size:
                if find is None:
                    return head + address + UNAVAILABLE
                block = find(ctx.blocks, addr)
                if block is None or block[3] & BLOCK_FLAG_READ_FAILED or block[2] < 1:
                    ctx.missing = ctx.missing or block is None or block[2] < 1
                    return head + address + UNAVAILABLE
                data = ctx.payload
                at = block[0]
            render = compiled.get(target) or self._compile(target)
            ctx.path.add(key)
            ctx.levels += add
            try:
                pointee = render(data, at, depth + 1, _NO_RANGES, ctx)
            finally:
                ctx.path.discard(key)
                ctx.levels -= add
            if nested:
                return head + ',"fields":{"*":' + pointee + "}" + address + "}"
            return _inline(head, pointee[skip:-1], address)

        self._words[type_id] = Words(
            "Q", 1, lambda src, w: f"{src.ref(pointer_text)}({w[0]}, depth, ctx)"
        )

        def render_pointer(
            buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
        ) -> str:
            if holes and _overlap(holes, off, off + size):
                return unavailable
            return pointer_text(unpack(buf, off)[0], depth, ctx)

        return render_pointer

    def pointer_shape(self, type_id: int) -> bool:
        """Whether ``type_id`` is (a typedef of) the pointer shape ``go.shape.*uint8``."""
        for _ in range(16):
            if self._names.get(type_id, "").startswith(_POINTER_SHAPE):
                return True
            t = self._types[type_id]
            if not isinstance(t, TypedefType):
                return False
            type_id = t.target
        return False

    def _compile_unsafe_pointer(
        self, name: str, t: UnsafePointerType | PointerType, reason: str | None = None
    ) -> Render:
        """``unsafe.Pointer``, or a pointer whose target type DWARF omits: an address
        (with ``reason`` as its ``notCapturedReason`` when given)."""
        head = jsontext.head(name)
        null = head + ',"isNull":true}'
        tail = "}" if reason is None else f',"notCapturedReason":{quote(reason)}}}'
        unpack = _U64.unpack_from
        size = t.size
        unavailable = head + UNAVAILABLE

        def render_address(
            buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
        ) -> str:
            if holes and _overlap(holes, off, off + size):
                return unavailable
            addr = unpack(buf, off)[0]
            return null if addr == 0 else f'{head},"address":"{addr:#x}"{tail}'

        return render_address

    def _finder(self, type_id: int) -> Callable[[Blocks, int], Block | None] | None:
        """A function finding the block holding values of ``type_id`` at an address
        (the one with most elements when several capture types can); None when no
        capture type holds them."""
        indices = self._capture_types(type_id)
        if not indices:
            return None
        if len(indices) == 1:
            index = indices[0]
            return lambda blocks, addr: blocks.get((addr, index))

        def best(blocks: Blocks, addr: int) -> Block | None:
            found: Block | None = None
            for index in indices:
                block = blocks.get((addr, index))
                if block is not None and (found is None or block[2] > found[2]):
                    found = block
            return found

        return best


def shown_fields(t: StructType) -> list[Field]:
    """The fields a struct's value shows: all but the blank ``_`` ones (padding no
    Go code can name or read), which Datadog's snapshots and messages leave out."""
    return [f for f in t.fields if f.name != "_"]


def field_keys(t: StructType) -> list[str]:
    """The keys of a struct's shown fields (``shown_fields``): their names, a
    repeated one with ``#index`` (its place among all the fields)."""
    keys: list[str] = []
    for i, f in enumerate(t.fields):
        if f.name != "_":
            keys.append(f.name if f.name not in keys else f"{f.name}#{i}")
    return keys


# What may follow the address in a pointer's rendering: the members declared after
# ``address`` in ``CapturedValue`` that an inlined pointee can have.
AFTER_ADDRESS = frozenset(
    f',"notCapturedReason":"{reason}"' for reason in get_args(NotCapturedReason)
)


def _inline(head: str, members: str, address: str) -> str:
    """A pointer shown with its pointee's ``members`` (the pointee's text without its
    type and closing brace) inlined: the pointer's type first, then the members,
    ``address`` in its declared place, before a trailing ``notCapturedReason``. (A
    reason nested deeper is followed by a bracket, and one inside a string has its
    quotes escaped: neither matches.)"""
    cut = members.rfind(',"notCapturedReason":')
    if cut >= 0 and members[cut:] in AFTER_ADDRESS:
        return head + members[:cut] + address + members[cut:] + "}"
    return head + members + address + "}"


def _constant(text: str, size: int = 0, unavailable: str | None = None) -> Render:
    """A renderer that always gives ``text``; ``unavailable`` instead when the
    ``size`` bytes of the value touch a hole."""

    def render_constant(
        buf: Buffer, off: int, depth: int, holes: Ranges, ctx: RenderContext
    ) -> str:
        if unavailable is not None and holes and _overlap(holes, off, off + size):
            return unavailable
        return text

    return render_constant
