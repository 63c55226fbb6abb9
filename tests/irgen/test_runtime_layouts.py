"""Map and channel layouts, checked by walking a live process's maps with them.

The types program, run with ``hold``, fills maps (a big one with a directory of
tables or a growing bucket array, a small one, an empty one, one whose keys and
values are stored indirectly) and a wrapped-around buffered channel, prints their
header addresses and waits. The test reads its memory through /proc/PID/mem and
walks each with nothing but the IR's layouts, as the BPF walker will, and must
find exactly what the program put in.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stages.ir import (
    BucketMapLayout,
    ChanType,
    MapLayout,
    MapType,
    Program,
    StructType,
    SwissMapLayout,
    TypeIndex,
)
from stages.irgen import generate_ir

Read = Callable[[int, int], bytes]


class Held:
    """The held process: header addresses by name, and its memory."""

    def __init__(self, addresses: dict[str, int], read: Read) -> None:
        self.addresses = addresses
        self.read = read

    def u64(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), "little")


@pytest.fixture(scope="module")
def held(types_binary: Path) -> Iterator[Held]:
    if not Path("/proc/self/mem").exists():
        pytest.skip("no /proc/PID/mem")
    process = subprocess.Popen(
        [str(types_binary), "hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    addresses: dict[str, int] = {}
    try:
        for line in process.stdout:
            if line.startswith("hold ready"):
                break
            if line.startswith("hold "):
                name, value = line.split()[1].split("=")
                addresses[name] = int(value, 16)
        with open(f"/proc/{process.pid}/mem", "rb", buffering=0) as mem:

            def read(address: int, size: int) -> bytes:
                mem.seek(address)
                data = mem.read(size)
                assert len(data) == size, f"short read at {address:#x}"
                return data

            try:
                read(addresses["heldBig"], 8)
            except OSError as e:
                pytest.skip(f"cannot read the held process's memory: {e}")
            yield Held(addresses, read)
    finally:
        process.stdin.write("\n")
        process.stdin.close()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def held_ir(types_binary: Path) -> Program:
    return generate_ir(str(types_binary), ["main.held"])


def held_type(program: Program, param: str) -> MapType | ChanType:
    fn = program.function("main.held")
    assert fn is not None
    (variable,) = [v for v in fn.variables if v.name == param]
    t = TypeIndex(program.types).resolve(variable.type)
    assert isinstance(t, MapType | ChanType)
    return t


# ------------------------------------------------------------------- walkers


def walk_map(held: Held, layout: MapLayout, header: int) -> Iterator[tuple[bytes, bytes]]:
    """(key bytes, value bytes) of every entry, as a BPF walker would find them."""
    if isinstance(layout, BucketMapLayout):
        yield from _walk_buckets(held, layout, header)
    else:
        yield from _walk_swiss(held, layout, header)


def _walk_buckets(
    held: Held, layout: BucketMapLayout, header: int
) -> Iterator[tuple[bytes, bytes]]:
    data = held.read(header, layout.header_size)
    log2 = data[layout.log2_buckets_offset]
    flags = data[layout.flags_offset]
    buckets = int.from_bytes(data[layout.buckets_offset : layout.buckets_offset + 8], "little")
    old = int.from_bytes(data[layout.old_buckets_offset : layout.old_buckets_offset + 8], "little")
    arrays = [(buckets, 1 << log2)]
    if old:
        arrays.append((old, 1 << log2 if flags & layout.same_size_grow else 1 << (log2 - 1)))
    for base, count in arrays:
        for i in range(count):
            bucket = base + i * layout.bucket_size
            while bucket:
                yield from _bucket_slots(held, layout, bucket)
                bucket = held.u64(bucket + layout.overflow_offset)


def _bucket_slots(
    held: Held, layout: BucketMapLayout, bucket: int
) -> Iterator[tuple[bytes, bytes]]:
    data = held.read(bucket, layout.bucket_size)
    for slot in range(layout.bucket_slots):
        top = data[layout.tophash_offset + slot]
        if top < layout.min_top_hash:
            continue
        k = layout.keys_offset + slot * layout.key_size
        v = layout.values_offset + slot * layout.value_size
        yield data[k : k + layout.key_size], data[v : v + layout.value_size]


def _walk_swiss(held: Held, layout: SwissMapLayout, header: int) -> Iterator[tuple[bytes, bytes]]:
    data = held.read(header, layout.header_size)
    dir_ptr = int.from_bytes(data[layout.dir_ptr_offset : layout.dir_ptr_offset + 8], "little")
    dir_len = int.from_bytes(data[layout.dir_len_offset : layout.dir_len_offset + 8], "little")
    if dir_ptr == 0:
        return
    if dir_len == 0:
        yield from _group_slots(held, layout, dir_ptr)
        return
    for i in range(dir_len):
        table = held.u64(dir_ptr + 8 * i)
        index = int.from_bytes(
            held.read(table + layout.table_index_offset, 8), "little", signed=True
        )
        if index != i:
            continue  # a later directory entry for a table already walked
        groups = held.u64(table + layout.groups_data_offset)
        mask = held.u64(table + layout.groups_length_mask_offset)
        for g in range(mask + 1):
            yield from _group_slots(held, layout, groups + g * layout.group_size)


def _group_slots(held: Held, layout: SwissMapLayout, group: int) -> Iterator[tuple[bytes, bytes]]:
    data = held.read(group, layout.group_size)
    for slot in range(layout.group_slots):
        if data[layout.ctrl_offset + slot] & layout.ctrl_empty:
            continue
        base = layout.slots_offset + slot * layout.slot_size
        k = base + layout.key_offset
        v = base + layout.elem_offset
        yield data[k : k + layout.key_size], data[v : v + layout.elem_size]


def deref(held: Held, data: bytes, indirect: bool, size: int) -> bytes:
    return held.read(int.from_bytes(data, "little"), size) if indirect else data


def ints(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 8}q", data)


# --------------------------------------------------------------------- tests


def test_big_map(held: Held, held_ir: Program) -> None:
    t = held_type(held_ir, "big")
    assert isinstance(t, MapType) and t.layout is not None, t
    entries = {
        ints(k)[0]: ints(v)[0] for k, v in walk_map(held, t.layout, held.addresses["heldBig"])
    }
    assert entries == {i: i * i for i in range(1000)}


def test_empty_map(held: Held, held_ir: Program) -> None:
    t = held_type(held_ir, "empty")
    assert isinstance(t, MapType) and t.layout is not None
    assert list(walk_map(held, t.layout, held.addresses["heldEmpty"])) == []


def test_small_string_map(held: Held, held_ir: Program) -> None:
    t = held_type(held_ir, "small")
    assert isinstance(t, MapType) and t.layout is not None
    entries = {}
    for k, v in walk_map(held, t.layout, held.addresses["heldSmall"]):
        pointer, length = struct.unpack("<QQ", k)
        entries[held.read(pointer, length).decode()] = ints(v)[0]
    assert entries == {"one": 1, "two": 2, "three": 3}


def test_indirect_map(held: Held, held_ir: Program) -> None:
    t = held_type(held_ir, "indirect")
    assert isinstance(t, MapType) and t.layout is not None
    layout = t.layout
    types = TypeIndex(held_ir.types)
    key_size, value_size = types.resolve(t.key).size, types.resolve(t.value).size
    assert (key_size, value_size) == (160, 136)
    if isinstance(layout, BucketMapLayout):
        indirect = (layout.key_indirect, layout.value_indirect, layout.key_size, layout.value_size)
    else:
        indirect = (layout.key_indirect, layout.elem_indirect, layout.key_size, layout.elem_size)
    assert indirect == (True, True, 8, 8)
    entries = {}
    for k, v in walk_map(held, layout, held.addresses["heldIndirect"]):
        key = ints(deref(held, k, True, key_size))
        value = ints(deref(held, v, True, value_size))
        assert key[19] == -1 and value[16] == 7
        entries[key[0]] = value[0]
    assert entries == {i: 2 * i for i in range(20)}


def test_channel(held: Held, held_ir: Program) -> None:
    t = held_type(held_ir, "ch")
    assert isinstance(t, ChanType) and t.layout is not None
    layout = t.layout
    header = held.read(held.addresses["heldChan"], layout.header_size)

    def word(offset: int, size: int = 8) -> int:
        return int.from_bytes(header[offset : offset + size], "little")

    count, ring = word(layout.qcount_offset), word(layout.dataqsiz_offset)
    size = word(layout.elemsize_offset, 2)
    assert (count, ring, size, word(layout.closed_offset, 4)) == (7, 8, 8, 0)
    buf, first = word(layout.buf_offset), word(layout.recvx_offset)
    items = [ints(held.read(buf + ((first + i) % ring) * size, size))[0] for i in range(count)]
    assert items == [30, 40, 50, 60, 70, 80, 90]
    assert (first, word(layout.sendx_offset)) == (2, 1)  # the ring wrapped around


def test_layout_types_are_in_the_ir(held_ir: Program) -> None:
    types = TypeIndex(held_ir.types)
    for t in held_ir.types:
        if isinstance(t, MapType):
            assert t.layout is not None and t.layout_unavailable is None
            ids = [t.layout.header]
            if isinstance(t.layout, BucketMapLayout):
                ids.append(t.layout.bucket)
            else:
                ids += [t.layout.table, t.layout.group]
            assert all(isinstance(types.resolve(i), StructType) for i in ids)
            assert t.layout.header == t.header
        if isinstance(t, ChanType):
            assert t.layout is not None and t.layout.header == t.header


def test_layout_kind_by_version(held_ir: Program, go_version: str) -> None:
    minor = int(go_version.split(".")[1])
    t = held_type(held_ir, "big")
    assert isinstance(t, MapType)
    assert isinstance(t.layout, SwissMapLayout if minor >= 24 else BucketMapLayout)
