"""The capture type table that drives the BPF walker.

Each entry is what the walker copies from one address: an element size and the
references inside one element (pointers, strings, slices, maps, channels, funcs,
interfaces), flattened through structs and arrays to byte offsets. Entry 0 is
raw bytes (string contents). Besides Go values (``role`` "value"), maps, channels,
funcs and interfaces bring runtime structures: a map's header, buckets or
swiss-table groups, a channel's ``hchan``, a func's code pointer, an itab.

An entry whose elements hold redacted bytes inline (``redacted``: a field named
like a secret, a value of a redacted type) lists them first, after a map's key
guards, as ``SLOT_ZERO`` slots: the walker zeroes them in each copied element
before it follows anything or sends the record. They are never cut; an entry
with more of them than slots is not copied at all.
"""

from __future__ import annotations

from ..abi import direct_iface, direct_leaf
from ..ir import (
    ArrayType,
    BucketMapLayout,
    ChanType,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    SliceType,
    StringType,
    StructType,
    SwissMapLayout,
    TypeIndex,
    UnsafePointerType,
)
from ..layout import (
    BYTES_TYPE,
    RFIELD_SIZE,
    RNAME_COPY,
    RTYPE_ANY,
    RTYPE_COPY,
    RTYPE_ELEM,
    RTYPE_FIELDS,
    RTYPE_VALUE,
    SLOT_ARRAY_LOG2,
    SLOT_ARRAY_MASK,
    SLOT_EFACE,
    SLOT_IFACE,
    SLOT_INLINE,
    SLOT_KEY_GUARD,
    SLOT_MORE,
    SLOT_POINTER,
    SLOT_REF,
    SLOT_RTYPE,
    SLOT_SLICE,
    SLOT_STRING,
    SLOT_SWISS_DIR,
    SLOT_SWISS_SMALL,
    SLOT_ZERO,
    BpfSlot,
    BpfType,
    RuntimeTypeEntry,
)
from ..redaction import current as current_redaction
from .redacted import RedactedBytes, chunks

MAX_SLOTS = 128
"""Slots of one entry; must equal GODI_MAX_SLOTS in bpf/godi.h. An element with more
references chains further entries (``SLOT_MORE``), up to ``MAX_ELEMENT_SLOTS``."""

MAX_ELEMENT_SLOTS = 1024
"""References followed per element, all entries of its chain together (the walker
has GODI_MAX_STEPS, 65,536, steps per event: an element of this many references
takes a 64th of them)."""

INLINE_ARRAY_OVER = 16
"""An array inside an element whose elements hold more references than this in all
is one ``SLOT_INLINE`` (scanned in place, at most maxCollectionSize elements) rather
than one slot per reference."""
ZERO_CHUNK = 256
"""Bytes one SLOT_ZERO slot zeroes at most (struct godi_zeros in bpf/godi.h)."""

_Key = tuple[str, int]
"""(role, IR type id) of a capture type."""


class CaptureTypes:
    """Builds the table; ``index_of`` adds an IR type (and what it references)."""

    def __init__(self, types: TypeIndex) -> None:
        self._types = types
        self._redaction = current_redaction()
        self.redacted = RedactedBytes(types, self._redaction)
        self._refs: dict[int, bool] = {}
        self._flat: dict[int, int] = {}
        self._index: dict[_Key, int] = {}
        self._entries: list[BpfType | None] = [BpfType(index=BYTES_TYPE, ir_type=None, size=1)]

    # -- entries ----------------------------------------------------------------

    def index_of(self, type_id: int) -> int:
        """The capture type index for values of IR type ``type_id``."""
        resolved = self._types.resolve(type_id)
        return self._entry(("value", resolved.id), resolved.size, [(type_id, 0)])

    def _entry(
        self,
        key: _Key,
        size: int,
        members: list[tuple[int, int]],
        extra: list[BpfSlot] | None = None,
        guards: list[BpfSlot] | None = None,
    ) -> int:
        if key in self._index:
            return self._index[key]
        idx = len(self._entries)
        self._index[key] = idx
        self._entries.append(None)  # reserved: recursive types refer to idx
        slots, truncated = self.slots_of(members)
        zeros = [
            BpfSlot(offset=at, kind=SLOT_ZERO, target=BYTES_TYPE, shift=n)
            for at, n in chunks(self.redacted.at(members), ZERO_CHUNK)
        ]
        first = (guards or []) + zeros
        if len(first) > MAX_SLOTS:
            # Its secrets could not all be zeroed: never copied (size 0).
            self._entries[idx] = BpfType(
                index=idx,
                ir_type=key[1] if key[1] >= 0 else None,
                role=key[0],
                size=0,
                slots_truncated=True,
            )
            return idx
        # Guards (GODI_GUARDS of them at most), then zeros, first and never cut, in
        # the first entry of the chain: a value is followed only after its key's
        # check, and nothing leaves BPF before the element's redacted bytes are
        # zeroed (the walker drops a block whose first entry it did not finish; a
        # SLOT_MORE entry is scanned later). A first entry full of them chains none.
        most = MAX_SLOTS if len(first) == MAX_SLOTS else MAX_ELEMENT_SLOTS
        room = most - len(first)
        truncated = truncated or len(slots) > room
        slots = first + slots[:room]
        if extra:
            room = most - len(slots)
            truncated = truncated or len(extra) > room
            slots = slots + extra[:room]
        self._entries[idx] = BpfType(
            index=idx,
            ir_type=key[1] if key[1] >= 0 else None,
            role=key[0],
            size=size,
            slots=self._chained(slots, size),
            slots_truncated=truncated,
        )
        return idx

    def _chained(self, slots: list[BpfSlot], size: int) -> list[BpfSlot]:
        """``slots`` as one entry holds them: past MAX_SLOTS, the last is a
        ``SLOT_MORE`` to an entry (role ``more``) with the rest, and so on."""
        if len(slots) <= MAX_SLOTS:
            return slots
        idx = len(self._entries)
        self._entries.append(None)
        rest = self._chained(slots[MAX_SLOTS - 1 :], size)
        self._entries[idx] = BpfType(index=idx, ir_type=None, role="more", size=size, slots=rest)
        return [*slots[: MAX_SLOTS - 1], BpfSlot(offset=0, kind=SLOT_MORE, target=idx)]

    def _raw(self, role: str, ir_type: int, size: int) -> int:
        """An entry copied for its bytes only (an hchan, a code pointer, an itab)."""
        return self._entry((role, ir_type), size, [])

    def add_root(self, size: int, members: list[tuple[int, int]]) -> int:
        """A synthetic root type for a probe: ``members`` are (IR type, offset).
        Its redacted bytes are zeroed by the probe's code (``roots``)."""
        idx = len(self._entries)
        self._entries.append(None)
        slots, truncated = self.slots_of(members)
        self._entries[idx] = BpfType(
            index=idx,
            ir_type=None,
            role="root",
            size=size,
            slots=self._chained(slots, size),
            slots_truncated=truncated,
        )
        return idx

    # -- maps -------------------------------------------------------------------

    def _map_header(self, t: MapType) -> int | None:
        layout = t.layout
        if isinstance(layout, BucketMapLayout):
            bucket = self._bucket(t, layout)
            return self._entry(
                ("map_header", t.id),
                layout.header_size,
                [],
                [
                    BpfSlot(
                        offset=layout.buckets_offset,
                        kind=SLOT_ARRAY_LOG2,
                        target=bucket,
                        aux=layout.log2_buckets_offset,
                        shift=0,
                    ),
                    BpfSlot(
                        offset=layout.old_buckets_offset,
                        kind=SLOT_ARRAY_LOG2,
                        target=bucket,
                        aux=layout.log2_buckets_offset,
                        shift=1,
                    ),
                ],
            )
        if isinstance(layout, SwissMapLayout):
            group = self._group(t, layout)
            table = self._entry(
                ("map_table", t.id),
                layout.table_size,
                [],
                [
                    BpfSlot(
                        offset=layout.groups_data_offset,
                        kind=SLOT_ARRAY_MASK,
                        target=group,
                        aux=layout.groups_length_mask_offset,
                    )
                ],
            )
            directory = self._entry(
                ("map_directory", t.id), 8, [], [BpfSlot(offset=0, kind=SLOT_REF, target=table)]
            )
            return self._entry(
                ("map_header", t.id),
                layout.header_size,
                [],
                [
                    BpfSlot(
                        offset=layout.dir_ptr_offset,
                        kind=SLOT_SWISS_SMALL,
                        target=group,
                        aux=layout.dir_len_offset,
                    ),
                    BpfSlot(
                        offset=layout.dir_ptr_offset,
                        kind=SLOT_SWISS_DIR,
                        target=directory,
                        aux=layout.dir_len_offset,
                    ),
                ],
            )
        return None

    def _guards(self, t: MapType, slots: list[tuple[int, int, int]]) -> list[BpfSlot]:
        """Key guards of a bucket or group: for each (key offset, value offset,
        value size) of its slots when the keys are strings, the values not empty and
        some identifier is redacted."""
        if not self._redaction.identifiers or not isinstance(
            self._types.resolve(t.key), StringType
        ):
            return []
        return [
            BpfSlot(offset=k, kind=SLOT_KEY_GUARD, target=BYTES_TYPE, aux=v, shift=n)
            for k, v, n in slots
            if n > 0
        ]

    def _slot_members(
        self, type_id: int, size: int, indirect: bool, offset: int
    ) -> tuple[list[tuple[int, int]], list[BpfSlot]]:
        """References of a key or value stored in a bucket/group slot."""
        if indirect:
            target = self.index_of(type_id)
            return [], [BpfSlot(offset=offset, kind=SLOT_REF, target=target)]
        return [(type_id, offset)], []

    def _bucket(self, t: MapType, layout: BucketMapLayout) -> int:
        key = ("map_bucket", t.id)
        if key in self._index:
            return self._index[key]
        members: list[tuple[int, int]] = []
        extra: list[BpfSlot] = []
        for i in range(layout.bucket_slots):
            for type_id, size, indirect, base in (
                (t.key, layout.key_size, layout.key_indirect, layout.keys_offset),
                (t.value, layout.value_size, layout.value_indirect, layout.values_offset),
            ):
                m, e = self._slot_members(type_id, size, indirect, base + i * size)
                members += m
                extra += e
        guards = self._guards(
            t,
            [
                (
                    layout.keys_offset + i * layout.key_size,
                    layout.values_offset + i * layout.value_size,
                    layout.value_size,
                )
                for i in range(layout.bucket_slots)
            ],
        )
        # The overflow bucket comes last so that a full slot list drops it first.
        idx = len(self._entries)
        extra.append(BpfSlot(offset=layout.overflow_offset, kind=SLOT_REF, target=idx))
        # (_entry reserves ``idx`` for the bucket before any chained entry.)
        return self._entry(key, layout.bucket_size, members, extra, guards)

    def _group(self, t: MapType, layout: SwissMapLayout) -> int:
        members: list[tuple[int, int]] = []
        extra: list[BpfSlot] = []
        for i in range(layout.group_slots):
            base = layout.slots_offset + i * layout.slot_size
            for type_id, size, indirect, off in (
                (t.key, layout.key_size, layout.key_indirect, layout.key_offset),
                (t.value, layout.elem_size, layout.elem_indirect, layout.elem_offset),
            ):
                m, e = self._slot_members(type_id, size, indirect, base + off)
                members += m
                extra += e
        guards = self._guards(
            t,
            [
                (
                    layout.slots_offset + i * layout.slot_size + layout.key_offset,
                    layout.slots_offset + i * layout.slot_size + layout.elem_offset,
                    layout.elem_size,
                )
                for i in range(layout.group_slots)
            ],
        )
        return self._entry(("map_group", t.id), layout.group_size, members, extra, guards)

    # -- references -------------------------------------------------------------

    def slots_of(self, members: list[tuple[int, int]]) -> tuple[list[BpfSlot], bool]:
        """Flattened references of values of the given types at the given offsets."""
        pending: list[tuple[int, int, int, object]] = []  # (offset, kind, aux, target spec)
        truncated = False

        def add(offset: int, kind: int, spec: object, aux: int = 0) -> None:
            nonlocal truncated
            if len(pending) >= MAX_ELEMENT_SLOTS:
                truncated = True
            else:
                pending.append((offset, kind, aux, spec))

        def visit(type_id: int, offset: int) -> None:
            nonlocal truncated
            if len(pending) >= MAX_ELEMENT_SLOTS:
                truncated = True
                return
            t = self._types.resolve(type_id)
            redacted = self._redaction.type
            if redacted(self._types[type_id].name) or redacted(t.name):
                return  # redacted: what it refers to is never copied
            if isinstance(t, PointerType):
                if t.elem is not None and self._types.resolve(t.elem).size > 0:
                    add(offset, SLOT_POINTER, ("value", t.elem))
            elif isinstance(t, StringType):
                add(offset, SLOT_STRING, BYTES_TYPE)
            elif isinstance(t, SliceType):
                if self._types.resolve(t.elem).size > 0:
                    add(offset, SLOT_SLICE, ("value", t.elem))
            elif isinstance(t, MapType):
                if t.layout is not None:
                    add(offset, SLOT_REF, ("map_header", t.id))
            elif isinstance(t, ChanType):
                if t.layout is not None:
                    add(offset, SLOT_REF, ("chan", t.id))
            elif isinstance(t, FuncType):
                add(offset, SLOT_REF, ("code", t.id))
            elif isinstance(t, InterfaceType):
                if t.empty:
                    add(offset, SLOT_EFACE, BYTES_TYPE)
                else:
                    add(offset, SLOT_IFACE, ("itab", t.id))
            elif isinstance(t, StructType):
                for f in t.fields:
                    if not self._redaction.ident(f.name):
                        visit(f.type, offset + f.offset)
            elif isinstance(t, ArrayType) and self._has_refs(t.elem):
                elem = self._types.resolve(t.elem)
                if t.count > 1 and self._flat_refs(t.id) > INLINE_ARRAY_OVER:
                    add(offset, SLOT_INLINE, ("value", t.elem), aux=t.count)
                    return
                for i in range(t.count):
                    if len(pending) >= MAX_ELEMENT_SLOTS:
                        truncated = True
                        break
                    visit(t.elem, offset + i * elem.size)

        for type_id, offset in members:
            visit(type_id, offset)
        # Targets are resolved after the walk so that a type may refer to itself.
        slots = []
        for offset, kind, aux, spec in pending:
            target = self._target(spec)
            if target is not None:
                slots.append(BpfSlot(offset=offset, kind=kind, target=target, aux=aux))
        return slots, truncated

    def _flat_refs(self, type_id: int) -> int:
        """How many slots one value of ``type_id`` flattens to (at most a bound:
        enough to compare with INLINE_ARRAY_OVER)."""
        t = self._types.resolve(type_id)
        known = self._flat.get(t.id)
        if known is None:
            self._flat[t.id] = 0  # a type cannot contain itself by value
            if isinstance(t, StructType):
                known = sum(self._flat_refs(f.type) for f in t.fields)
            elif isinstance(t, ArrayType):
                known = t.count * self._flat_refs(t.elem) if t.count else 0
            else:
                known = 1 if self._has_refs(t.id) else 0
            known = min(known, MAX_ELEMENT_SLOTS + 1)
            self._flat[t.id] = known
        return known

    def _has_refs(self, type_id: int) -> bool:
        """Whether values of ``type_id`` hold anything ``slots_of`` follows: an array
        of plain values (``[1 << 20]uint64``) is not walked element by element."""
        t = self._types.resolve(type_id)
        known = self._refs.get(t.id)
        if known is None:
            self._refs[t.id] = False  # a type cannot contain itself by value
            if isinstance(t, StructType):
                known = any(self._has_refs(f.type) for f in t.fields)
            elif isinstance(t, ArrayType):
                known = t.count > 0 and self._has_refs(t.elem)
            else:
                known = isinstance(
                    t,
                    PointerType
                    | StringType
                    | SliceType
                    | MapType
                    | ChanType
                    | FuncType
                    | InterfaceType,
                )
            self._refs[t.id] = known
        return known

    def _target(self, spec: object) -> int | None:
        if isinstance(spec, int):
            return spec
        assert isinstance(spec, tuple)
        role, type_id = spec
        if role == "value":
            return self.index_of(type_id)
        t = self._types.resolve(type_id)
        if role == "map_header" and isinstance(t, MapType):
            return self._map_header(t)
        if role == "chan" and isinstance(t, ChanType) and t.layout is not None:
            return self._raw("chan", t.id, t.layout.header_size)
        if role == "code":
            return self._raw("code", -1, 8)
        if role == "itab":
            return self._raw("itab", -1, 16)
        return None

    # -- interfaces -------------------------------------------------------------

    def runtime_type(self, address: int, type_id: int) -> RuntimeTypeEntry:
        """What the walker copies for an interface whose dynamic type is ``type_id``:
        the data word is the value itself for pointer-shaped types, else a pointer
        to a copy of it."""
        t = self._types.resolve(type_id)
        if direct_iface(type_id, self._types.resolve) and self.redacted.ranges(type_id):
            # Its one pointer is redacted (by a field's name or a type): not followed.
            return RuntimeTypeEntry(address=address, type=type_id, capture_type=None)
        if direct_iface(type_id, self._types.resolve):
            # A struct of one pointer (an array of one): the data word is that
            # pointer, and what it refers to is copied as for the pointer itself.
            t = direct_leaf(type_id, self._types.resolve)
        target: int | None
        if isinstance(t, PointerType):
            target = self.index_of(t.elem) if t.elem is not None else None
        elif isinstance(t, MapType):
            target = self._target(("map_header", t.id))
        elif isinstance(t, ChanType):
            target = self._target(("chan", t.id))
        elif isinstance(t, FuncType):
            target = self._target(("code", t.id))
        elif isinstance(t, UnsafePointerType) or direct_iface(type_id, self._types.resolve):
            target = None
        else:
            target = self.index_of(type_id) if t.size > 0 else None
        return RuntimeTypeEntry(address=address, type=type_id, capture_type=target)

    def heap_descriptors(self) -> int:
        """The entries that copy runtime type descriptors reflect made on the heap
        (``SLOT_RTYPE``): the descriptor (role ``rtype``), its struct fields
        (``rfield``) and their names (``rname``); the descriptor's index."""
        key: _Key = ("rtype", -1)
        if key in self._index:
            return self._index[key]
        rtype = len(self._entries)
        self._index[key] = rtype
        self._entries.append(None)
        name = self._raw("rname", -1, RNAME_COPY)
        rfield = self._entry(
            ("rfield", -1),
            RFIELD_SIZE,
            [],
            extra=[
                BpfSlot(offset=0, kind=SLOT_REF, target=name),
                BpfSlot(offset=8, kind=SLOT_RTYPE, target=rtype, shift=RTYPE_ANY),
            ],
        )
        self._entries[rtype] = BpfType(
            index=rtype,
            ir_type=None,
            role="rtype",
            size=RTYPE_COPY,
            slots=[
                BpfSlot(offset=48, kind=SLOT_RTYPE, target=rtype, shift=RTYPE_ELEM),
                BpfSlot(offset=56, kind=SLOT_RTYPE, target=rtype, shift=RTYPE_VALUE),
                BpfSlot(offset=56, kind=SLOT_RTYPE, target=rfield, shift=RTYPE_FIELDS),
            ],
        )
        return rtype

    def table(self) -> list[BpfType]:
        """The finished table, in index order."""
        assert all(e is not None for e in self._entries)
        return [e for e in self._entries if e is not None]

    def slots_of_index(self, index: int) -> list[BpfSlot]:
        """The references of capture type ``index``."""
        entry = self._entries[index]
        assert entry is not None
        return entry.slots


__all__ = ["INLINE_ARRAY_OVER", "MAX_ELEMENT_SLOTS", "MAX_SLOTS", "CaptureTypes"]
