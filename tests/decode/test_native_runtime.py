"""The C renderer of runtime-backed values (``stages/decode/_runtime.c``): swiss
table maps, interfaces, funcs and ``unsafe.Pointer`` give byte for byte the text
of their Python renderers (``runtime_values``, ``values``), on hand-built events
and on random ones (hypothesis): blocks present, missing, failed or cut short,
maps with indirect slots and directories, keys BPF's key guard marked redacted
(``KEY_REDACTED``), interfaces naming unknown types or
holding a pointer back to their holder, a struct of one pointer or of one map
(stored directly: depth by its one field) or a zero-size value, all under
random limits.
"""

from __future__ import annotations

import itertools
import os
import struct

import msgspec
import pytest
from decode_helpers import (
    BYTES,
    CT,
    T_ARR4,
    T_EMPTY,
    T_FUNC,
    T_IFACE,
    T_INT,
    T_INT32,
    T_MIXED,
    T_POINT,
    T_POINT_S,
    T_PPOINT,
    T_STRING,
    T_UNSAFE,
    Blk,
    Var,
    World,
    elem_sizes,
    make_dump,
    make_program,
    make_world,
    pack_event,
    run,
    string_header,
    swiss_map_layout,
    u64,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_native import both, native_switch

from stages.decode import native
from stages.ir import (
    Field,
    InterfaceType,
    MapType,
    PointerType,
    RuntimeType,
    StructType,
)
from stages.layout import (
    BLOCK_FLAG_PARTIAL,
    BLOCK_FLAG_READ_FAILED,
    EVENT_FLAG_TRUNCATED,
    KEY_REDACTED,
    BpfType,
    PieceLayout,
)
from stages.spec import Capture

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension is not built")

T_SMAP, T_PMAP, T_STRINGER, T_HOLDER, T_PHOLDER = 700, 701, 703, 704, 705
T_BOX, T_MBOX = 706, 707  # a struct of one pointer, of one map: stored directly
D_INT, D_STRING, D_PHOLDER, D_SMAP, D_POINT, D_FUNC = (
    0x1000,
    0x2000,
    0x3000,
    0x4000,
    0x5000,
    0x6000,
)
D_UNKNOWN = 0x7000
D_BOX, D_MBOX, D_EMPTY = 0x8000, 0x9000, 0xA000


SMAP = swiss_map_layout(16, 8)  # map[string]int: slots of a string and an int
PMAP = swiss_map_layout(8, 8, indirect=True)  # map[int]main.Point, keys and values behind pointers

EXTRA = [
    MapType(id=T_SMAP, name="map[string]int", size=8, key=T_STRING, value=T_INT, layout=SMAP),
    MapType(id=T_PMAP, name="map[int]main.Point", size=8, key=T_INT, value=T_POINT, layout=PMAP),
    InterfaceType(id=T_STRINGER, name="fmt.Stringer", size=16, empty=False),
    StructType(
        id=T_HOLDER,
        name="main.Holder",
        size=64,
        fields=[
            Field(name="M", offset=0, type=T_SMAP),
            Field(name="P", offset=8, type=T_PMAP),
            Field(name="E", offset=16, type=T_IFACE),
            Field(name="S", offset=32, type=T_STRINGER),
            Field(name="F", offset=48, type=T_FUNC),
            Field(name="U", offset=56, type=T_UNSAFE),
        ],
    ),
    PointerType(id=T_PHOLDER, name="*main.Holder", size=8, elem=T_HOLDER),
    StructType(
        id=T_BOX, name="main.Box", size=8, fields=[Field(name="P", offset=0, type=T_PPOINT)]
    ),
    StructType(
        id=T_MBOX, name="main.MBox", size=8, fields=[Field(name="M", offset=0, type=T_SMAP)]
    ),
]
RUNTIME = [
    RuntimeType(address=D_INT, type=T_INT),
    RuntimeType(address=D_STRING, type=T_STRING),
    RuntimeType(address=D_PHOLDER, type=T_PHOLDER),
    RuntimeType(address=D_SMAP, type=T_SMAP),
    RuntimeType(address=D_POINT, type=T_POINT),
    RuntimeType(address=D_FUNC, type=T_FUNC),
    RuntimeType(address=D_BOX, type=T_BOX),
    RuntimeType(address=D_MBOX, type=T_MBOX),
    RuntimeType(address=D_EMPTY, type=T_EMPTY),
]


def _roles(first: int) -> list[BpfType]:
    types = []
    for map_type, layout in ((T_SMAP, SMAP), (T_PMAP, PMAP)):
        for role, size in (
            ("map_header", 48),
            ("map_directory", 8),
            ("map_table", 32),
            ("map_group", layout.group_size),
        ):
            types.append(BpfType(index=first + len(types), ir_type=map_type, size=size, role=role))
    types.append(BpfType(index=first + len(types), ir_type=None, size=32, role="itab"))
    types.append(BpfType(index=first + len(types), ir_type=None, size=8, role="code"))
    types.append(BpfType(index=first + len(types), ir_type=T_HOLDER, size=64))
    return types


def world(limits: Capture | None = None) -> World:
    program = make_program()
    program = msgspec.structs.replace(
        program, types=[*program.types, *EXTRA], runtime_types=RUNTIME
    )
    w = make_world([Var("v", T_HOLDER)], program=program, limits=limits)
    extra = _roles(len(w.layout.types))
    w.layout = msgspec.structs.replace(w.layout, types=[*w.layout.types, *extra])
    return w


def index(w: World, role: str, ir_type: int | None) -> int:
    return next(t.index for t in w.layout.types if t.role == role and t.ir_type == ir_type)


def value(w: World, root: bytes, blocks: list[Blk], **kw: object) -> dict[str, object]:
    """The value of ``v`` in one event, the same from both paths; decoded in C."""
    event = pack_event(root, blocks, elem_sizes=elem_sizes(w), **kw)  # type: ignore[arg-type]
    (raw,) = both(w, [event])
    with native_switch(True):
        r = run(w, make_dump([event]))
        assert list(r.encoded()) == [raw]
    assert r.native_events == 1
    snap = msgspec.json.decode(raw)
    return snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["v"]  # type: ignore[no-any-return]


H, DIR, TAB, GRP, S1, S2 = 0xC0000A0000, 0xC0000B0000, 0xC0000C0000, 0xC0000D0000, 0xC1, 0xC2
K1, K2 = 0xC0000E0000, 0xC0000F0000


def _group(slots: list[bytes | None], slot_size: int) -> bytes:
    ctrl = bytes(0x80 if s is None else 0x11 for s in slots).ljust(8, b"\x80")
    body = b"".join(bytes(slot_size) if s is None else s for s in slots)
    return ctrl + body.ljust(8 * slot_size, b"\0")


def test_small_map_with_a_redacted_key() -> None:
    w = world()
    group = _group(
        [string_header(K1, 2) + u64(7), None, string_header(K2, 8) + u64(42)], SMAP.slot_size
    )
    blocks = [
        Blk(H, index(w, "map_header", T_SMAP), u64(2) + bytes(8) + u64(GRP) + u64(0) + bytes(16)),
        Blk(GRP, index(w, "map_group", T_SMAP), group),
        Blk(K1, BYTES, b"ab"),
        Blk(K2, BYTES, b"password"),
    ]
    v = value(w, u64(H) + bytes(56), blocks)
    assert v["fields"]["M"] == {  # type: ignore[index]
        "type": "map[string]int",
        "entries": [
            [{"type": "string", "value": "ab"}, {"type": "int", "value": "7"}],
            [
                {"type": "string", "value": "password"},
                {"type": "int", "notCapturedReason": "redactedIdent"},
            ],
        ],
        "size": "2",
    }
    # within a collection limit of one entry
    v = value(world(Capture(max_collection_size=1)), u64(H) + bytes(56), blocks)
    assert v["fields"]["M"]["notCapturedReason"] == "collectionSize"  # type: ignore[index]
    assert len(v["fields"]["M"]["entries"]) == 1  # type: ignore[index]


def test_map_keys_seen_again_are_judged_alike() -> None:
    """C remembers its recent answers about a key's text (redacted or not): the
    same keys in later events, in either order, render as the first time."""
    w = world()

    def event(first: int, second: int) -> bytes:
        group = _group(
            [string_header(first, 8) + u64(1), None, string_header(second, 2) + u64(2)],
            SMAP.slot_size,
        )
        blocks = [
            Blk(
                H, index(w, "map_header", T_SMAP), u64(2) + bytes(8) + u64(GRP) + u64(0) + bytes(16)
            ),
            Blk(GRP, index(w, "map_group", T_SMAP), group),
            Blk(first, BYTES, b"password" if first == K1 else b"passwore"),
            Blk(second, BYTES, b"ab"),
        ]
        return pack_event(u64(H) + bytes(56), blocks, elem_sizes=elem_sizes(w))

    events = [event(K1, K2), event(K2 + 0x100, K2), event(K1, K2), event(K2 + 0x100, K2)]
    raws = both(w, events)
    with native_switch(True):
        r = run(w, make_dump(events))
        assert list(r.encoded()) == raws
    assert r.native_events == len(events)  # all decoded in C
    entries = [
        msgspec.json.decode(raw)["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["v"][
            "fields"
        ]["M"]["entries"]
        for raw in raws
    ]
    redacted = {"type": "int", "notCapturedReason": "redactedIdent"}
    assert [e[0][1] == redacted for e in entries] == [True, False, True, False]
    assert all(
        e[1] == [{"type": "string", "value": "ab"}, {"type": "int", "value": "2"}] for e in entries
    )


def test_keys_the_key_guard_marked() -> None:
    """A key BPF's key guard marked (KEY_REDACTED in its length; its value zeroed)
    shows its unmarked text and the value ``redactedIdent``, whatever its text
    says, in C as in Python; the value is not read."""
    w = world()
    group = _group(
        [
            string_header(K1, 2 | KEY_REDACTED) + u64(0),  # a name outside the set
            string_header(K2, 70 | KEY_REDACTED) + u64(0),  # longer than the guard reads
            string_header(K1, 2) + u64(7),  # the same key unmarked
            string_header(0, KEY_REDACTED) + u64(0),  # an empty key
        ],
        SMAP.slot_size,
    )
    blocks = [
        Blk(H, index(w, "map_header", T_SMAP), u64(4) + bytes(8) + u64(GRP) + u64(0) + bytes(16)),
        Blk(GRP, index(w, "map_group", T_SMAP), group),
        Blk(K1, BYTES, b"ab"),
        Blk(K2, BYTES, b"x" * 64),  # what the guard read of it
    ]
    v = value(w, u64(H) + bytes(56), blocks)
    redacted = {"type": "int", "notCapturedReason": "redactedIdent"}
    entries = v["fields"]["M"]["entries"]  # type: ignore[index]
    assert entries[0] == [{"type": "string", "value": "ab"}, redacted]
    assert entries[1][0]["value"] == "x" * 64 and entries[1][0]["size"] == "70"
    assert entries[1][1] == redacted
    assert entries[2] == [{"type": "string", "value": "ab"}, {"type": "int", "value": "7"}]
    assert entries[3] == [{"type": "string", "value": ""}, redacted]


def test_a_group_read_only_up_to_an_untouched_page() -> None:
    """A group BPF read only in part (BLOCK_FLAG_PARTIAL: its end ran into a page
    the program never touched): full slots before the cut are shown, one past it
    is not, and the map says its entries are incomplete; a map whose entries are
    all before the cut is whole. The same in C and in Python."""
    w = world()
    group = _group(
        [string_header(K1, 2) + u64(7), None, string_header(K2, 3) + u64(42)], SMAP.slot_size
    )
    cut = 8 + 2 * SMAP.slot_size + 4  # the third slot's key is cut
    group = group[:cut]  # BPF keeps the head of the group, up to the cut
    header = Blk(H, index(w, "map_header", T_SMAP), u64(2) + bytes(8) + u64(GRP) + bytes(24))
    blocks = [
        header,
        Blk(GRP, index(w, "map_group", T_SMAP), group, count=0, flags=BLOCK_FLAG_PARTIAL),
        Blk(K1, BYTES, b"ab"),
    ]
    m = value(w, u64(H) + bytes(56), blocks)["fields"]["M"]  # type: ignore[index]
    assert m == {
        "type": "map[string]int",
        "entries": [[{"type": "string", "value": "ab"}, {"type": "int", "value": "7"}]],
        "size": "2",
        "truncated": True,
        "notCapturedReason": "unavailable",
    }
    one = Blk(H, index(w, "map_header", T_SMAP), u64(1) + bytes(8) + u64(GRP) + bytes(24))
    m = value(w, u64(H) + bytes(56), [one, *blocks[1:]])["fields"]["M"]  # type: ignore[index]
    assert m == {
        "type": "map[string]int",
        "entries": [[{"type": "string", "value": "ab"}, {"type": "int", "value": "7"}]],
        "size": "1",
    }


def test_a_map_header_read_only_up_to_an_untouched_page() -> None:
    """A map header cut by a page never touched: shown when what was read holds its
    count and directory words (0..32), unavailable when not; C as Python."""
    w = world()
    group = _group([string_header(K1, 2) + u64(7)], SMAP.slot_size)
    head = u64(1) + bytes(8) + u64(GRP) + u64(0) + bytes(16)

    def m(valid: int) -> object:
        blocks = [
            Blk(H, index(w, "map_header", T_SMAP), head[:valid], 0, BLOCK_FLAG_PARTIAL),
            Blk(GRP, index(w, "map_group", T_SMAP), group),
            Blk(K1, BYTES, b"ab"),
        ]
        return value(w, u64(H) + bytes(56), blocks)["fields"]["M"]  # type: ignore[index]

    assert m(32) == {
        "type": "map[string]int",
        "entries": [[{"type": "string", "value": "ab"}, {"type": "int", "value": "7"}]],
        "size": "1",
    }
    assert m(24) == {"type": "map[string]int", "notCapturedReason": "unavailable"}
    # an empty map whose count was read needs no more of its header
    head = bytes(48)
    assert m(16) == {"type": "map[string]int", "entries": [], "size": "0"}
    assert m(4) == {"type": "map[string]int", "notCapturedReason": "unavailable"}


def test_map_of_tables_with_indirect_slots() -> None:
    w = world()
    point = struct.pack("<ii", 3, -4)
    group = _group([u64(K1) + u64(K2), u64(K2) + u64(K1)], PMAP.slot_size)
    header = u64(5) + bytes(8) + u64(DIR) + u64(2) + bytes(16)
    table = bytes(16) + u64(GRP) + u64(0)
    blocks = [
        Blk(H, index(w, "map_header", T_PMAP), header),
        Blk(DIR, index(w, "map_directory", T_PMAP), u64(TAB) + u64(TAB)),
        Blk(TAB, index(w, "map_table", T_PMAP), table),
        Blk(GRP, index(w, "map_group", T_PMAP), group),
        Blk(K1, CT[T_INT], u64(9)),
        Blk(K2, CT[T_POINT_S], point),
    ]
    v = value(w, bytes(8) + u64(H) + bytes(48), blocks)
    m = v["fields"]["P"]  # type: ignore[index]
    # the table twice in the directory: its entries once; the second slot's key
    # is a Point's address, its value an int's: not found, left out
    assert m["entries"] == [  # type: ignore[index]
        [
            {"type": "int", "value": "9"},
            {
                "type": "main.Point",
                "fields": {
                    "X": {"type": "int32", "value": "3"},
                    "Y": {"type": "int32", "value": "-4"},
                },
            },
        ]
    ]
    assert m["size"] == "5" and m["truncated"] is True  # type: ignore[index]


def test_interfaces_funcs_and_addresses() -> None:
    w = world(Capture(max_reference_depth=2))
    itab = bytes(8) + u64(D_PHOLDER) + bytes(16)
    root = (
        bytes(16)  # M, P: nil maps
        + u64(D_INT)
        + u64(S1)  # E: an int behind a pointer
        + u64(S2)
        + u64(H)  # S: a *Holder (direct) through an itab
        + u64(K1)  # F: a func value
        + u64(0xDEADBEEF)  # U
    )
    blocks = [
        Blk(S1, CT[T_INT], u64(12)),
        Blk(S2, index(w, "itab", None), itab),
        Blk(H, index(w, "value", T_HOLDER), root),  # the holder holds itself
        Blk(K1, index(w, "code", None), u64(0x401010)),
    ]
    v = value(w, root, blocks)
    fields = v["fields"]  # type: ignore[index]
    assert fields["E"] == {
        "type": "interface {}",
        "fields": {"data": {"type": "int", "value": "12"}},
    }
    assert fields["U"] == {"type": "unsafe.Pointer", "address": "0xdeadbeef"}
    assert fields["S"]["fields"]["data"]["type"] == "*main.Holder"
    # an unknown dynamic type, a missing itab, nil values
    v = value(w, bytes(16) + u64(D_UNKNOWN) + u64(S1) + u64(S1) + u64(S1) + bytes(16), [])
    fields = v["fields"]  # type: ignore[index]
    assert fields["E"]["notCapturedReason"] == "missing type information"
    assert fields["S"]["notCapturedReason"] == "unavailable"
    assert fields["F"] == {"type": "func()", "isNull": True}
    assert fields["U"] == {"type": "unsafe.Pointer", "isNull": True}


def test_interfaces_holding_a_struct_of_one_pointer_or_a_zero_size_value() -> None:
    """A struct of one pointer is stored in the interface's data word and its
    pointee is one level down, as a pointer's (depth 1 shows the point, where one
    level more would cut it); a struct of one map is one level down itself, as a
    map; a zero-size value renders from no bytes, whatever its data word points
    at. Each the same in C and Python."""
    w = world(Capture(max_reference_depth=1))
    itab_mbox = bytes(8) + u64(D_MBOX) + bytes(16)
    root = (
        bytes(16)  # M, P: nil maps
        + u64(D_BOX)
        + u64(S1)  # E: main.Box{P: S1}, stored directly
        + u64(S2)
        + u64(H)  # S: main.MBox{M: H}, stored directly, through an itab
        + bytes(16)  # F, U: nil
    )
    header = u64(1) + bytes(8) + u64(GRP) + u64(0) + bytes(16)
    slots: list[bytes | None] = [string_header(K1, 1) + u64(5)]
    blocks = [
        Blk(S1, CT[T_POINT_S], struct.pack("<ii", 3, -4)),
        Blk(S2, index(w, "itab", None), itab_mbox),
        Blk(H, index(w, "map_header", T_SMAP), header),
        Blk(GRP, index(w, "map_group", T_SMAP), _group(slots, SMAP.slot_size)),
        Blk(K1, BYTES, b"k"),
    ]
    v = value(w, root, blocks)
    fields = v["fields"]  # type: ignore[index]
    box = fields["E"]["fields"]["data"]
    assert box["type"] == "main.Box"
    assert box["fields"]["P"]["fields"] == {
        "X": {"type": "int32", "value": "3"},
        "Y": {"type": "int32", "value": "-4"},
    }
    mbox = fields["S"]["fields"]["data"]
    assert mbox["type"] == "main.MBox"
    assert mbox["fields"]["M"]["entries"] == [
        [{"type": "string", "value": "k"}, {"type": "int", "value": "5"}]
    ]
    # zero-size: its data word (runtime.zerobase) was never copied
    for depth in (1, 2):
        w = world(Capture(max_reference_depth=depth))
        v = value(w, bytes(16) + u64(D_EMPTY) + u64(0x5A0000) + bytes(32), [])
        assert v["fields"]["E"] == {  # type: ignore[index]
            "type": "interface {}",
            "fields": {"data": {"type": "struct {}", "fields": {}}},
        }
    w = world(Capture(max_reference_depth=0))
    v = value(w, bytes(16) + u64(D_EMPTY) + u64(0x5A0000) + bytes(32), [])
    assert v["fields"]["E"]["notCapturedReason"] == "depth"  # type: ignore[index]


# ---------------------------------------------------------------- random events

_W = world()
_ROLE_TYPES = [t.index for t in _W.layout.types if t.index >= 2]
ADDRS = [H, DIR, TAB, GRP, S1, S2, K1, K2]
DESCRIPTORS = [
    D_INT,
    D_STRING,
    D_PHOLDER,
    D_SMAP,
    D_POINT,
    D_FUNC,
    D_UNKNOWN,
    D_BOX,
    D_MBOX,
    D_EMPTY,
]
CTRL = [0x8080808080808080, 0x8080808080111111, 0x1111111111111111, 0x80FE1180]
_EXAMPLES = int(os.environ.get("GODI_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_EXAMPLES or 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=not _EXAMPLES,
    database=None,
)


@st.composite
def random_event(draw: st.DrawFn) -> tuple[Capture, bytes, list[Blk]]:
    small = st.integers(0, 4)
    limits = Capture(
        max_reference_depth=draw(small),
        max_collection_size=draw(small),
        max_length=draw(st.integers(0, 12)),
        max_field_count=draw(st.integers(0, 7)),
    )
    word = st.one_of(
        st.sampled_from([0, *ADDRS]),
        st.sampled_from(DESCRIPTORS),
        st.sampled_from(CTRL),
        st.integers(0, 20),
        st.integers(0, 2**64 - 1),
    )
    root = b"".join(u64(draw(word)) for _ in range(8))
    sizes = elem_sizes(_W)
    blocks = []
    for _ in range(draw(st.integers(0, 10))):
        ct = draw(st.sampled_from([BYTES, *_ROLE_TYPES]))
        failed = draw(st.booleans()) and draw(st.booleans())
        if ct == BYTES:
            data = draw(st.binary(max_size=12))
        else:
            count = draw(st.integers(0, 2))
            words = -(-sizes[ct] * count // 8)
            data = b"".join(u64(draw(word)) for _ in range(words))[: sizes[ct] * count]
        blocks.append(
            Blk(
                draw(st.sampled_from(ADDRS)),
                ct,
                b"" if failed else data,
                count=(2 if failed else None),
                flags=(BLOCK_FLAG_READ_FAILED if failed else 0),
            )
        )
    if draw(st.booleans()):  # a small map[string]int at H, most of the time whole
        slots = [
            None
            if draw(st.booleans())
            else string_header(
                draw(st.sampled_from([K1, K2, 0])),
                draw(st.integers(0, 9)) | draw(st.sampled_from([0, 0, KEY_REDACTED])),
            )
            + u64(draw(word))
            for _ in range(draw(st.integers(0, 8)))
        ]
        used = draw(st.integers(0, 9))
        header = u64(used) + bytes(8) + u64(GRP) + u64(0) + bytes(16)
        blocks += [
            Blk(H, index(_W, "map_header", T_SMAP), header),
            Blk(GRP, index(_W, "map_group", T_SMAP), _group(slots, SMAP.slot_size)),
            Blk(K1, BYTES, draw(st.sampled_from([b"password", b"x", b"tokens\xff"]))),
            Blk(K2, BYTES, draw(st.binary(max_size=9))),
        ]
        root = u64(H) + root[8:]
    return limits, root, blocks


@FUZZ
@given(random_event(), st.booleans())
def test_random_runtime_values_render_the_same(
    drawn: tuple[Capture, bytes, list[Blk]], truncated: bool
) -> None:
    limits, root, blocks = drawn
    w = world(limits)
    flags = EVENT_FLAG_TRUNCATED if truncated else 0
    both(w, [pack_event(root, blocks, elem_sizes=elem_sizes(w), flags=flags)])


# ------------------------------------------------------------------ fixed holes


@st.composite
def holes(draw: st.DrawFn, size: int) -> list[PieceLayout]:
    """A variable's pieces: some of its bytes unavailable, the rest on the stack."""
    cuts = sorted(set(draw(st.lists(st.integers(1, size - 1), max_size=4))))
    bounds = [0, *cuts, size]
    return [
        PieceLayout(offset=a, size=b - a, source=draw(st.sampled_from(["unavailable", "stack"])))
        for a, b in itertools.pairwise(bounds)
    ]


@FUZZ
@given(random_event(), holes(64), holes(32), holes(16))
def test_values_with_fixed_holes_render_the_same(
    drawn: tuple[Capture, bytes, list[Blk]],
    holder_pieces: list[PieceLayout],
    mixed_pieces: list[PieceLayout],
    array_pieces: list[PieceLayout],
) -> None:
    """Holes fixed by the layout (bytes no register or stack slot held) render in
    C as in Python: a value touching one unavailable, a struct field by field (an
    array partly in one is left to Python)."""
    limits, root, blocks = drawn
    program = world().program
    w = make_world(
        [
            Var("v", T_HOLDER, pieces=holder_pieces),
            Var("m", T_MIXED, pieces=mixed_pieces),
            Var("a", T_ARR4, pieces=array_pieces),
        ],
        program=program,
        limits=limits,
    )
    w.layout = msgspec.structs.replace(
        w.layout, types=[*w.layout.types, *_roles(len(w.layout.types))]
    )
    mixed = struct.pack("<H?xfQQd", 7, True, 1.5, K2, 3, -0.0)
    event = pack_event(
        w.root(v=root, m=mixed, a=struct.pack("<4i", 1, -2, 3, -4)),
        blocks,
        elem_sizes=elem_sizes(w),
    )
    both(w, [event])


def test_a_holder_with_holes_is_decoded_in_c() -> None:
    pieces = [
        PieceLayout(offset=0, size=20, source="stack"),
        PieceLayout(offset=20, size=44, source="unavailable"),
    ]
    program = world().program
    w = make_world([Var("v", T_HOLDER, pieces=pieces)], program=program)
    w.layout = msgspec.structs.replace(
        w.layout, types=[*w.layout.types, *_roles(len(w.layout.types))]
    )
    v = value(w, bytes(64), [])
    fields = v["fields"]  # type: ignore[index]
    assert fields["M"] == {"type": "map[string]int", "isNull": True}
    assert fields["E"] == {"type": "interface {}", "notCapturedReason": "unavailable"}
    assert fields["U"] == {"type": "unsafe.Pointer", "notCapturedReason": "unavailable"}


def test_a_struct_with_blank_fields_partly_in_holes_is_decoded_alike() -> None:
    """A struct partly in a hole is rendered field by field in C: its ``_`` fields
    are left out there too, as in Python."""
    blanks = StructType(
        id=903,
        name="main.Blanks",
        size=24,
        fields=[
            Field(name="A", offset=0, type=T_INT32),
            Field(name="_", offset=4, type=T_INT32),
            Field(name="B", offset=8, type=T_INT32),
            Field(name="_", offset=12, type=T_INT32),
            Field(name="B", offset=16, type=T_INT32),
        ],
    )
    program = world().program
    program = msgspec.structs.replace(program, types=[*program.types, blanks])
    pieces = [
        PieceLayout(offset=0, size=12, source="stack"),
        PieceLayout(offset=12, size=12, source="unavailable"),
    ]
    w = make_world([Var("v", 903, pieces=pieces)], program=program)
    v = value(w, struct.pack("<iiiiii", 1, 2, 3, 4, 5, 6), [])
    assert v == {
        "type": "main.Blanks",
        "fields": {
            "A": {"type": "int32", "value": "1"},
            "B": {"type": "int32", "value": "3"},
            "B#4": {"type": "int32", "notCapturedReason": "unavailable"},
        },
    }


@pytest.mark.parametrize("used", [2, 3])
def test_a_group_read_up_to_a_page_boundary(used: int) -> None:
    """The second group of a table lies across a page the program never touched
    (BPF could read only its head: PARTIAL, one whole group and a head): its
    slots that were read show, one cut by the boundary does not. With as many
    entries as the map holds, the map is whole; one fewer says unavailable. The
    same from C and Python."""
    w = world()
    whole = _group([string_header(K1, 2) + u64(7)], SMAP.slot_size)
    second = _group([string_header(K2, 2) + u64(8), string_header(K1, 2) + u64(9)], SMAP.slot_size)
    head = second[: 8 + SMAP.slot_size + 20]  # ctrl, the first slot, part of the second
    header = u64(used) + bytes(8) + u64(DIR) + u64(1) + bytes(16)
    table = bytes(16) + u64(GRP) + u64(1)  # two groups
    blocks = [
        Blk(H, index(w, "map_header", T_SMAP), header),
        Blk(DIR, index(w, "map_directory", T_SMAP), u64(TAB)),
        Blk(TAB, index(w, "map_table", T_SMAP), table),
        Blk(GRP, index(w, "map_group", T_SMAP), whole + head, count=1, flags=BLOCK_FLAG_PARTIAL),
        Blk(K1, BYTES, b"ab"),
        Blk(K2, BYTES, b"cd"),
    ]
    m = value(w, u64(H) + bytes(56), blocks)["fields"]["M"]  # type: ignore[index]
    assert m["entries"] == [  # type: ignore[index]
        [{"type": "string", "value": "ab"}, {"type": "int", "value": "7"}],
        [{"type": "string", "value": "cd"}, {"type": "int", "value": "8"}],
    ]
    assert m["size"] == str(used)  # type: ignore[index]
    if used == 2:
        assert "notCapturedReason" not in m
    else:
        assert m["notCapturedReason"] == "unavailable"  # type: ignore[index]
