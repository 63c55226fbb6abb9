"""Message summaries in C (``_render.Summaries``, written in ``_summary.c``).

``MessageFormatter.summary`` is the reference: it reads a value's text back into
a ``CapturedValue`` and walks it with the value's IR type, in Python, once per
value a message shows; on real programs (a pointer to a struct with a few
hundred fields below it) that costs more than the rest of decoding. The C code
walks the same text without building objects and gives the same summary, or
declines (None) where it does not read the text as a renderer writes it; the
Python formatter then does it.

This module builds the C table: one node per IR type the summaries reach, its kind
as ``summary`` dispatches it and the nodes of the types it holds (a struct's
first ``MAX_FIELDS`` declared fields). An interface's dynamic type is found by
name (``ValueRenderer.type_named``) when C meets it, and added then.
"""

from __future__ import annotations

from typing import Any

from ..ir import (
    ArrayType,
    BaseType,
    ChanType,
    InterfaceType,
    MapType,
    PointerType,
    SliceType,
    StringType,
    StructType,
    UnsafePointerType,
)
from .message import MAX_FIELDS, MAX_ITEMS, MAX_LEVEL
from .values import NESTED_POINTEES, ValueRenderer, shown_fields

try:
    from . import _render
except ImportError:  # not built
    _render = None  # type: ignore[assignment]

# mirrors _summary.c
S_BASE, S_STRING, S_STRUCT, S_ARRAY, S_POINTER, S_UNSAFE, S_MAP, S_CHAN, S_IFACE, S_OTHER = range(
    10
)


class Summaries:
    """The C summariser of one ``ValueRenderer``'s types."""

    def __init__(self, values: ValueRenderer) -> None:
        self._values = values
        self.c = _render.Summaries(
            named=self._named, max_fields=MAX_FIELDS, max_items=MAX_ITEMS, max_level=MAX_LEVEL
        )
        self._nodes: dict[int, int] = {}
        self._pending: list[tuple[Any, ...] | None] = []
        self._done = 0

    def node(self, type_id: int) -> int:
        """The node of ``type_id`` (made, with the nodes it reaches, and handed to C)."""
        node = self._node(type_id)
        self._flush()
        return node

    def summary(self, type_id: int, text: str) -> str | None:
        """The summary of a value of ``type_id`` whose text is ``text``, or None
        where C declines."""
        return self.c.summary(self.node(type_id), text.encode("utf-8", "surrogatepass"))

    def _named(self, name: str) -> int:
        """The node of the type called ``name`` (an interface's dynamic type), -1
        when the IR has none."""
        type_id = self._values.type_named(name)
        return -1 if type_id is None else self.node(type_id)

    def _flush(self) -> None:
        if self._pending:
            self.c.extend(self._pending)
            self._done += len(self._pending)
            self._pending = []

    def _node(self, type_id: int) -> int:
        node = self._nodes.get(type_id)
        if node is None:
            self._pending.append(None)  # reserved: types may recur
            node = self._nodes[type_id] = self._done + len(self._pending) - 1
            self._pending[node - self._done] = self._spec(type_id)
        return node

    def _spec(self, type_id: int) -> tuple[Any, ...]:
        """A type's node, its kind as ``MessageFormatter.summary`` dispatches it."""
        t = self._values.resolve(type_id)
        kind = type(t)
        if kind is BaseType:
            return (S_BASE, 0, 0, ())
        if kind is StringType:
            return (S_STRING, 0, 0, ())
        if isinstance(t, StructType):
            fields = tuple(self._node(f.type) for f in shown_fields(t)[:MAX_FIELDS])
            return (S_STRUCT, 0, 0, fields)
        if isinstance(t, (ArrayType, SliceType)):
            return (S_ARRAY, self._node(t.elem), 0, ())
        if isinstance(t, PointerType):
            if t.elem is None:
                return (S_POINTER, -1, 0, ())
            nested = isinstance(self._values.resolve(t.elem), NESTED_POINTEES)
            return (S_POINTER, self._node(t.elem), int(nested), ())
        if isinstance(t, UnsafePointerType):
            return (S_UNSAFE, 0, 0, ())
        if isinstance(t, MapType):
            return (S_MAP, self._node(t.key), self._node(t.value), ())
        if isinstance(t, ChanType):
            return (S_CHAN, 0, 0, ())
        if isinstance(t, InterfaceType):
            return (S_IFACE, 0, 0, ())
        return (S_OTHER, 0, 0, ())
