"""The C fast path (``stages/decode/_render.c``, ``native``) against the Python
reference: the same bytes out for the same dump, whatever the dump holds.

Every dump here is decoded twice, with the C path on and with
``GODI_DECODE_NATIVE=0``: the committed fixtures (under their own limits and
tighter ones), hand-built events for the edge cases of the value contract, and
random events. The C block indexer is compared with ``events._parse_blocks`` on
random block sequences, errors included.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
import pytest
from decode_helpers import (
    BYTES,
    CT,
    T_ARR4,
    T_IFACE,
    T_INT,
    T_MIXED,
    T_NODE,
    T_PEMPTY,
    T_PMAP,
    T_PNODE,
    T_POINT_S,
    T_PPOINT,
    T_PPPOINT,
    T_PSLICE,
    T_PSTRING,
    T_SLICE_INT,
    T_SLICE_POINT,
    T_SLICE_STR,
    T_STRING,
    T_WIDE,
    Blk,
    Var,
    World,
    elem_sizes,
    i64,
    make_dump,
    make_world,
    pack_event,
    run,
    slice_header,
    string_header,
    u64,
)
from fixture_cases import CASES, load_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.decode import decode, native
from stages.decode.events import parse_event
from stages.errors import DecodeError
from stages.layout import BLOCK_FLAG_READ_FAILED, BLOCK_FLAG_SHORT, EVENT_FLAG_TRUNCATED
from stages.spec import Capture

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension is not built")


@contextmanager
def native_switch(on: bool) -> Iterator[None]:
    """``GODI_DECODE_NATIVE`` set for the decodes started inside."""
    old = os.environ.get(native.ENVIRONMENT)
    os.environ[native.ENVIRONMENT] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ[native.ENVIRONMENT]
        else:
            os.environ[native.ENVIRONMENT] = old


def both(world: World, events: list[bytes]) -> list[bytes]:
    """The snapshots of ``events`` from both paths, checked equal."""
    dump = make_dump(events)
    out = []
    for on in (True, False):
        with native_switch(on):
            out.append(list(run(world, dump).encoded()))
    assert out[0] == out[1]
    return out[0]


def value(world: World, root: bytes, blocks: list[Blk] = [], **kw: object) -> object:  # noqa: B006
    """The value of ``v`` in one event, the same from both paths."""
    event = pack_event(root, blocks, elem_sizes=elem_sizes(world), **kw)  # type: ignore[arg-type]
    (raw,) = both(world, [event])
    snap = msgspec.json.decode(raw)
    return snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["v"]


def world_of(type_id: int, **limits: int) -> World:
    return make_world([Var("v", type_id)], limits=Capture(**limits))


# ------------------------------------------------------------------ the fixtures

LIMITS = [
    None,
    Capture(max_reference_depth=1, max_collection_size=2, max_length=4, max_field_count=2),
    Capture(max_reference_depth=0, max_collection_size=0, max_length=0, max_field_count=0),
    Capture(max_reference_depth=20, max_collection_size=1000, max_length=5000, max_field_count=50),
]


@pytest.mark.skipif(not CASES, reason="no fixtures")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("limits", range(len(LIMITS)))
def test_fixture_dumps_render_the_same(case: str, limits: int) -> None:
    c = load_case(case)
    layout = c.layout
    if LIMITS[limits] is not None:
        probes = [msgspec.structs.replace(p, limits=LIMITS[limits]) for p in layout.probes]
        layout = msgspec.structs.replace(layout, probes=probes)
    out = []
    for on in (True, False):
        with native_switch(on):
            r = decode(
                io.BytesIO(c.dump),
                c.program,
                layout,
                program_hash=c.program_hash,
                ir_hash=c.ir_hash,
                service="fixture",
            )
            out.append((list(r.encoded()), r.events, r.by_probe, r.corrupt_at))
    assert out[0][1] > 0
    assert out[0] == out[1]


@pytest.mark.skipif(not CASES, reason="no fixtures")
@pytest.mark.parametrize("case", CASES)
def test_fixture_values_take_the_c_path(case: str) -> None:
    """Not a silent fallback: with the C path on, the variables of the fixtures'
    probes have C renderers."""
    c = load_case(case)
    with native_switch(True):
        r = c.run()
    plans = r._plans.values()
    assert any(p.arguments.native is not None for p in plans)
    assert all(
        v.native is not None
        for p in plans
        for v in p.arguments.variables
        if not v.holes and v.constant is None
    )
    snaps = list(r.encoded())
    assert snaps
    assert r.native_events > 0  # whole snapshots made in C (``fastpath``)


# ---------------------------------------------------------------------- strings

S = 0xC000001000


def test_cut_drops_a_split_utf8_sequence() -> None:
    text = "abc€def".encode()  # € is 3 bytes, from byte 3
    w = world_of(T_STRING, max_length=5)
    v = value(w, string_header(S, len(text)), [Blk(S, BYTES, text[:5])])
    assert v == {
        "type": "string",
        "value": "abc",
        "size": str(len(text)),
        "truncated": True,
        "notCapturedReason": "length",
    }
    # The whole string copied (longer than maxLength): the same cut.
    assert value(w, string_header(S, len(text)), [Blk(S, BYTES, text)]) == v


def test_invalid_utf8_is_replaced() -> None:
    for data in [
        b"a\xffb",
        b"\xc3(x",
        b"\xe0\x80\x80",
        b"\xed\xa0\x80",
        b"ok\xf4\x90\x80\x80",
        b"\xc3",
    ]:
        w = world_of(T_STRING)
        v = value(w, string_header(S, len(data)), [Blk(S, BYTES, data)])
        assert v["value"] == data.decode("utf-8", "replace")  # type: ignore[index]
    # Cut inside an invalid sequence: what is known invalid is replaced.
    data = b"ab\xe0\x80zz"
    v = value(world_of(T_STRING, max_length=4), string_header(S, 6), [Blk(S, BYTES, data[:4])])
    assert v["value"] == "ab\ufffd\ufffd"  # type: ignore[index]


def test_escaping_matches_msgspec() -> None:
    text = '\x00\x01\x08\t\n\x0b\x0c\r\x1f "quoted" back\\slash \x7f \u2028 é 😀'
    data = text.encode()
    v = value(world_of(T_STRING), string_header(S, len(data)), [Blk(S, BYTES, data)])
    assert v["value"] == text  # type: ignore[index]


def test_string_block_shapes() -> None:
    w = world_of(T_STRING, max_length=8)
    hdr = string_header(S, 20)
    # missing, read failed, short (fewer bytes than wanted), empty, nil
    assert value(w, hdr) == {"type": "string", "notCapturedReason": "unavailable"}
    failed = Blk(S, BYTES, b"", count=20, flags=BLOCK_FLAG_READ_FAILED)
    assert value(w, hdr, [failed])["notCapturedReason"] == "unavailable"  # type: ignore[index]
    short = value(w, hdr, [Blk(S, BYTES, b"abc", flags=BLOCK_FLAG_SHORT)])
    assert short == {"type": "string", "value": "abc", "size": "20", "truncated": True}
    assert value(w, string_header(S, 0))["value"] == ""  # type: ignore[index]
    assert value(w, string_header(0, 0))["value"] == ""  # type: ignore[index]
    # A truncated event reports the missing string as an evaluation error.
    both(w, [pack_event(w.root(v=hdr), [], flags=EVENT_FLAG_TRUNCATED)])


# ---------------------------------------------------------- pointers and limits

N1, N2, N3 = 0xC000010000, 0xC000020000, 0xC000030000


def node(val: int, name_at: int, name_len: int, nxt: int) -> bytes:
    return i64(val) + string_header(name_at, name_len) + u64(nxt)


def test_nil_and_cyclic_pointers() -> None:
    w = world_of(T_PNODE, max_reference_depth=10)
    assert value(w, u64(0)) == {"type": "*main.Node", "isNull": True}
    blocks = [
        Blk(N1, CT[T_NODE], node(1, S, 2, N2)),
        Blk(N2, CT[T_NODE], node(2, S, 2, N1)),
        Blk(S, BYTES, b"hi"),
    ]
    v = value(w, u64(N1), blocks)
    nxt = v["fields"]["Next"]["fields"]["Next"]  # type: ignore[index]
    assert nxt == {
        "type": "*main.Node",
        "address": f"{N1:#x}",
        "notCapturedReason": "circular reference",
    }


def test_depth_limit_and_missing_pointee() -> None:
    blocks = [
        Blk(N1, CT[T_NODE], node(1, 0, 0, N2)),
        Blk(N2, CT[T_NODE], node(2, 0, 0, N3)),
    ]
    for depth in range(4):
        value(world_of(T_PNODE, max_reference_depth=depth), u64(N1), blocks)
    # N3's block is missing: unavailable, and an error in a truncated event
    w = world_of(T_PNODE, max_reference_depth=5)
    both(
        w,
        [
            pack_event(
                w.root(v=u64(N1)), blocks, flags=EVENT_FLAG_TRUNCATED, elem_sizes=elem_sizes(w)
            )
        ],
    )
    failed = Blk(N3, CT[T_NODE], b"", count=1, flags=BLOCK_FLAG_READ_FAILED)
    value(w, u64(N1), [*blocks, failed])


def test_pointer_to_pointer_zero_size_and_python_kinds() -> None:
    p1, p2 = 0xC000040000, 0xC000050000
    blocks = [Blk(p1, CT[T_PPOINT], u64(p2)), Blk(p2, CT[T_POINT_S], struct.pack("<ii", 3, -4))]
    v = value(world_of(T_PPPOINT), u64(p1), blocks)
    assert v["fields"]["*"]["address"] == f"{p2:#x}"  # type: ignore[index]
    assert value(world_of(T_PEMPTY), u64(p1)) == {
        "type": "*struct {}",
        "fields": {},
        "address": f"{p1:#x}",
    }
    # kinds left to Python, reached from C: a map, an interface, *[]int, *string
    value(world_of(T_PMAP), u64(p1))
    value(world_of(T_IFACE), u64(p1) + u64(p2))
    value(world_of(T_PSLICE), u64(p1))
    value(world_of(T_PSTRING), u64(p1), [Blk(p1, CT[T_STRING], string_header(S, 3))])


def test_collection_and_field_limits() -> None:
    ints = b"".join(i64(i) for i in range(5))
    a = 0xC000060000
    w = world_of(T_SLICE_INT, max_collection_size=2)
    v = value(w, slice_header(a, 5), [Blk(a, CT[T_INT], ints)])
    assert v["notCapturedReason"] == "collectionSize"  # type: ignore[index]
    assert value(w, slice_header(0, 0)) == {"type": "[]int", "isNull": True}
    value(w, slice_header(a, 5))  # no block
    value(world_of(T_SLICE_INT), slice_header(a, 5), [Blk(a, CT[T_INT], ints[:16])])  # short
    value(world_of(T_ARR4, max_collection_size=3), struct.pack("<4i", 1, -2, 3, -4))
    wide = value(world_of(T_WIDE, max_field_count=3), bytes(range(25)))
    assert wide["notCapturedReason"] == "fieldCount"  # type: ignore[index]
    assert len(wide["fields"]) == 3  # type: ignore[index]
    mixed = struct.pack("<H?xfQQd", 7, True, 1.5, S, 3, -0.0)
    value(world_of(T_MIXED), mixed, [Blk(S, BYTES, b'a"b')])


# ---------------------------------------------------------------- random events

TYPES = [T_NODE, T_PNODE, T_SLICE_STR, T_SLICE_POINT, T_MIXED, T_PPPOINT, T_ARR4, T_PSLICE]
ADDRS = [0, 0xC000001000, 0xC000002000, 0xC000003000]
_EXAMPLES = int(os.environ.get("GODI_FUZZ_EXAMPLES", "0"))  # as in test_fuzz
FUZZ = settings(
    max_examples=_EXAMPLES or 60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=not _EXAMPLES,
    database=None,
)


@st.composite
def random_event(draw: st.DrawFn) -> tuple[int, Capture, bytes, list[Blk]]:
    tid = draw(st.sampled_from(TYPES))
    small = st.integers(0, 4)
    limits = Capture(
        max_reference_depth=draw(small),
        max_collection_size=draw(small),
        max_length=draw(st.integers(0, 12)),
        max_field_count=draw(small),
    )
    word = st.one_of(st.sampled_from(ADDRS), st.integers(0, 20), st.integers(0, 2**64 - 1))
    root = b"".join(u64(draw(word)) for _ in range(4))
    blocks = []
    for _ in range(draw(st.integers(0, 8))):
        ct = draw(st.sampled_from([BYTES, *CT.values()]))
        data = b"".join(u64(draw(word)) for _ in range(draw(st.integers(0, 6))))
        text = draw(st.binary(max_size=20))
        failed = draw(st.booleans()) and draw(st.booleans())
        blocks.append(
            Blk(
                draw(st.sampled_from(ADDRS[1:])),
                ct,
                b"" if failed else (text if ct == BYTES else data),
                count=(3 if failed else None),
                flags=(BLOCK_FLAG_READ_FAILED if failed else 0),
            )
        )
    return tid, limits, root, blocks


@FUZZ
@given(random_event(), st.booleans())
def test_random_events_render_the_same(
    drawn: tuple[int, Capture, bytes, list[Blk]], truncated: bool
) -> None:
    tid, limits, root, blocks = drawn
    w = make_world([Var("v", tid)], limits=limits)
    sizes = elem_sizes(w)
    # blocks of whole elements only (a record whose lengths disagree is corrupt)
    blocks = [b for b in blocks if b.flags or len(b.data) % sizes.get(b.type, 1) == 0]
    root = root[: w.root_size].ljust(w.root_size, b"\0")
    flags = EVENT_FLAG_TRUNCATED if truncated else 0
    both(w, [pack_event(root, blocks, elem_sizes=sizes, flags=flags)])


# -------------------------------------------------------------- block indexing

SIZES = [1, 8, 16, 24]


@st.composite
def block_records(draw: st.DrawFn) -> bytes:
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        ct = draw(st.integers(0, len(SIZES)))  # one past the end: unknown
        count = draw(st.integers(0, 3))
        flags = draw(st.integers(0, 7))  # READ_FAILED, SHORT, PARTIAL
        size = SIZES[ct] if ct < len(SIZES) else 1
        length = 0 if flags & BLOCK_FLAG_READ_FAILED else count * size
        # PARTIAL: the head of one more element (more than none, less than one)
        length = draw(st.sampled_from([length, length, length + 1, length + size - 1]))
        addr = draw(st.sampled_from([0x10, 0x20]))
        out += struct.pack("<QIIII", addr, ct, count, length, flags)
        out += bytes(draw(st.integers(length - 1, length + 7)) if length else 0)
    cut = draw(st.integers(0, 30))
    return bytes(out[: len(out) - cut] if draw(st.booleans()) else out)


def _event(blocks: bytes) -> bytes:
    body = bytes(8) + blocks  # root of 8 bytes, no stack
    head = struct.pack("<IIQQIIIHHQQQ", 0, len(body), 0, 0, 0, 0, 8, 0, 0, 0, 0, 0)
    return head + body


@settings(max_examples=_EXAMPLES or 300, deadline=None, derandomize=not _EXAMPLES, database=None)
@given(block_records())
def test_index_blocks_matches_parse_blocks(blocks: bytes) -> None:
    event = _event(blocks)
    with native_switch(True):
        indexer = native.block_indexer()
    assert indexer is not None
    results = []
    for index in (indexer, None):
        try:
            e = parse_event(event, 1234, SIZES, index)
        except DecodeError as err:
            results.append(("error", str(err)))
        else:
            got = {k: e.blocks[k] for k in e.blocks}  # type: ignore[attr-defined]
            results.append(("ok", (list(got.items()), e.any_short)))
    assert results[0] == results[1]


def test_block_index_is_a_read_only_mapping() -> None:
    with native_switch(True):
        index = native.block_indexer()
    assert index is not None
    blocks = struct.pack("<QIIII", 0x10, 1, 1, 8, 0) + bytes(8)
    blocks += struct.pack("<QIIII", 0x20, 0, 0, 0, BLOCK_FLAG_READ_FAILED)
    blocks += struct.pack("<QIIII", 0x10, 1, 2, 16, 0) + bytes(16)  # better: more elements
    e = parse_event(_event(blocks), 0, SIZES, index)
    b = e.blocks
    assert b[(0x10, 1)] == (64 + 8 + 24 + 8 + 24 + 24, 64 + 8 + 24 + 8 + 24 + 24 + 16, 2, 0)
    assert b.get((0x20, 0)) == (64 + 8 + 24 + 8 + 24, 64 + 8 + 24 + 8 + 24, 0, 1)
    assert b.get((0x30, 0)) is None
    assert b.get((-1, 2**70)) is None
    assert b.get("nonsense") is None  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        b[(0x30, 0)]
    assert list(b) == [(0x10, 1), (0x20, 0)]  # type: ignore[call-overload]
    assert len(b) == 2  # type: ignore[arg-type]
    assert (0x20, 0) in b  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), offset=st.integers(0, 15), crc=st.integers(0, 2**32 - 1))
def test_record_crc_is_zlibs(data: bytes, offset: int, crc: int) -> None:
    """The CRC-32 C checks dump records with (carry-less multiplication folding
    from 64 bytes on, slice-by-8 for the rest) is zlib's, at any length and
    alignment, from any starting value."""
    buf = memoryview(bytes(offset) + data)[offset:]
    assert native._render.crc32(buf, crc) == zlib.crc32(data, crc)


@pytest.mark.parametrize("size", [63, 64, 65, 79, 80, 127, 128, 129, 4096 + 13, 1 << 20])
def test_record_crc_of_long_records(size: int) -> None:
    data = bytes((i * 131 + (i >> 8)) & 0xFF for i in range(size))
    assert native._render.crc32(data) == zlib.crc32(data)
    assert native._render.crc32(data[7:], 0xDEADBEEF) == zlib.crc32(data[7:], 0xDEADBEEF)
