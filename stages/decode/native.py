"""The decode fast path in C (``_render``): blocks indexed and whole value trees
rendered without a Python call per value.

The Python renderers (``values``, ``generated``, ``runtime_values``) are the
reference; the C code mirrors them and gives byte for byte the same text. It
covers the common kinds: bools, integers, strings, structs, arrays, slices and
pointers. Floats, ``uintptr`` and ``complex64`` take their text from the Python
renderer's cache of their type; every other kind (maps, interfaces, channels,
funcs, ``time.Time``, ``unsafe.Pointer``, ``complex128``...) is rendered by its
Python renderer, called from C, and variables with holes in their bytes render
in Python altogether.

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

from ..ir import (
    ArrayType,
    BaseType,
    PointerType,
    SliceType,
    StringType,
    StructType,
)
from . import jsontext
from .events import IndexBlocks
from .summaries import Summaries
from .values import (
    AFTER_ADDRESS,
    INT_KINDS,
    NESTED_POINTEES,
    RAW_FORMATS,
    RenderContext,
    ValueRenderer,
    field_keys,
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
        self._c = _render.Renderer(reasons=[_text(r) for r in sorted(AFTER_ADDRESS)])
        self._nodes: dict[int, int] = {}
        self._constants: dict[str, int] = {}
        self._pending: list[tuple[Any, ...] | None] = []
        self._done = 0
        """Nodes handed to C."""

    def value(self, type_id: int, offset: int) -> Value:
        """The renderer of a root value of ``type_id`` at ``offset`` of the payload
        (``VariablePlan.text`` without holes)."""
        return partial(self._c.value, self._flush(self._node(type_id)), offset)

    def scope(self, nodes: list[int | str], offsets: list[int]) -> Scope:
        """The renderer of root values side by side, each of a type (an int) or a
        constant text (a str), at ``offsets`` of the payload (``plans._group``)."""
        made = tuple(self._node(n) if isinstance(n, int) else self._constant(n) for n in nodes)
        self._flush(0)
        return partial(self._c.scope, made, tuple(offsets))

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
            for key, f in zip(field_keys(t), t.fields, strict=True):
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
            return (r.K_SLICE, *common, self._node(t.elem), stride, indices)
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
            )
        return (r.K_PYTHON, *common, v.renderer, type_id)
