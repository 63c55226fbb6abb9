"""The capture type table that drives the BPF walker.

Each IR type the walker may copy gets one entry: its element size and the
references (pointers, strings, slices) inside one element, flattened through
structs and arrays to byte offsets. Entry 0 is raw bytes (string contents).
"""

from __future__ import annotations

from ..ir import (
    ArrayType,
    PointerType,
    SliceType,
    StringType,
    StructType,
    TypeIndex,
)
from ..layout import BYTES_TYPE, SLOT_POINTER, SLOT_SLICE, SLOT_STRING, BpfSlot, BpfType

MAX_SLOTS = 32
"""Must equal GODI_MAX_SLOTS in bpf/godi.h."""


class CaptureTypes:
    """Builds the table; ``index_of`` adds an IR type (and what it references)."""

    def __init__(self, types: TypeIndex) -> None:
        self._types = types
        self._index: dict[int, int] = {}
        self._entries: list[BpfType | None] = [BpfType(index=BYTES_TYPE, ir_type=None, size=1)]

    def index_of(self, type_id: int) -> int:
        """The capture type index for IR type ``type_id``, creating it if needed."""
        resolved = self._types.resolve(type_id)
        key = resolved.id
        if key in self._index:
            return self._index[key]
        idx = len(self._entries)
        self._index[key] = idx
        self._entries.append(None)  # reserved: recursive types refer to idx
        slots, truncated = self.slots_of([(type_id, 0)])
        self._entries[idx] = BpfType(
            index=idx, ir_type=key, size=resolved.size, slots=slots, slots_truncated=truncated
        )
        return idx

    def add_root(self, size: int, members: list[tuple[int, int]]) -> int:
        """A synthetic root type for a probe: ``members`` are (IR type, offset)."""
        idx = len(self._entries)
        self._entries.append(None)
        slots, truncated = self.slots_of(members)
        self._entries[idx] = BpfType(
            index=idx, ir_type=None, size=size, slots=slots, slots_truncated=truncated
        )
        return idx

    def slots_of(self, members: list[tuple[int, int]]) -> tuple[list[BpfSlot], bool]:
        """Flattened references of values of the given types at the given offsets."""
        out: list[BpfSlot] = []
        truncated = False

        def visit(type_id: int, offset: int) -> None:
            nonlocal truncated
            if len(out) >= MAX_SLOTS:
                truncated = True
                return
            t = self._types.resolve(type_id)
            if isinstance(t, PointerType):
                if t.elem is not None and self._types.resolve(t.elem).size > 0:
                    out.append(BpfSlot(offset=offset, kind=SLOT_POINTER, target=-1 - t.elem))
            elif isinstance(t, StringType):
                out.append(BpfSlot(offset=offset, kind=SLOT_STRING, target=BYTES_TYPE))
            elif isinstance(t, SliceType):
                if self._types.resolve(t.elem).size > 0:
                    out.append(BpfSlot(offset=offset, kind=SLOT_SLICE, target=-1 - t.elem))
            elif isinstance(t, StructType):
                for f in t.fields:
                    visit(f.type, offset + f.offset)
            elif isinstance(t, ArrayType):
                elem = self._types.resolve(t.elem)
                for i in range(t.count):
                    if len(out) >= MAX_SLOTS:
                        truncated = True
                        break
                    visit(t.elem, offset + i * elem.size)

        for type_id, offset in members:
            visit(type_id, offset)
        # Targets were recorded as -1 - ir_type so that recursion happens after the
        # slots of this type are complete (a type may point at itself).
        resolved = [
            BpfSlot(offset=s.offset, kind=s.kind, target=self.index_of(-1 - s.target))
            if s.target < 0
            else s
            for s in out
        ]
        return resolved, truncated

    def slots_of_index(self, index: int) -> list[BpfSlot]:
        """The references of capture type ``index``."""
        entry = self._entries[index]
        assert entry is not None
        return entry.slots

    def table(self) -> list[BpfType]:
        """The finished table, in index order."""
        assert all(e is not None for e in self._entries)
        return [e for e in self._entries if e is not None]
