"""The bytes of a value that hold something redacted, zeroed before a record leaves BPF.

A struct field whose name is redacted, or a value whose type is, is shown
``redactedIdent``/``redactedType`` by decode without its bytes; nothing it refers
to is followed (``captypes``). Its own bytes, though, sit inline in the struct,
array, map bucket or root that is copied whole: an ``int`` PIN, a ``[16]byte``
password, an inline struct. ``RedactedBytes.ranges`` says where they are in a value
of a type, as ``(offset, size)`` ranges, sorted and merged; codegen zeroes them in
the root (``roots``) and the walker in every copied element (``SLOT_ZERO``).

A type without redacted parts costs nothing: its ranges are empty.
"""

from __future__ import annotations

from ..ir import ArrayType, StructType, TypeIndex
from ..redaction import Redaction

__all__ = ["MAX_RANGES", "RedactedBytes", "chunks", "merge"]

MAX_RANGES = 64
"""Ranges kept for one type: an array whose elements would give more is zeroed
from its first redacted byte to its last (plain bytes between them included)."""


def merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` sorted, with those that touch or overlap joined; empty ones dropped."""
    out: list[tuple[int, int]] = []
    for at, n in sorted(r for r in ranges if r[1] > 0):
        if out and at <= out[-1][0] + out[-1][1]:
            last_at, last_n = out[-1]
            out[-1] = (last_at, max(last_n, at + n - last_at))
        else:
            out.append((at, n))
    return out


def chunks(ranges: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """``ranges`` cut into pieces of at most ``most`` bytes."""
    return [(at + k, min(most, n - k)) for at, n in ranges for k in range(0, n, most)]


class RedactedBytes:
    """Redacted byte ranges of values of each IR type, under ``redaction``."""

    def __init__(self, types: TypeIndex, redaction: Redaction) -> None:
        self._types = types
        self._redaction = redaction
        self._memo: dict[int, tuple[tuple[int, int], ...]] = {}

    def type_redacted(self, type_id: int) -> bool:
        """Whether values of ``type_id`` are redacted by their type's name (as it is
        spelled, or once resolved)."""
        redacted = self._redaction.type
        return redacted(self._types[type_id].name) or redacted(self._types.resolve(type_id).name)

    def ranges(self, type_id: int) -> tuple[tuple[int, int], ...]:
        """The ``(offset, size)`` ranges of a value of ``type_id`` to zero."""
        known = self._memo.get(type_id)
        if known is not None:
            return known
        self._memo[type_id] = ()  # a type cannot contain itself by value
        t = self._types.resolve(type_id)
        found: list[tuple[int, int]] = []
        if self.type_redacted(type_id):
            found = [(0, t.size)]
        elif isinstance(t, StructType):
            for f in t.fields:
                if self._redaction.ident(f.name):
                    found.append((f.offset, self._types.resolve(f.type).size))
                else:
                    found += [(f.offset + at, n) for at, n in self.ranges(f.type)]
        elif isinstance(t, ArrayType) and t.count > 0:
            elem = self.ranges(t.elem)
            if elem:
                size = self._types.resolve(t.elem).size
                if len(elem) * t.count <= MAX_RANGES:
                    found = [(i * size + at, n) for i in range(t.count) for at, n in elem]
                else:
                    first, (last_at, last_n) = elem[0][0], elem[-1]
                    found = [(first, (t.count - 1) * size + last_at + last_n - first)]
        merged = merge(found)
        if len(merged) > MAX_RANGES:
            merged = [(merged[0][0], merged[-1][0] + merged[-1][1] - merged[0][0])]
        result = tuple(merged)
        self._memo[type_id] = result
        return result

    def at(self, members: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The ranges of values of the given (IR type, offset) members, merged."""
        return merge([(off + at, n) for type_id, off in members for at, n in self.ranges(type_id)])
