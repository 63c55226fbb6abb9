"""Captured values: bytes of an event plus an IR type -> ``CapturedValue``.

A value is read from a buffer (the event's root area or a block) at an offset. The
references in it (pointers, string and slice data) are followed by looking up the
block the BPF walker copied for ``(address, capture type index)``. Rendering follows
snapshot-format.md; the limits come from the probe.

Depth: root variables are at depth 0, a pointee one deeper than its pointer; only
pointer hops spend depth. A pointee deeper than ``max_reference_depth`` is not shown
(``notCapturedReason: "depth"``), nor one already being rendered higher up the same
path (``"circular reference"``).
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from ..errors import ArtifactError
from ..ir import (
    ArrayType,
    BaseType,
    ChanType,
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
from ..layout import BYTES_TYPE, Layout
from ..snapshot import CapturedValue
from ..spec import Capture
from .events import Block, RawEvent
from .gofmt import BASE_FORMATS

_U64 = struct.Struct("<Q")
_STR = struct.Struct("<QQ")
_SLICE = struct.Struct("<QQQ")

Ranges = tuple[tuple[int, int], ...]
"""Byte ranges ``[start, end)`` of a buffer that hold no captured data."""

_NO_RANGES: Ranges = ()


# A pointer to one of these shows its pointee under ``fields: {"*": ...}`` rather
# than inlined: their renderings may carry ``isNull`` or ``address`` of their own,
# which would be mistaken for the pointer's.
NESTED_POINTEES = (
    PointerType,
    UnsafePointerType,
    SliceType,
    MapType,
    ChanType,
    FuncType,
    InterfaceType,
)

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
_MIN_SIZES: dict[type, int] = {
    StringType: 16,
    SliceType: 24,
    PointerType: 8,
    UnsafePointerType: 8,
}


@dataclass(slots=True)
class RenderContext:
    """What rendering one event needs besides the bytes.

    ``path`` holds the ``(address, type id)`` of the pointees being rendered, to
    spot cycles; ``missing`` is set when a needed block was not in the event (and
    the absence is not explained by the depth limit).
    """

    event: RawEvent
    limits: Capture
    path: set[tuple[int, int]] = field(default_factory=set)
    missing: bool = False


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

    def __init__(self, program: Program, layout: Layout) -> None:
        self._types = TypeIndex(program.types)
        self._names: dict[int, str] = {t.id: t.name for t in program.types}
        self._resolved: dict[int, Type] = {}
        self._capture: dict[int, tuple[int, ...]] = {}
        self._by_exact: dict[int, list[int]] = {}
        self._by_resolved: dict[int, list[int]] = {}
        self._checked: set[int] = set()
        self._dispatch: dict[type, Callable[..., CapturedValue]] = {
            BaseType: self._base,
            StringType: self._string,
            StructType: self._struct,
            PointerType: self._pointer,
            SliceType: self._slice,
            ArrayType: self._array,
            UnsafePointerType: self._unsafe_pointer,
        }
        for bpf in layout.types:
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

    def _capture_types(self, type_id: int) -> tuple[int, ...]:
        """Capture type indices whose blocks can hold values of ``type_id``."""
        found = self._capture.get(type_id)
        if found is None:
            exact = self._by_exact.get(type_id, [])
            same = self._by_resolved.get(self.resolve(type_id).id, [])
            found = tuple(dict.fromkeys([*exact, *same]))
            self._capture[type_id] = found
        return found

    @staticmethod
    def _block(ctx: RenderContext, addr: int, indices: tuple[int, ...]) -> Block | None:
        blocks = ctx.event.blocks
        best: Block | None = None
        for index in indices:
            block = blocks.get((addr, index))
            if block is not None and (best is None or block.count > best.count):
                best = block
        return best

    # ------------------------------------------------------------------- rendering

    def render(
        self,
        type_id: int,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        """The value of type ``type_id`` at ``buf[off:]``.

        ``holes`` are byte ranges of ``buf`` that were not captured; a value that
        touches one renders ``unavailable`` (a struct or array only in the affected
        fields or elements).
        """
        t = self._resolved.get(type_id) or self.resolve(type_id)
        name = self._names[type_id]
        if holes:
            state = _overlap(holes, off, off + t.size)
            if state == 0:
                holes = _NO_RANGES
            elif state == 2 or not isinstance(t, (StructType, ArrayType)):
                return CapturedValue(type=name, notCapturedReason="unavailable")
        handler = self._dispatch.get(type(t))
        if handler is None:
            return CapturedValue(type=name, notCapturedReason="unimplemented")
        return handler(name, t, buf, off, depth, holes, ctx)

    def _base(
        self,
        name: str,
        t: BaseType,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        text = BASE_FORMATS[t.go_kind](buf, off, t.size)
        return CapturedValue(type=name, value=text)

    def _string(
        self,
        name: str,
        t: StringType,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        ptr, length = _STR.unpack_from(buf, off)
        if length == 0:
            return CapturedValue(type=name, value="")
        want = min(length, ctx.limits.max_length)
        data = b""
        if want > 0:
            block = self._block(ctx, ptr, (BYTES_TYPE,))
            if block is None or block.read_failed:
                ctx.missing = ctx.missing or block is None
                return CapturedValue(type=name, notCapturedReason="unavailable")
            data = bytes(block.data[:want])
            if len(data) < want:
                ctx.missing = True
        if len(data) == length:
            return CapturedValue(type=name, value=_decode_text(data, False))
        return CapturedValue(
            type=name,
            value=_decode_text(data, True),
            size=str(length),
            truncated=True,
            notCapturedReason="length" if len(data) == want else None,
        )

    def _struct(
        self,
        name: str,
        t: StructType,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        limit = ctx.limits.max_field_count
        fields: dict[str, CapturedValue] = {}
        for i, f in enumerate(t.fields[:limit]):
            key = f.name if f.name not in fields else f"{f.name}#{i}"
            fields[key] = self.render(f.type, buf, off + f.offset, depth, holes, ctx)
        return CapturedValue(
            type=name,
            fields=fields,
            notCapturedReason="fieldCount" if len(t.fields) > limit else None,
        )

    def _array(
        self,
        name: str,
        t: ArrayType,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        stride = self.resolve(t.elem).size
        shown = min(t.count, ctx.limits.max_collection_size)
        render = self.render
        elements = [render(t.elem, buf, off + i * stride, depth, holes, ctx) for i in range(shown)]
        cut = t.count > shown
        return CapturedValue(
            type=name,
            size=str(t.count),
            elements=elements,
            truncated=True if cut else None,
            notCapturedReason="collectionSize" if cut else None,
        )

    def _slice(
        self,
        name: str,
        t: SliceType,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        ptr, length, _cap = _SLICE.unpack_from(buf, off)
        if ptr == 0:
            return CapturedValue(type=name, isNull=True)
        want = min(length, ctx.limits.max_collection_size)
        elements: list[CapturedValue] = []
        if want > 0:
            stride = self.resolve(t.elem).size
            if stride == 0:
                empty = b""
                elements = [self.render(t.elem, empty, 0, depth, _NO_RANGES, ctx)] * want
            else:
                indices = self._capture_types(t.elem)
                if not indices:
                    return CapturedValue(
                        type=name, size=str(length), notCapturedReason="unimplemented"
                    )
                block = self._block(ctx, ptr, indices)
                if block is None or block.read_failed:
                    ctx.missing = ctx.missing or block is None
                    return CapturedValue(
                        type=name, size=str(length), notCapturedReason="unavailable"
                    )
                got = min(want, block.count)
                if got < want:
                    ctx.missing = True
                data = block.data
                render = self.render
                elements = [
                    render(t.elem, data, i * stride, depth, _NO_RANGES, ctx) for i in range(got)
                ]
        cut = length > len(elements)
        return CapturedValue(
            type=name,
            size=str(length),
            elements=elements,
            truncated=True if cut else None,
            notCapturedReason="collectionSize" if cut and len(elements) == want else None,
        )

    def _pointer(
        self,
        name: str,
        t: PointerType,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        addr = _U64.unpack_from(buf, off)[0]
        if addr == 0:
            return CapturedValue(type=name, isNull=True)
        address = hex(addr)
        if t.elem is None:
            return CapturedValue(type=name, address=address)
        elem = self.resolve(t.elem)
        key = (addr, elem.id)
        if key in ctx.path:
            return CapturedValue(type=name, address=address, notCapturedReason="circular reference")
        if depth + 1 > ctx.limits.max_reference_depth:
            return CapturedValue(type=name, address=address, notCapturedReason="depth")
        if elem.size == 0:
            data: memoryview | bytes = b""
        elif isinstance(elem, _UNIMPLEMENTED):
            data = bytes(elem.size)  # rendered without reading it
        else:
            indices = self._capture_types(t.elem)
            if not indices:
                return CapturedValue(type=name, address=address, notCapturedReason="unimplemented")
            block = self._block(ctx, addr, indices)
            if block is None or block.read_failed or block.count < 1:
                ctx.missing = ctx.missing or block is None or block.count < 1
                return CapturedValue(type=name, address=address, notCapturedReason="unavailable")
            data = block.data
        ctx.path.add(key)
        try:
            pointee = self.render(t.elem, data, 0, depth + 1, _NO_RANGES, ctx)
        finally:
            ctx.path.discard(key)
        if isinstance(elem, NESTED_POINTEES):
            return CapturedValue(type=name, address=address, fields={"*": pointee})
        return msgspec.structs.replace(pointee, type=name, address=address)

    def _unsafe_pointer(
        self,
        name: str,
        t: UnsafePointerType,
        buf: memoryview | bytes,
        off: int,
        depth: int,
        holes: Ranges,
        ctx: RenderContext,
    ) -> CapturedValue:
        addr = _U64.unpack_from(buf, off)[0]
        if addr == 0:
            return CapturedValue(type=name, isNull=True)
        return CapturedValue(type=name, address=hex(addr))
