"""The runtime structures behind maps and channels, read from the binary's DWARF.

The Go linker writes, for every map and channel type, the runtime's structs
specialised to the key, value or element type (``hash<K,V>``/``bucket<K,V>`` up
to Go 1.23, ``map<K,V>``/``table<K,V>`` and the compiler's group type with swiss
tables from Go 1.24, ``hchan<T>``). This module reads the offsets and sizes a
walker needs from those structs, so nothing about a Go version's runtime is
assumed but the meaning of the field names (``runtime/map.go``,
``internal/runtime/maps/``, ``runtime/chan.go``). The few runtime constants are
read from their ``DW_TAG_constant`` entries, with the source's values as a
fallback.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Protocol

from ..ir import BucketMapLayout, ChanLayout, MapLayout, SwissMapLayout
from .dwarf import DwarfReader, Entry, member_offset

log = logging.getLogger(__name__)

# Constants the DWARF may omit (a package's constants are written only when the
# package is compiled into the binary), with their values in every Go version
# that has them: runtime/map.go (<= 1.23), internal/runtime/maps/group.go (>= 1.24).
_CONSTANT_FALLBACKS = {
    "runtime.minTopHash": 5,
    "runtime.emptyRest": 0,
    "runtime.sameSizeGrow": 8,
    "internal/runtime/maps.ctrlEmpty": 0x80,
    "internal/runtime/maps.ctrlDeleted": 0xFE,
}
_MAX_TYPEDEFS = 16


class LayoutUnavailable(Exception):
    """The DWARF lacks part of a runtime structure; the message says which."""


class TypeSink(Protocol):
    """What the layouts need of the type table: sizes, and recording a type."""

    def size_of(self, entry: Entry) -> int: ...

    def require(self, offset: int) -> int: ...


class _Member(NamedTuple):
    offset: int
    type: int


class RuntimeLayouts:
    """Map and channel layouts of one binary, cached by header DIE offset."""

    def __init__(self, reader: DwarfReader, types: TypeSink) -> None:
        self._reader = reader
        self._types = types
        self._members: dict[int, dict[str, _Member]] = {}
        self._constants: dict[str, int] = {}
        self._maps: dict[int, MapLayout | LayoutUnavailable] = {}
        self._chans: dict[int, ChanLayout | LayoutUnavailable] = {}
        self._structs: dict[str, Entry | None] = {}

    def runtime_struct(self, name: str) -> Entry | None:
        """The runtime's struct type ``name`` (cached; searched by name only: a
        walk of every unit for one a Go release does not have costs a second)."""
        if name not in self._structs:
            self._structs[name] = self._reader.find_named(name, "DW_TAG_structure_type", walk=False)
        return self._structs[name]

    # ------------------------------------------------------------------ maps

    def map_layout(self, header: int, key: int, value: int) -> MapLayout:
        """The layout of the map whose header struct DIE is at ``header``.

        ``key`` and ``value`` are the DIE offsets of the map's key and value types.
        Raises ``LayoutUnavailable``.
        """
        cached = self._maps.get(header)
        if cached is None:
            try:
                cached = self._map_layout(header, key, value)
            except LayoutUnavailable as e:
                cached = e
            self._maps[header] = cached
        if isinstance(cached, LayoutUnavailable):
            raise cached
        return cached

    def _map_layout(self, header: int, key: int, value: int) -> MapLayout:
        entry = self._struct(header)
        fields = self._fields(entry)
        if "dirPtr" in fields:
            return self._swiss(entry, fields, key, value)
        if "buckets" in fields:
            return self._buckets(entry, fields, key, value)
        raise LayoutUnavailable(
            f"map header {entry.name!r} has neither buckets (Go <= 1.23) nor dirPtr (swiss tables)"
        )

    def _buckets(
        self, header: Entry, fields: dict[str, _Member], key: int, value: int
    ) -> BucketMapLayout:
        shared = self._bucket_header(header)
        buckets = fields["buckets"]
        bucket = self._struct(self._pointee(buckets.type, header, "buckets"))
        tophash, keys, values, overflow = self._need(
            bucket, self._fields(bucket), "tophash", "keys", "values", "overflow"
        )
        slots = self._array_count(tophash.type, bucket, "tophash")
        key_size = self._slot_size(keys.type, slots)
        value_size = self._slot_size(values.type, slots)
        return BucketMapLayout(
            header=self._types.require(header.offset),
            **shared,
            bucket=self._types.require(bucket.offset),
            bucket_size=self._types.size_of(bucket),
            bucket_slots=slots,
            tophash_offset=tophash.offset,
            keys_offset=keys.offset,
            key_size=key_size,
            key_indirect=key_size != self._size(key),
            values_offset=values.offset,
            value_size=value_size,
            value_indirect=value_size != self._size(value),
            overflow_offset=overflow.offset,
        )

    def _swiss(
        self, header: Entry, fields: dict[str, _Member], key: int, value: int
    ) -> SwissMapLayout:
        # dirPtr is written as **table<K,V>: a pointer to the directory's first entry.
        table_pointer = self._pointee(fields["dirPtr"].type, header, "dirPtr")
        table = self._struct(self._pointee(table_pointer, header, "dirPtr"))
        shared, reference = self._swiss_tables(header, table)
        data = self._fields(reference)["data"]
        group = self._struct(self._pointee(data.type, reference, "data"))
        ctrl, slots = self._need(group, self._fields(group), "ctrl", "slots")
        slot_array = self._strip(self._reader.entry_at(slots.type))
        group_slots = self._array_count(slot_array.offset, group, "slots")
        slot_type = slot_array.ref("DW_AT_type")
        if slot_type is None:
            raise LayoutUnavailable(f"{group.name}.slots has no element type")
        slot = self._struct(slot_type)
        slot_key, slot_elem = self._need(slot, self._fields(slot), "key", "elem")
        key_size = self._size(slot_key.type)
        elem_size = self._size(slot_elem.type)
        return SwissMapLayout(
            header=self._types.require(header.offset),
            table=self._types.require(table.offset),
            **shared,
            group=self._types.require(group.offset),
            group_size=self._types.size_of(group),
            ctrl_offset=ctrl.offset,
            group_slots=group_slots,
            slots_offset=slots.offset,
            slot_size=self._types.size_of(slot),
            key_offset=slot_key.offset,
            key_size=key_size,
            key_indirect=key_size != self._size(key),
            elem_offset=slot_elem.offset,
            elem_size=elem_size,
            elem_indirect=elem_size != self._size(value),
        )

    def _bucket_header(self, header: Entry) -> dict[str, int]:
        """The fields of a ``BucketMapLayout`` that the map header ``header``
        (``hash<K,V>`` or the generic ``runtime.hmap``) and the runtime's
        constants give, but the header's IR id: the caller requires that type
        once the rest of the layout is found. Raises ``LayoutUnavailable``."""
        count, flags, log2, buckets, old = self._need(
            header, self._fields(header), "count", "flags", "B", "buckets", "oldbuckets"
        )
        return {
            "header_size": self._types.size_of(header),
            "count_offset": count.offset,
            "flags_offset": flags.offset,
            "log2_buckets_offset": log2.offset,
            "buckets_offset": buckets.offset,
            "old_buckets_offset": old.offset,
            "min_top_hash": self._constant("runtime.minTopHash"),
            "empty_rest": self._constant("runtime.emptyRest"),
            "same_size_grow": self._constant("runtime.sameSizeGrow"),
        }

    def _swiss_tables(self, header: Entry, table: Entry) -> tuple[dict[str, int], Entry]:
        """The fields of a ``SwissMapLayout`` that the map header ``header`` and
        its table type ``table`` (``map<K,V>`` and ``table<K,V>``, or the
        runtime's generic ``Map`` and ``table``) and the runtime's constants
        give, but the two types' IR ids: the caller requires those once the
        rest of the layout is found. Also the table's ``groups`` struct, whose
        ``data`` points to the group. Raises ``LayoutUnavailable``."""
        used, dir_ptr, dir_len = self._need(
            header, self._fields(header), "used", "dirPtr", "dirLen"
        )
        table_used, index, groups = self._need(
            table, self._fields(table), "used", "index", "groups"
        )
        reference = self._struct(groups.type)
        data, length_mask = self._need(reference, self._fields(reference), "data", "lengthMask")
        fields = {
            "header_size": self._types.size_of(header),
            "used_offset": used.offset,
            "dir_ptr_offset": dir_ptr.offset,
            "dir_len_offset": dir_len.offset,
            "table_size": self._types.size_of(table),
            "table_used_offset": table_used.offset,
            "table_index_offset": index.offset,
            "groups_data_offset": groups.offset + data.offset,
            "groups_length_mask_offset": groups.offset + length_mask.offset,
            "ctrl_empty": self._constant("internal/runtime/maps.ctrlEmpty"),
            "ctrl_deleted": self._constant("internal/runtime/maps.ctrlDeleted"),
        }
        return fields, reference

    def descriptor_map_layout(
        self,
        key_size: int,
        value_size: int,
        slots: dict[str, tuple[int, int]],
        storage: tuple[int, int],
    ) -> MapLayout:
        """The layout of a map known from its runtime descriptor only (no DWARF
        entry, so no ``hash<K,V>`` of its own): the runtime's generic header
        (``runtime.hmap``; ``internal/runtime/maps.Map`` and ``.table`` for swiss
        tables) with its bucket or group as the descriptor describes it.

        ``storage`` is (IR id, size) of the bucket or group type made from the
        descriptor; ``slots`` its members by name: (offset, size) of ``topbits``,
        ``keys``, ``elems``, ``overflow`` in a bucket, or of ``ctrl``, ``slots``,
        and ``key``, ``elem`` (in one slot) in a group. ``key_size`` and
        ``value_size`` are the key's and value's own. Raises ``LayoutUnavailable``.
        """
        swiss = self.runtime_struct("internal/runtime/maps.Map")
        if swiss is not None and "slots" in slots:
            table = self.runtime_struct("internal/runtime/maps.table")
            if table is None:
                raise LayoutUnavailable("no internal/runtime/maps.table in the DWARF")
            shared, _ = self._swiss_tables(swiss, table)
            group, group_size = storage
            ctrl, slot_array = slots["ctrl"], slots["slots"]
            key, elem = slots["key"], slots["elem"]
            n = 8
            return SwissMapLayout(
                header=self._types.require(swiss.offset),
                table=self._types.require(table.offset),
                **shared,
                group=group,
                group_size=group_size,
                ctrl_offset=ctrl[0],
                group_slots=n,
                slots_offset=slot_array[0],
                slot_size=slot_array[1] // n,
                key_offset=key[0],
                key_size=key[1],
                key_indirect=key[1] != key_size,
                elem_offset=elem[0],
                elem_size=elem[1],
                elem_indirect=elem[1] != value_size,
            )
        hmap = self.runtime_struct("runtime.hmap")
        if hmap is None or "keys" not in slots:
            raise LayoutUnavailable("no generic map header in the DWARF for this map")
        shared = self._bucket_header(hmap)
        bucket, bucket_size = storage
        n = slots["topbits"][1]
        keys, elems = slots["keys"], slots["elems"]
        return BucketMapLayout(
            header=self._types.require(hmap.offset),
            **shared,
            bucket=bucket,
            bucket_size=bucket_size,
            bucket_slots=n,
            tophash_offset=slots["topbits"][0],
            keys_offset=keys[0],
            key_size=keys[1] // n,
            key_indirect=keys[1] // n != key_size,
            values_offset=elems[0],
            value_size=elems[1] // n,
            value_indirect=elems[1] // n != value_size,
            overflow_offset=slots["overflow"][0],
        )

    # -------------------------------------------------------------- channels

    def chan_layout(self, header: int) -> ChanLayout:
        """The layout of the ``hchan<T>`` struct DIE at ``header``.

        Raises ``LayoutUnavailable``.
        """
        cached = self._chans.get(header)
        if cached is None:
            try:
                cached = self._chan_layout(header)
            except LayoutUnavailable as e:
                cached = e
            self._chans[header] = cached
        if isinstance(cached, LayoutUnavailable):
            raise cached
        return cached

    def _chan_layout(self, header: int) -> ChanLayout:
        entry = self._struct(header)
        qcount, dataqsiz, buf, elemsize, closed, sendx, recvx = self._need(
            entry,
            self._fields(entry),
            "qcount",
            "dataqsiz",
            "buf",
            "elemsize",
            "closed",
            "sendx",
            "recvx",
        )
        return ChanLayout(
            header=self._types.require(entry.offset),
            header_size=self._types.size_of(entry),
            qcount_offset=qcount.offset,
            dataqsiz_offset=dataqsiz.offset,
            buf_offset=buf.offset,
            elemsize_offset=elemsize.offset,
            closed_offset=closed.offset,
            sendx_offset=sendx.offset,
            recvx_offset=recvx.offset,
        )

    # --------------------------------------------------------------- helpers

    def _fields(self, struct: Entry) -> dict[str, _Member]:
        cached = self._members.get(struct.offset)
        if cached is not None:
            return cached
        fields: dict[str, _Member] = {}
        for member in self._reader.children(struct):
            target = member.ref("DW_AT_type")
            offset = member_offset(member)
            if member.tag == "DW_TAG_member" and member.name and None not in (target, offset):
                fields[member.name] = _Member(offset, target)  # type: ignore[arg-type]
        self._members[struct.offset] = fields
        return fields

    @staticmethod
    def _need(struct: Entry, fields: dict[str, _Member], *names: str) -> list[_Member]:
        missing = [name for name in names if name not in fields]
        if missing:
            raise LayoutUnavailable(f"{struct.name} has no member {', '.join(missing)}")
        return [fields[name] for name in names]

    def _strip(self, entry: Entry) -> Entry:
        """``entry`` with typedefs followed to what they name."""
        for _ in range(_MAX_TYPEDEFS):
            if entry.tag != "DW_TAG_typedef":
                return entry
            target = entry.ref("DW_AT_type")
            if target is None:
                break
            entry = self._reader.entry_at(target)
        return entry

    def _struct(self, offset: int) -> Entry:
        entry = self._strip(self._reader.entry_at(offset))
        if entry.tag != "DW_TAG_structure_type":
            raise LayoutUnavailable(f"{entry.name!r} at {offset:#x} is not a struct")
        return entry

    def _pointee(self, offset: int, owner: Entry, member: str) -> int:
        entry = self._strip(self._reader.entry_at(offset))
        target = entry.ref("DW_AT_type") if entry.tag == "DW_TAG_pointer_type" else None
        if target is None:
            raise LayoutUnavailable(f"{owner.name}.{member} is not a typed pointer")
        return target

    def _array_count(self, offset: int, owner: Entry, member: str) -> int:
        entry = self._strip(self._reader.entry_at(offset))
        if entry.tag == "DW_TAG_array_type":
            for child in self._reader.children(entry):
                if child.tag == "DW_TAG_subrange_type":
                    count = child.integer("DW_AT_count")
                    if count is None and (upper := child.integer("DW_AT_upper_bound")) is not None:
                        count = upper + 1
                    if count:
                        return count
        raise LayoutUnavailable(f"{owner.name}.{member} is not an array with a length")

    def _slot_size(self, array: int, slots: int) -> int:
        """The size of one of ``slots`` elements of the array type at ``array``."""
        return self._size(array) // slots

    def _size(self, offset: int) -> int:
        return self._types.size_of(self._reader.entry_at(offset))

    def _constant(self, name: str) -> int:
        value = self._constants.get(name)
        if value is None:
            entry = self._reader.find_named(name, "DW_TAG_constant", walk=False)
            found = entry.integer("DW_AT_const_value") if entry is not None else None
            if found is None:
                found = _CONSTANT_FALLBACKS[name]
                log.debug("%s: no DWARF constant %s, using %d", self._reader.path, name, found)
            value = self._constants[name] = found
        return value
