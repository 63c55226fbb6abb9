"""The default one-line message of a snapshot: ``main.greet(name="gopher", times=2)``.

Built from the rendered argument values and their IR types: scalars bare, strings
quoted, nil as ``nil``, structs ``{X: 3, Y: -4}`` (at most ``MAX_FIELDS`` fields),
collections ``[1, 2, 3, ...]`` (at most ``MAX_ITEMS`` items), pointers ``&{...}``,
values not captured ``<reason>``. Nesting deeper than ``MAX_LEVEL`` is elided.

A summary never looks past ``MAX_ITEMS + 1`` elements or entries or
``MAX_FIELDS + 1`` fields, so a value rendered with ``summary_limits`` (at most
that many) has the same summary as the value the snapshot shows: decode renders big
values again within those limits for the message, rather than reading back their
whole text.
"""

from __future__ import annotations

import json

import msgspec

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
from ..snapshot import CapturedValue
from ..spec import Capture
from .values import NESTED_POINTEES, ValueRenderer, shown_fields

MAX_FIELDS = 5
MAX_ITEMS = 3
MAX_LEVEL = 2

# Reasons that cut a value short but leave a partial value to show.
_PARTIAL = frozenset({"length", "collectionSize", "fieldCount"})


_quote = json.JSONEncoder(ensure_ascii=False).encode


def summary_limits(limits: Capture) -> Capture:
    """``limits`` cut down to what a summary can show (see the module's docstring)."""
    return msgspec.structs.replace(
        limits,
        max_collection_size=min(limits.max_collection_size, MAX_ITEMS + 1),
        max_field_count=min(limits.max_field_count, MAX_FIELDS + 1),
    )


def call(function: str, pieces: list[str]) -> str:
    """``function(name=summary, ...)`` from the ``name=summary`` pieces."""
    return f"{function}({', '.join(pieces)})"


def returns(pieces: list[str]) -> str:
    """What a call returned: `` -> summary`` for one result (its piece is the bare
    summary), `` -> (name=summary, ...)`` for several."""
    if not pieces:
        return ""
    if len(pieces) == 1:
        return " -> " + pieces[0]
    return f" -> ({', '.join(pieces)})"


class MessageFormatter:
    """Summarises captured values; needs the renderer for the IR types."""

    def __init__(self, renderer: ValueRenderer) -> None:
        self._r = renderer

    def summary(self, type_id: int, v: CapturedValue, level: int = 0) -> str:
        """A short rendering of ``v``, a value of IR type ``type_id``."""
        if v.isNull:
            return "nil"
        reason = v.notCapturedReason
        if reason is not None and reason not in _PARTIAL:
            return f"<{reason}>"
        t = self._r.resolve(type_id)
        kind = type(t)
        if kind is BaseType:
            return v.value or ""
        if kind is StringType:
            return _quote(v.value or "") + ("..." if v.truncated else "")
        if isinstance(t, StructType):
            if level >= MAX_LEVEL:
                return "{...}"
            fields = v.fields or {}
            # Rendered fields are the first declared ones, in order.
            parts = [
                f"{k}: {self.summary(f.type, fv, level + 1)}"
                for f, (k, fv) in zip(shown_fields(t)[:MAX_FIELDS], fields.items(), strict=False)
            ]
            if len(fields) > MAX_FIELDS or reason == "fieldCount":
                parts.append("...")
            return "{" + ", ".join(parts) + "}"
        if isinstance(t, (ArrayType, SliceType)):
            if level >= MAX_LEVEL:
                return "[...]"
            elements = v.elements or []
            parts = [self.summary(t.elem, e, level + 1) for e in elements[:MAX_ITEMS]]
            if len(elements) > MAX_ITEMS or v.truncated:
                parts.append("...")
            return "[" + ", ".join(parts) + "]"
        if isinstance(t, PointerType):
            if t.elem is None:
                return v.address or "?"
            if isinstance(self._r.resolve(t.elem), NESTED_POINTEES):
                inner = (v.fields or {}).get("*")
                return "&" + (self.summary(t.elem, inner, level) if inner else "?")
            return "&" + self.summary(t.elem, v, level)
        if isinstance(t, UnsafePointerType):
            return v.address or "?"
        if isinstance(t, MapType):
            if level >= MAX_LEVEL:
                return "map[...]"
            entries = v.entries or []
            items = [
                f"{self.summary(t.key, k, level + 1)}: {self.summary(t.value, e, level + 1)}"
                for k, e in entries[:MAX_ITEMS]
            ]
            if len(entries) > MAX_ITEMS or v.truncated:
                items.append("...")
            return "map[" + ", ".join(items) + "]"
        if isinstance(t, ChanType):
            return f"chan(len={v.len}, cap={v.cap})"
        if isinstance(t, InterfaceType):
            data = (v.fields or {}).get("data")
            dyn = self._r.type_named(data.type) if data is not None else None
            if data is None or dyn is None:
                return "?"
            return self.summary(dyn, data, level)
        return v.value or "?"
