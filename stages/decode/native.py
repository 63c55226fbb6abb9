"""The decode fast path in C (``_render``): blocks indexed and whole value trees
rendered without a Python call per value.

The Python renderers (``values``, ``generated``, ``runtime_values``) are the
reference; the C code mirrors them and gives byte for byte the same text. It
covers bools, integers, strings, structs, arrays, slices and pointers
(``_render.c``), and ``unsafe.Pointer``, funcs, interfaces and swiss-table maps
(``_runtime.c``). Floats, ``uintptr`` and ``complex64`` take their text from the
Python renderer's cache of their type; the other kinds (maps of the bucket
layout, channels, ``time.Time``, ``complex128``...) are rendered by their Python
renderer, called from C. Holes the layout fixes (bytes no register or stack slot
held) are built into a variable's nodes (``_holed``); a variable whose holes
depend on an event's failed reads renders in Python.

This module builds the C renderer's table: one node per IR type, a tuple of the
type's kind, size, head (``{"type":"T"``) and what its kind needs (texts worked out
here once, the nodes of the types it holds, the capture types of its blocks).

``GODI_DECODE_NATIVE=0`` in the environment turns the fast path off (so does a
missing extension module: a source tree not built with ``pip install -e .``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from ..abi import direct_iface, direct_leaf
from ..ir import (
    ArrayType,
    BaseType,
    ChanType,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    SliceType,
    StringType,
    StructType,
    SwissMapLayout,
    UnsafePointerType,
)
from . import jsontext
from .events import IndexBlocks
from .runtime_values import shown_value
from .summaries import Summaries
from .values import (
    AFTER_ADDRESS,
    INT_KINDS,
    NESTED_POINTEES,
    RAW_FORMATS,
    Ranges,
    RenderContext,
    ValueRenderer,
    field_keys,
    path_key,
    shown_fields,
)

try:
    from . import _render
except ImportError:  # not built
    _render = None  # type: ignore[assignment]

ENVIRONMENT = "GODI_DECODE_NATIVE"
_T = TypeVar("_T")

Value = Callable[[RenderContext], str | None]
"""A root value rendered in C from a render context: its text, or None when the C
renderer declines the event (Python renders it then)."""
Scope = partial[list[str] | None]
"""The values of a scope rendered in C from a render context: their texts, or None
(declined). Its ``args`` are the values' nodes and payload offsets."""


def available() -> bool:
    """Whether the C extension is built."""
    return _render is not None


def enabled() -> bool:
    """Whether decode takes the C path: built, and not turned off."""
    return available() and os.environ.get(ENVIRONMENT, "1") != "0"


def block_indexer() -> IndexBlocks | None:
    """The C block indexer for ``events.parse_event``, when enabled."""
    return _render.index_blocks if enabled() else None


def _text(text: str) -> bytes:
    # Lone surrogates (from names) pass through; the C side decodes alike.
    return text.encode("utf-8", "surrogatepass")


class NativeRenderer:
    """The C renderer of one ``ValueRenderer``'s types.

    Nodes are made on demand, for the types of the variables planned and every
    type they reach, and handed to C in batches.
    """

    def __init__(self, values: ValueRenderer) -> None:
        self._values = values
        self._c = _render.Renderer(
            reasons=[_text(r) for r in sorted(AFTER_ADDRESS)],
            dynamic=self._dynamic,
            heap=values.heap_types.interface,
        )
        self._nodes: dict[int, int] = {}
        self._constants: dict[str, int] = {}
        self._holes: dict[tuple[int, int, Ranges], int | None] = {}
        self._pending: list[tuple[Any, ...] | None] = []
        self._done = 0
        """Nodes handed to C."""

    def value(self, type_id: int, offset: int, holes: Ranges = ()) -> Value | None:
        """The renderer of a root value of ``type_id`` at ``offset`` of the payload
        (``VariablePlan.text``) whose bytes have the fixed ``holes`` (payload
        ranges); None when C cannot render it (see ``_holed``)."""
        node = self._holed(type_id, offset, holes) if holes else self._node(type_id)
        if node is None:
            return None
        return partial(self._c.value, self._flush(node), offset)

    def scope(
        self, nodes: list[int | str], offsets: list[int], holes: list[Ranges] | None = None
    ) -> Scope | None:
        """The renderer of root values side by side, each of a type (an int) or a
        constant text (a str), at ``offsets`` of the payload (``plans._group``), with
        the fixed ``holes`` of each; None when C cannot render one."""
        made = []
        for i, (n, at) in enumerate(zip(nodes, offsets, strict=True)):
            if isinstance(n, str):
                made.append(self._constant(n))
                continue
            node = self._holed(n, at, holes[i]) if holes and holes[i] else self._node(n)
            if node is None:
                return None
            made.append(node)
        self._flush(0)
        return partial(self._c.scope, tuple(made), tuple(offsets))

    def _holed(self, type_id: int, off: int, holes: Ranges) -> int | None:
        """The node of a value of ``type_id`` at ``off`` of the payload, where
        ``holes`` (payload ranges) were not captured, as the Python renderers treat
        them: a value touching a hole is unavailable, but for a struct, whose fields
        are (each in turn). None for what C leaves to Python: an array partly in a
        hole, a time.Time without its usual fields."""
        key = (type_id, off, holes)
        if key in self._holes:
            return self._holes[key]
        v = self._values
        t = v.resolve(type_id)
        node: int | None
        width = t.size
        if isinstance(t, InterfaceType):
            width = 16
        elif isinstance(t, (MapType, ChanType, FuncType)):
            width = 8
        elif isinstance(t, StructType) and t.name == "time.Time":
            names = {f.name for f in t.fields}
            width = 16 if {"wall", "ext"} <= names else -1
        if v.redacted_type(type_id) or not v.overlaps(holes, off, off + max(width, t.size)):
            node = self._node(type_id)  # (a redacted type's text ignores holes)
        elif width < 0 or (isinstance(t, ArrayType) and not v.covered(holes, off, off + t.size)):
            node = None
        elif isinstance(t, StructType) and width == t.size and t.name != "time.Time":
            node = self._holed_struct(type_id, t, off, holes)
        elif v.overlaps(holes, off, off + width):
            node = self._constant(jsontext.value_text(v.name(type_id), "unavailable"))
        else:
            node = self._node(type_id)
        self._holes[key] = node
        return node

    def _holed_struct(self, type_id: int, t: StructType, off: int, holes: Ranges) -> int | None:
        """A struct partly or wholly in holes (``_holed``)."""
        v = self._values
        if v.covered(holes, off, off + t.size):
            return self._constant(jsontext.value_text(v.name(type_id), "unavailable"))
        fields = []
        for key, f in zip(field_keys(t), shown_fields(t), strict=True):
            constant = v.field_constant(f)
            node = -1 if constant is not None else self._holed(f.type, off + f.offset, holes)
            if node is None:
                return None
            fields.append(
                (
                    _text(jsontext.key(key)),
                    f.offset,
                    node,
                    None if constant is None else _text(constant),
                )
            )
        head = _text(jsontext.head(v.name(type_id)))
        return self._add((_render.K_STRUCT, t.size, head, fields))

    def snapshots(
        self,
        type_sizes: list[int],
        start: bytes,
        id_prefix: bytes,
        clock_offset_ns: int,
        truncated: bytes,
        no_entry: bytes,
        no_return: bytes,
        piece: Callable[..., str],
        stack: Callable[[bytes], str],
        context: Callable[..., RenderContext],
        summaries: Summaries | None = None,
    ) -> _render.Snapshots:
        """Whole snapshots of simple probes (``fastpath``), their values rendered
        with this renderer's table."""
        return _render.Snapshots(
            self._flush(self._c),
            type_sizes,
            start,
            id_prefix,
            clock_offset_ns,
            truncated,
            no_entry,
            no_return,
            piece,
            stack,
            context,
            summaries.c if summaries is not None else None,
        )

    def _flush(self, node: _T) -> _T:
        """Hand the nodes made so far to C; returns ``node`` (whatever it is)."""
        if self._pending:
            self._c.extend(self._pending)
            self._done += len(self._pending)
            self._pending = []
        return node

    def _add(self, spec: tuple[Any, ...] | None) -> int:
        self._pending.append(spec)
        return self._done + len(self._pending) - 1

    def _constant(self, text: str) -> int:
        node = self._constants.get(text)
        if node is None:
            node = self._constants[text] = self._add((_render.K_CONST, 0, b"", _text(text)))
        return node

    def _node(self, type_id: int) -> int:
        """The node of ``type_id``, made with the nodes it refers to."""
        node = self._nodes.get(type_id)
        if node is None:
            node = self._nodes[type_id] = self._add(None)  # reserved: types may recur
            self._pending[node - self._done] = self._spec(type_id)
        return node

    def _spec(self, type_id: int) -> tuple[Any, ...]:
        """A type's node, its kind as ``ValueRenderer._build`` dispatches it."""
        v = self._values
        r = _render
        t = v.resolve(type_id)
        name = v.name(type_id)
        head = jsontext.head(name)
        common = (t.size, _text(head))
        if v.redacted_type(type_id):
            return (r.K_CONST, *common, _text(jsontext.value_text(name, "redactedType")))
        if isinstance(t, BaseType):
            if t.go_kind == "bool":
                true, false = head + ',"value":"true"}', head + ',"value":"false"}'
                return (r.K_BOOL, *common, _text(true), _text(false))
            raw = RAW_FORMATS.get((t.go_kind, t.size))
            if raw is not None and t.go_kind in INT_KINDS:
                signed = raw.format[1:].islower()
                return (r.K_INT, *common, _text(head + ',"value":"'), signed)
            cache = v.scalar_cache(type_id)
            if cache is not None:
                return (r.K_CACHED, *common, *cache)
        elif isinstance(t, StringType):
            return (r.K_STRING, *common)
        elif isinstance(t, StructType) and t.name != "time.Time":
            fields = []
            for key, f in zip(field_keys(t), shown_fields(t), strict=True):
                constant = v.field_constant(f)
                fields.append(
                    (
                        _text(jsontext.key(key)),
                        f.offset,
                        -1 if constant is not None else self._node(f.type),
                        None if constant is None else _text(constant),
                    )
                )
            return (r.K_STRUCT, *common, fields)
        elif isinstance(t, ArrayType):
            stride = v.resolve(t.elem).size
            return (r.K_ARRAY, *common, self._node(t.elem), t.count, stride)
        elif isinstance(t, SliceType):
            stride = v.resolve(t.elem).size
            indices = v.value_indices(t.elem)
            path = v.slice_key_id(type_id)  # ctx.path key of its data (0: none)
            levels = v.slice_levels(type_id)
            return (r.K_SLICE, *common, self._node(t.elem), stride, indices, path, levels)
        elif isinstance(t, PointerType) and t.elem is not None and not v.pointer_shape(type_id):
            target = v.resolve(t.elem)
            return (
                r.K_POINTER,
                *common,
                self._node(t.elem),
                target.id,
                isinstance(target, NESTED_POINTEES),
                target.size == 0,
                len(_text(jsontext.head(v.name(t.elem)))),
                v.value_indices(t.elem),
                v.pointer_levels(t.elem),
            )
        elif isinstance(t, UnsafePointerType) or (
            isinstance(t, PointerType) and not v.pointer_shape(type_id)
        ):
            return (r.K_ADDRESS, *common)  # (a pointer whose target DWARF omits)
        # (a pointer shape go.shape.*uint8: its address and why, in Python)
        elif isinstance(t, FuncType):
            code = v.role_index("code", None)
            return (r.K_FUNC, *common, -1 if code is None else code, self._func_text(head, name))
        elif isinstance(t, InterfaceType):
            itab = None if t.empty else v.role_index("itab", None)
            return (r.K_IFACE, *common, t.empty, -1 if itab is None else itab)
        elif isinstance(t, MapType):
            return self._map(type_id, t, common)
        return (r.K_PYTHON, *common, v.renderer, type_id)

    def _func_text(self, head: str, name: str) -> Callable[[int], str]:
        """The text of a func value whose code is at a PC (``compile_func``)."""
        unknown = jsontext.value_text(name, "missing type information")
        function_name = self._values.function_name

        def text(pc: int) -> str:
            function = function_name(pc)
            if function is None:
                return unknown
            return head + ',"value":' + jsontext.quote(function) + "}"

        return text

    def _map(self, type_id: int, t: MapType, common: tuple[int, bytes]) -> tuple[Any, ...]:
        """A map's node (``compile_map``): swiss tables in C; the bucket layout
        in Python; without layout or header always unavailable."""
        v = self._values
        r = _render
        layout = t.layout
        header = v.role_index("map_header", t.id)
        name = v.name(type_id)
        if layout is None or header is None:
            return (r.K_CONST, *common, _text(jsontext.value_text(name, "unavailable")))
        if not isinstance(layout, SwissMapLayout):
            return (r.K_PYTHON, *common, v.renderer, type_id)
        ident = v.redaction.ident

        def redacted(key: bytes) -> bool:
            shown = shown_value(key)
            return shown is not None and ident(shown)

        def ix(role: str) -> int:
            found = v.role_index(role, t.id)
            return -1 if found is None else found

        offsets = (
            layout.used_offset,
            layout.dir_ptr_offset,
            layout.dir_len_offset,
            layout.groups_data_offset,
            layout.groups_length_mask_offset,
            layout.group_size,
            layout.ctrl_offset,
            layout.group_slots,
            layout.slots_offset,
            layout.slot_size,
            layout.key_offset,
            layout.elem_offset,
            layout.ctrl_empty,
            int(layout.key_indirect),
            int(layout.elem_indirect),
            layout.key_size,
            layout.elem_size,
            ix("map_group"),
            ix("map_table"),
            ix("map_directory"),
        )
        return (
            r.K_MAP,
            *common,
            self._node(t.key),
            self._node(t.value),
            header,
            v.value_indices(t.key),
            v.value_indices(t.value),
            isinstance(v.resolve(t.key), StringType),
            _text(jsontext.value_text(v.name(t.value), "redactedIdent")),
            redacted,
            offsets,
            path_key(0, v.resolve(t.id).id)[1],  # ctx.path key of its data
            3 + max(v.levels(t.key), v.levels(t.value)),  # entries, a pair, a value
        )

    def _dynamic(
        self, descriptor: int
    ) -> tuple[int, bool, tuple[int, ...], bytes, int, int, bool, bool] | None:
        """An interface's dynamic type, by its runtime type descriptor, for C: its
        node (made now, with the nodes it refers to), whether the data word is
        the value, the capture types of its values, its unavailable text, its
        resolved type id (the ``ctx.path`` key of a value), the levels the
        interface's hop adds (``compile_interface``), whether the hop reaches its
        pointee at no extra depth (direct, its ``direct_leaf`` a pointer or
        unsafe.Pointer) and whether it is zero-size (rendered from no bytes)."""
        v = self._values
        dyn = v.runtime_type(descriptor)
        if dyn is None:
            return None
        node = self._flush(self._node(dyn))
        target = v.resolve(dyn)
        direct = direct_iface(dyn, v.resolve)
        leaf = direct_leaf(dyn, v.resolve)
        return (
            node,
            direct,
            v.value_indices(dyn),
            _text(jsontext.value_text(v.name(dyn), "unavailable")),
            target.id,
            2 + v.levels(dyn),  # fields, data, the value
            direct and isinstance(leaf, PointerType | UnsafePointerType),
            target.size == 0,
        )
