"""Hand-built IR, layouts, events and dumps for the decode tests.

Events are packed with ``struct`` exactly as ``bpf/godi_event.h`` lays them out; the
IR below has one type of each kind the decoder renders, with fixed ids.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import msgspec

from stages._base import ArtifactHeader
from stages.artifacts import sha256_bytes
from stages.decode import DecodeRun, decode
from stages.dump import Counters, DumpHeader, DumpWriter, Notice
from stages.ir import (
    ArrayType,
    BaseType,
    BinaryInfo,
    BucketMapLayout,
    ChanType,
    Field,
    Function,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    Program,
    SliceType,
    StringType,
    StructType,
    SwissMapLayout,
    Type,
    TypedefType,
    UnsafePointerType,
    UnsupportedType,
    encode_program,
)
from stages.layout import (
    BLOCK_HEADER_FORMAT,
    EVENT_HEADER_FORMAT,
    BpfType,
    Layout,
    PieceLayout,
    ProbeLayout,
    VariableLayout,
)
from stages.snapshot import Snapshot
from stages.spec import Capture

BUILD_ID = "b1d0000000000000000000000000000000000000"
PROGRAM_HASH = "9" * 64
CLOCK_OFFSET_NS = 1_750_000_000_000_000_000

# ------------------------------------------------------------------------ the IR

T_BOOL, T_INT, T_INT8, T_INT16, T_INT32, T_INT64 = 1, 2, 3, 4, 5, 6
T_UINT, T_UINT8, T_UINT16, T_UINT32, T_UINT64, T_UINTPTR = 7, 8, 9, 10, 11, 12
T_F32, T_F64, T_C64, T_C128 = 13, 14, 15, 16
T_STRING = 20
T_POINT_S, T_POINT, T_PPOINT, T_PPPOINT = 30, 31, 32, 53
T_NODE_S, T_NODE, T_PNODE = 40, 41, 42
T_ARR4, T_SLICE_INT, T_SLICE_STR, T_SLICE_POINT = 50, 51, 52, 63
T_UNSAFE, T_MAP, T_IFACE, T_FUNC, T_CHAN, T_UNSUP = 54, 55, 56, 57, 58, 59
T_WIDE, T_PINT, T_PSTRING, T_PSLICE, T_MIXED, T_CELSIUS, T_ARR200 = 60, 61, 62, 64, 65, 66, 67
T_PMAP, T_EMPTY, T_PEMPTY = 69, 70, 71

_BASES = [
    (T_BOOL, "bool", 1),
    (T_INT, "int", 8),
    (T_INT8, "int8", 1),
    (T_INT16, "int16", 2),
    (T_INT32, "int32", 4),
    (T_INT64, "int64", 8),
    (T_UINT, "uint", 8),
    (T_UINT8, "uint8", 1),
    (T_UINT16, "uint16", 2),
    (T_UINT32, "uint32", 4),
    (T_UINT64, "uint64", 8),
    (T_UINTPTR, "uintptr", 8),
    (T_F32, "float32", 4),
    (T_F64, "float64", 8),
    (T_C64, "complex64", 8),
    (T_C128, "complex128", 16),
]


def _types() -> list[Type]:
    types: list[Type] = [
        BaseType(id=i, name=n, size=s, go_kind=n)  # type: ignore[arg-type]
        for i, n, s in _BASES
    ]
    types += [
        StringType(id=T_STRING, name="string", size=16),
        StructType(
            id=T_POINT_S,
            name="main.Point",
            size=8,
            fields=[
                Field(name="X", offset=0, type=T_INT32),
                Field(name="Y", offset=4, type=T_INT32),
            ],
        ),
        TypedefType(id=T_POINT, name="main.Point", size=8, target=T_POINT_S),
        PointerType(id=T_PPOINT, name="*main.Point", size=8, elem=T_POINT),
        PointerType(id=T_PPPOINT, name="**main.Point", size=8, elem=T_PPOINT),
        StructType(
            id=T_NODE_S,
            name="main.Node",
            size=32,
            fields=[
                Field(name="Val", offset=0, type=T_INT),
                Field(name="Name", offset=8, type=T_STRING),
                Field(name="Next", offset=24, type=T_PNODE),
            ],
        ),
        TypedefType(id=T_NODE, name="main.Node", size=32, target=T_NODE_S),
        PointerType(id=T_PNODE, name="*main.Node", size=8, elem=T_NODE),
        ArrayType(id=T_ARR4, name="[4]int32", size=16, elem=T_INT32, count=4),
        ArrayType(id=T_ARR200, name="[200]uint8", size=200, elem=T_UINT8, count=200),
        SliceType(id=T_SLICE_INT, name="[]int", size=24, elem=T_INT),
        SliceType(id=T_SLICE_STR, name="[]string", size=24, elem=T_STRING),
        SliceType(id=T_SLICE_POINT, name="[]main.Point", size=24, elem=T_POINT),
        UnsafePointerType(id=T_UNSAFE, name="unsafe.Pointer", size=8),
        MapType(id=T_MAP, name="map[string]int", size=8, key=T_STRING, value=T_INT),
        InterfaceType(id=T_IFACE, name="interface {}", size=16, empty=True),
        FuncType(id=T_FUNC, name="func()", size=8),
        ChanType(id=T_CHAN, name="chan int", size=8, elem=T_INT),
        UnsupportedType(id=T_UNSUP, name="main.Weird", size=8, reason="test"),
        StructType(
            id=T_WIDE,
            name="main.Wide",
            size=25,
            fields=[Field(name=f"F{i}", offset=i, type=T_INT8) for i in range(25)],
        ),
        PointerType(id=T_PINT, name="*int", size=8, elem=T_INT),
        PointerType(id=T_PSTRING, name="*string", size=8, elem=T_STRING),
        PointerType(id=T_PSLICE, name="*[]int", size=8, elem=T_SLICE_INT),
        PointerType(id=T_PMAP, name="*map[string]int", size=8, elem=T_MAP),
        StructType(
            id=T_MIXED,
            name="main.Mixed",
            size=32,
            fields=[
                Field(name="ID", offset=0, type=T_UINT16),
                Field(name="Ok", offset=2, type=T_BOOL),
                Field(name="Weight", offset=4, type=T_F32),
                Field(name="Label", offset=8, type=T_STRING),
                Field(name="Scale", offset=24, type=T_F64),
            ],
        ),
        TypedefType(id=T_CELSIUS, name="main.Celsius", size=8, target=T_F64),
        StructType(id=T_EMPTY, name="struct {}", size=0, fields=[]),
        PointerType(id=T_PEMPTY, name="*struct {}", size=8, elem=T_EMPTY),
    ]
    return types


def make_program(build_id: str = BUILD_ID) -> Program:
    """The test IR: the types above and one function ``main.f``."""
    return Program(
        header=ArtifactHeader(format="godi.ir", format_version=1, tool_version="test"),
        binary=BinaryInfo(
            build_id=build_id, go_version="go1.23.0", arch="amd64", dwarf_version=5, goid_offset=152
        ),
        functions=[
            Function(
                name="main.f",
                low_pc=0x401000,
                high_pc=0x401100,
                file="main.go",
                line=10,
                entry_pc=0x401010,
                entry_cfa_offset=8,
                frame_pointer=True,
                variables=[],
            )
        ],
        types=_types(),
    )


# Capture types: 0 raw bytes, 1 the probe roots, then one per IR type the walker may
# need. Node is registered by its typedef id, Point by its struct id, to exercise
# both lookups.
_CAPTURED = [
    T_INT,
    T_INT32,
    T_STRING,
    T_POINT_S,
    T_NODE,
    T_PPOINT,
    T_SLICE_INT,
    T_UINT8,
    T_MIXED,
]
BYTES = 0
CT: dict[int, int] = {tid: 2 + i for i, tid in enumerate(_CAPTURED)}
"""IR type id -> capture type index."""


def _ir_size(program: Program, tid: int) -> int:
    return next(t for t in program.types if t.id == tid).size


# ---------------------------------------------------------------------- probes


@dataclass
class Var:
    """A variable to place in the root: name, IR type, role, pieces (default one)."""

    name: str
    type: int
    role: str = "argument"
    pieces: list[PieceLayout] | None = None
    located: bool = True


@dataclass
class World:
    """A program, a layout with one probe (index 0) and the root offsets."""

    program: Program
    layout: Layout
    offsets: dict[str, int]
    root_size: int
    ir_hash: str = ""

    def root(self, **values: bytes) -> bytes:
        """Root bytes with each named variable's bytes at its offset."""
        buf = bytearray(self.root_size)
        for name, data in values.items():
            off = self.offsets[name]
            buf[off : off + len(data)] = data
        return bytes(buf)


def make_world(
    variables: Sequence[Var],
    *,
    limits: Capture | None = None,
    capture_snapshot: bool = True,
    program: Program | None = None,
    ir_input: str | None = None,
    layout_build_id: str | None = None,
    function: str = "main.f",
) -> World:
    """One probe ``p1`` on ``function`` capturing ``variables``."""
    program = program or make_program()
    offsets: dict[str, int] = {}
    vls: list[VariableLayout] = []
    pos = 0
    for v in variables:
        size = _ir_size(program, v.type)
        if not v.located:
            vls.append(
                VariableLayout(
                    name=v.name,
                    type=v.type,
                    role=v.role,
                    root_offset=None,
                    size=size,  # type: ignore[arg-type]
                    reason="optimised out",
                )
            )
            continue
        offsets[v.name] = pos
        pieces = (
            v.pieces if v.pieces is not None else [PieceLayout(offset=0, size=size, source="stack")]
        )
        vls.append(
            VariableLayout(
                name=v.name,
                type=v.type,
                role=v.role,
                root_offset=pos,
                size=size,  # type: ignore[arg-type]
                pieces=pieces,
            )
        )
        pos += (size + 7) & ~7
    root_size = pos
    types = [
        BpfType(index=0, ir_type=None, size=1),
        BpfType(index=1, ir_type=None, size=root_size),
    ] + [BpfType(index=CT[t], ir_type=t, size=_ir_size(program, t)) for t in _CAPTURED]
    ir_hash = sha256_bytes(encode_program(program))
    layout = Layout(
        header=ArtifactHeader(
            format="godi.layout",
            format_version=1,
            tool_version="test",
            inputs={"ir": ir_input if ir_input is not None else ir_hash},
        ),
        binary_build_id=layout_build_id or program.binary.build_id,
        goid_offset=152,
        stack_hi_offset=8,
        probes=[
            ProbeLayout(
                index=0,
                probe_id="p1",
                probe_version=3,
                kind="entry",
                function=function,
                file="main.go",
                line=10,
                pc=0x401010,
                root_type=1,
                root_size=root_size,
                limits=limits or Capture(),
                capture_snapshot=capture_snapshot,
                variables=vls,
                bpf_function="probe_p1",
            )
        ],
        types=types,
    )
    return World(program, layout, offsets, root_size, ir_hash)


# ---------------------------------------------------------------------- events


def bucket_map_layout(key_size: int = 16, value_size: int = 16) -> BucketMapLayout:
    """Go's bucket maps (before 1.24): 8 top hashes, 8 keys, 8 values, the overflow
    pointer, keys and values stored inline."""
    values = 8 + 8 * key_size
    overflow = values + 8 * value_size
    return BucketMapLayout(
        header=0,
        header_size=48,
        count_offset=0,
        flags_offset=8,
        log2_buckets_offset=9,
        buckets_offset=16,
        old_buckets_offset=24,
        bucket=0,
        bucket_size=overflow + 8,
        bucket_slots=8,
        tophash_offset=0,
        keys_offset=8,
        key_size=key_size,
        key_indirect=False,
        values_offset=values,
        value_size=value_size,
        value_indirect=False,
        overflow_offset=overflow,
        min_top_hash=5,
        empty_rest=0,
        same_size_grow=8,
    )


def pack_bucket(
    layout: BucketMapLayout, slots: dict[int, tuple[int, bytes, bytes]], overflow: int = 0
) -> bytes:
    """One bucket of ``layout``: ``slots`` gives a slot's top hash, key bytes and
    value bytes (each at most a key or value long); the other slots are empty."""
    bucket = bytearray(layout.bucket_size)
    for slot, (tophash, key, value) in slots.items():
        assert len(key) <= layout.key_size and len(value) <= layout.value_size
        bucket[layout.tophash_offset + slot] = tophash
        at = layout.keys_offset + slot * layout.key_size
        bucket[at : at + len(key)] = key
        at = layout.values_offset + slot * layout.value_size
        bucket[at : at + len(value)] = value
    bucket[layout.overflow_offset : layout.overflow_offset + 8] = u64(overflow)
    return bytes(bucket)


def bucket_map_world(name: str, map_type: MapType) -> tuple[World, int]:
    """A world capturing the map ``name`` of ``map_type`` (with a bucket layout),
    with BPF types for its header and its bucket. Returns the world and the
    header's BPF type index; the bucket's is the next."""
    layout = map_type.layout
    assert isinstance(layout, BucketMapLayout)
    program = make_program()
    program = msgspec.structs.replace(program, types=[*program.types, map_type])
    world = make_world([Var(name, map_type.id)], program=program)
    n = len(world.layout.types)
    roles = [
        BpfType(index=n, ir_type=map_type.id, size=layout.header_size, role="map_header"),
        BpfType(index=n + 1, ir_type=map_type.id, size=layout.bucket_size, role="map_bucket"),
    ]
    world.layout = msgspec.structs.replace(world.layout, types=[*world.layout.types, *roles])
    return world, n


def swiss_map_layout(key_size: int, elem_size: int, indirect: bool = False) -> SwissMapLayout:
    """Go's swiss tables (1.24 and later): groups of 8 control bytes then 8 slots of the
    key and the value (pointers to them when ``indirect``)."""
    slot_size = key_size + elem_size
    return SwissMapLayout(
        header=0,
        header_size=48,
        used_offset=0,
        dir_ptr_offset=16,
        dir_len_offset=24,
        table=0,
        table_size=32,
        table_used_offset=0,
        table_index_offset=8,
        groups_data_offset=16,
        groups_length_mask_offset=24,
        group=0,
        group_size=8 + 8 * slot_size,
        ctrl_offset=0,
        group_slots=8,
        slots_offset=8,
        slot_size=slot_size,
        key_offset=0,
        key_size=key_size,
        key_indirect=indirect,
        elem_offset=key_size,
        elem_size=elem_size,
        elem_indirect=indirect,
        ctrl_empty=0x80,
        ctrl_deleted=0xFE,
    )


def pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def i64(n: int) -> bytes:
    return struct.pack("<q", n)


def string_header(ptr: int, length: int) -> bytes:
    return struct.pack("<QQ", ptr, length)


def slice_header(ptr: int, length: int, cap: int | None = None) -> bytes:
    return struct.pack("<QQQ", ptr, length, length if cap is None else cap)


@dataclass
class Blk:
    """A block: ``data`` copied from ``addr`` as ``count`` elements of ``type``."""

    addr: int
    type: int
    data: bytes
    count: int | None = None  # default: len(data) // element size (1 for bytes)
    flags: int = 0


def pack_event(
    root: bytes,
    blocks: Iterable[Blk] = (),
    *,
    probe: int = 0,
    ktime_ns: int = 5_000_000_000,
    goid: int = 17,
    tgid: int = 1000,
    tid: int = 1001,
    flags: int = 0,
    fail_mask: int = 0,
    stack: Sequence[int] = (0x401010, 0x402000),
    elem_sizes: dict[int, int] | None = None,
    cfa: int = 0xC000100F00,
    stack_hi: int = 0xC000101000,
) -> bytes:
    """One ``struct godi_event`` record with its root, stack and blocks."""
    body = bytearray(pad8(root))
    body += struct.pack(f"<{len(stack)}Q", *stack)
    for b in blocks:
        count = b.count
        if count is None:
            size = (elem_sizes or {}).get(b.type, 1)
            count = len(b.data) // size
        body += struct.pack(BLOCK_HEADER_FORMAT, b.addr, b.type, count, len(b.data), b.flags)
        body += pad8(b.data)
    head = struct.pack(
        EVENT_HEADER_FORMAT,
        probe,
        len(body),
        ktime_ns,
        goid,
        tgid,
        tid,
        len(root),
        len(stack),
        flags,
        fail_mask,
        cfa,
        stack_hi,
    )
    return head + bytes(body)


def dump_header(**over: Any) -> DumpHeader:
    fields: dict[str, Any] = {
        "tool_version": "test",
        "build_id": BUILD_ID,
        "program_hash": PROGRAM_HASH,
        "clock_offset_ns": CLOCK_OFFSET_NS,
        "pid": 4242,
        "command": ["./example"],
        "mode": "launch",
    }
    fields.update(over)
    return DumpHeader(**fields)


def make_dump(
    events: Iterable[bytes],
    *,
    header: DumpHeader | None = None,
    counters: Counters | None = None,
    notices: Iterable[Notice] = (),
) -> bytes:
    out = io.BytesIO()
    w = DumpWriter(out, header or dump_header())
    for n in notices:
        w.notice(n)
    for e in events:
        w.event(e)
    if counters is not None:
        w.counters(counters)
    return out.getvalue()


# ---------------------------------------------------------------- decode + check

_SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "snapshot.schema.json"
SCHEMA: dict[str, Any] = (
    json.loads(_SCHEMA_FILE.read_text()) if _SCHEMA_FILE.exists() else msgspec.json.schema(Snapshot)
)
"""The checked-in snapshot schema, or the same generated from the Structs."""
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
_encoder = msgspec.json.Encoder()


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as JSON data, validated against the snapshot schema."""
    data: dict[str, Any] = msgspec.json.decode(_encoder.encode(snapshot))
    _VALIDATOR.validate(data)
    return data


def run(world: World, dump: bytes, **kw: Any) -> DecodeRun:
    params: dict[str, Any] = {
        "program_hash": PROGRAM_HASH,
        "ir_hash": world.ir_hash,
        "service": "svc",
        "tags": "env:test",
        "name": "events.dump",
    }
    params.update(kw)
    return decode(io.BytesIO(dump), world.program, world.layout, **params)


def decode_all(world: World, events: Iterable[bytes], **kw: Any) -> list[dict[str, Any]]:
    """Decode a dump of ``events`` and return the snapshots as validated JSON; each
    snapshot's text must be what msgspec writes for its ``Snapshot``."""
    out = []
    for raw in run(world, make_dump(events), **kw).encoded():
        snapshot = msgspec.json.decode(raw, type=Snapshot)
        assert _encoder.encode(snapshot) == raw, raw
        out.append(as_json(snapshot))
    return out


def decode_one(world: World, root: bytes, blocks: Iterable[Blk] = (), **kw: Any) -> dict[str, Any]:
    """Decode a single event; return its snapshot as validated JSON."""
    (snap,) = decode_all(world, [pack_event(root, blocks, elem_sizes=elem_sizes(world), **kw)])
    return snap


def elem_sizes(world: World) -> dict[int, int]:
    return {t.index: t.size for t in world.layout.types}


def args(snap: dict[str, Any]) -> dict[str, Any]:
    """``captures.entry.arguments`` of a snapshot."""
    result: dict[str, Any] = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
    return result


@dataclass
class Simple:
    """A one-variable world for value tests."""

    type: int
    limits: Capture | None = None
    pieces: list[PieceLayout] | None = None
    world: World = field(init=False)

    def __post_init__(self) -> None:
        self.world = make_world([Var("v", self.type, pieces=self.pieces)], limits=self.limits)

    def value(self, data: bytes, blocks: Iterable[Blk] = (), **kw: Any) -> dict[str, Any]:
        """The rendered value of ``v`` whose root bytes are ``data``."""
        snap = decode_one(self.world, self.world.root(v=data), blocks, **kw)
        result: dict[str, Any] = args(snap)["v"]
        return result

    def snapshot(self, data: bytes, blocks: Iterable[Blk] = (), **kw: Any) -> dict[str, Any]:
        return decode_one(self.world, self.world.root(v=data), blocks, **kw)
