"""Rendering of captured values, kind by kind (snapshot-format.md's table)."""

from __future__ import annotations

import struct

import pytest
from decode_helpers import (
    BYTES,
    CT,
    T_ARR4,
    T_ARR200,
    T_BOOL,
    T_C64,
    T_C128,
    T_CELSIUS,
    T_CHAN,
    T_EMPTY,
    T_F32,
    T_F64,
    T_FUNC,
    T_IFACE,
    T_INT,
    T_INT8,
    T_INT16,
    T_INT32,
    T_INT64,
    T_MAP,
    T_MIXED,
    T_NODE,
    T_PEMPTY,
    T_PINT,
    T_PMAP,
    T_PNODE,
    T_POINT,
    T_PPOINT,
    T_PPPOINT,
    T_PSLICE,
    T_PSTRING,
    T_SLICE_INT,
    T_SLICE_POINT,
    T_SLICE_STR,
    T_STRING,
    T_UINT,
    T_UINT8,
    T_UINT16,
    T_UINT32,
    T_UINT64,
    T_UINTPTR,
    T_UNSAFE,
    T_UNSUP,
    T_WIDE,
    Blk,
    Simple,
    i64,
    slice_header,
    string_header,
    u64,
)

from stages.layout import (
    BLOCK_FLAG_READ_FAILED,
    BLOCK_FLAG_SHORT,
    EVENT_FLAG_TRUNCATED,
    PieceLayout,
)
from stages.spec import Capture

# ----------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("tid", "data", "name", "text"),
    [
        (T_BOOL, b"\x01", "bool", "true"),
        (T_BOOL, b"\x00", "bool", "false"),
        (T_INT8, struct.pack("<b", -128), "int8", "-128"),
        (T_INT16, struct.pack("<h", -300), "int16", "-300"),
        (T_INT32, struct.pack("<i", -64), "int32", "-64"),
        (T_INT64, i64(-(2**63)), "int64", "-9223372036854775808"),
        (T_INT, i64(42), "int", "42"),
        (T_UINT8, b"\xff", "uint8", "255"),
        (T_UINT16, struct.pack("<H", 65535), "uint16", "65535"),
        (T_UINT32, struct.pack("<I", 2**32 - 1), "uint32", "4294967295"),
        (T_UINT64, u64(2**64 - 1), "uint64", "18446744073709551615"),
        (T_UINT, u64(7), "uint", "7"),
        (T_UINTPTR, u64(0x7FFD1234), "uintptr", "0x7ffd1234"),
        (T_UINTPTR, u64(0), "uintptr", "0x0"),
        (T_F32, struct.pack("<f", 0.1), "float32", "0.1"),
        (T_F64, struct.pack("<d", -2.25), "float64", "-2.25"),
        (T_F64, struct.pack("<d", 1e21), "float64", "1e+21"),
        (T_F64, struct.pack("<d", float("inf")), "float64", "+Inf"),
        (T_C64, struct.pack("<ff", 1.0, 2.0), "complex64", "(1+2i)"),
        (T_C128, struct.pack("<dd", 0.5, -3.0), "complex128", "(0.5-3i)"),
        (T_CELSIUS, struct.pack("<d", 36.6), "main.Celsius", "36.6"),
    ],
)
def test_scalar(tid: int, data: bytes, name: str, text: str) -> None:
    assert Simple(tid).value(data) == {"type": name, "value": text}


# ----------------------------------------------------------------------- strings

S = 0xC000010000


def test_string_short() -> None:
    v = Simple(T_STRING).value(string_header(S, 6), [Blk(S, BYTES, "héllo".encode())])
    assert v == {"type": "string", "value": "héllo"}


def test_string_empty_needs_no_block() -> None:
    assert Simple(T_STRING).value(string_header(0, 0)) == {"type": "string", "value": ""}


def test_string_exactly_max_length() -> None:
    s = Simple(T_STRING, limits=Capture(max_length=5))
    assert s.value(string_header(S, 5), [Blk(S, BYTES, b"abcde")]) == {
        "type": "string",
        "value": "abcde",
    }


def test_string_longer_than_max_length() -> None:
    s = Simple(T_STRING, limits=Capture(max_length=5))
    assert s.value(string_header(S, 300), [Blk(S, BYTES, b"abcde")]) == {
        "type": "string",
        "value": "abcde",
        "size": "300",
        "truncated": True,
        "notCapturedReason": "length",
    }


def test_string_block_longer_than_needed_serves() -> None:
    s = Simple(T_STRING, limits=Capture(max_length=3))
    v = s.value(string_header(S, 10), [Blk(S, BYTES, b"abcdefghij")])
    assert v["value"] == "abc"
    assert v["size"] == "10"


def test_string_invalid_utf8_replaced() -> None:
    v = Simple(T_STRING).value(string_header(S, 4), [Blk(S, BYTES, b"a\xffb\xc3")])
    assert v == {"type": "string", "value": "a\ufffdb\ufffd"}


def test_string_cut_inside_a_character_drops_the_partial_character() -> None:
    s = Simple(T_STRING, limits=Capture(max_length=2))
    v = s.value(string_header(S, 3), [Blk(S, BYTES, "aé".encode())])
    assert v["value"] == "a"
    assert v["truncated"] is True


def test_string_read_failed() -> None:
    v = Simple(T_STRING).value(
        string_header(S, 4), [Blk(S, BYTES, b"", count=0, flags=BLOCK_FLAG_READ_FAILED)]
    )
    assert v == {"type": "string", "notCapturedReason": "unavailable"}


def test_string_block_missing() -> None:
    v = Simple(T_STRING).value(string_header(S, 4))
    assert v == {"type": "string", "notCapturedReason": "unavailable"}


def test_string_short_block() -> None:
    snap = Simple(T_STRING).snapshot(
        string_header(S, 10),
        [Blk(S, BYTES, b"abc", flags=BLOCK_FLAG_SHORT)],
        flags=EVENT_FLAG_TRUNCATED,
    )
    v = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["v"]
    assert v == {"type": "string", "value": "abc", "size": "10", "truncated": True}
    assert snap["debugger"]["snapshot"]["evaluationErrors"] == [
        {"expr": "v", "message": "event truncated: capture budget exhausted"}
    ]


# ----------------------------------------------------------------------- structs


def _mixed(label_ptr: int = 0, label_len: int = 0) -> bytes:
    return (
        struct.pack("<H?xf", 7, True, 1.5)
        + string_header(label_ptr, label_len)
        + struct.pack("<d", 2.0)
    )


def test_struct_fields_in_declaration_order() -> None:
    v = Simple(T_MIXED).value(_mixed(S, 2), [Blk(S, BYTES, b"hi")])
    assert v == {
        "type": "main.Mixed",
        "fields": {
            "ID": {"type": "uint16", "value": "7"},
            "Ok": {"type": "bool", "value": "true"},
            "Weight": {"type": "float32", "value": "1.5"},
            "Label": {"type": "string", "value": "hi"},
            "Scale": {"type": "float64", "value": "2"},
        },
    }
    assert list(v["fields"]) == ["ID", "Ok", "Weight", "Label", "Scale"]


def test_struct_typedef_name() -> None:
    v = Simple(T_POINT).value(struct.pack("<ii", 3, -4))
    assert v == {
        "type": "main.Point",
        "fields": {"X": {"type": "int32", "value": "3"}, "Y": {"type": "int32", "value": "-4"}},
    }


def test_struct_field_count() -> None:
    s = Simple(T_WIDE, limits=Capture(max_field_count=3))
    v = s.value(bytes(range(25)))
    assert v["notCapturedReason"] == "fieldCount"
    assert list(v["fields"]) == ["F0", "F1", "F2"]
    assert v["fields"]["F2"] == {"type": "int8", "value": "2"}


def test_struct_default_field_count_is_20() -> None:
    v = Simple(T_WIDE).value(bytes(25))
    assert len(v["fields"]) == 20
    assert v["notCapturedReason"] == "fieldCount"


def test_empty_struct() -> None:
    assert Simple(T_EMPTY).value(b"") == {"type": "struct {}", "fields": {}}


def test_struct_split_piece_unavailable_fields() -> None:
    # Mixed in pieces: ID+Ok+Weight in a register, Label missing, Scale on the stack.
    pieces = [
        PieceLayout(offset=0, size=8, source="register"),
        PieceLayout(offset=8, size=16, source="unavailable", reason="optimised out"),
        PieceLayout(offset=24, size=8, source="stack"),
    ]
    v = Simple(T_MIXED, pieces=pieces).value(_mixed())
    assert v["fields"]["ID"] == {"type": "uint16", "value": "7"}
    assert v["fields"]["Label"] == {"type": "string", "notCapturedReason": "unavailable"}
    assert v["fields"]["Scale"] == {"type": "float64", "value": "2"}


def test_scalar_partly_in_unavailable_piece() -> None:
    pieces = [
        PieceLayout(offset=0, size=4, source="register"),
        PieceLayout(offset=4, size=4, source="unavailable"),
    ]
    v = Simple(T_INT, pieces=pieces).value(i64(5))
    assert v == {"type": "int", "notCapturedReason": "unavailable"}


def test_whole_struct_unavailable_renders_unavailable() -> None:
    pieces = [PieceLayout(offset=0, size=8, source="unavailable")]
    v = Simple(T_POINT, pieces=pieces).value(bytes(8))
    assert v == {"type": "main.Point", "notCapturedReason": "unavailable"}


def test_memory_piece_with_failed_read() -> None:
    pieces = [
        PieceLayout(offset=0, size=4, source="register"),
        PieceLayout(offset=4, size=4, source="memory", fail_bit=3),
    ]
    s = Simple(T_POINT, pieces=pieces)
    ok = s.value(struct.pack("<ii", 1, 2), fail_mask=0b0100)
    assert ok["fields"]["Y"] == {"type": "int32", "value": "2"}
    failed = s.value(struct.pack("<ii", 1, 0), fail_mask=0b1000)
    assert failed["fields"]["X"] == {"type": "int32", "value": "1"}
    assert failed["fields"]["Y"] == {"type": "int32", "notCapturedReason": "unavailable"}


# ------------------------------------------------------------------------ arrays


def test_array() -> None:
    v = Simple(T_ARR4).value(struct.pack("<4i", 1, -2, 3, 4))
    assert v == {
        "type": "[4]int32",
        "size": "4",
        "elements": [{"type": "int32", "value": str(n)} for n in (1, -2, 3, 4)],
    }


def test_array_cut_at_max_collection_size() -> None:
    v = Simple(T_ARR200).value(bytes(range(200)))
    assert v["size"] == "200"
    assert len(v["elements"]) == 100
    assert v["elements"][99] == {"type": "uint8", "value": "99"}
    assert v["truncated"] is True
    assert v["notCapturedReason"] == "collectionSize"


def test_array_element_in_unavailable_piece() -> None:
    pieces = [
        PieceLayout(offset=0, size=8, source="stack"),
        PieceLayout(offset=8, size=8, source="unavailable"),
    ]
    v = Simple(T_ARR4, pieces=pieces).value(struct.pack("<4i", 1, 2, 0, 0))
    assert [e.get("value", e.get("notCapturedReason")) for e in v["elements"]] == [
        "1",
        "2",
        "unavailable",
        "unavailable",
    ]


# ------------------------------------------------------------------------ slices

A = 0xC000020000


def test_slice_nil() -> None:
    assert Simple(T_SLICE_INT).value(slice_header(0, 0, 0)) == {"type": "[]int", "isNull": True}


def test_slice_empty_non_nil() -> None:
    v = Simple(T_SLICE_INT).value(slice_header(A, 0, 4))
    assert v == {"type": "[]int", "size": "0", "elements": []}


def test_slice_of_ints() -> None:
    data = b"".join(i64(n) for n in (5, -6, 7))
    v = Simple(T_SLICE_INT).value(slice_header(A, 3, 8), [Blk(A, CT[T_INT], data)])
    assert v == {
        "type": "[]int",
        "size": "3",
        "elements": [{"type": "int", "value": n} for n in ("5", "-6", "7")],
    }


def test_slice_truncated_at_max_collection_size() -> None:
    s = Simple(T_SLICE_INT, limits=Capture(max_collection_size=2))
    data = b"".join(i64(n) for n in (1, 2))
    v = s.value(slice_header(A, 1000), [Blk(A, CT[T_INT], data)])
    assert v == {
        "type": "[]int",
        "size": "1000",
        "elements": [{"type": "int", "value": "1"}, {"type": "int", "value": "2"}],
        "truncated": True,
        "notCapturedReason": "collectionSize",
    }


def test_slice_of_strings_follows_each_string() -> None:
    elems = string_header(S, 2) + string_header(S + 100, 3) + string_header(0, 0)
    v = Simple(T_SLICE_STR).value(
        slice_header(A, 3),
        [
            Blk(A, CT[T_STRING], elems),
            Blk(S, BYTES, b"ab"),
            Blk(S + 100, BYTES, b"cde"),
        ],
    )
    assert [e["value"] for e in v["elements"]] == ["ab", "cde", ""]


def test_slice_of_typedef_struct_found_by_resolved_type() -> None:
    # []main.Point's element is the typedef; the capture type is the struct.
    v = Simple(T_SLICE_POINT).value(slice_header(A, 1), [Blk(A, CT[30], struct.pack("<ii", 9, 8))])
    assert v["elements"] == [
        {
            "type": "main.Point",
            "fields": {
                "X": {"type": "int32", "value": "9"},
                "Y": {"type": "int32", "value": "8"},
            },
        }
    ]


def test_slice_read_failed() -> None:
    v = Simple(T_SLICE_INT).value(
        slice_header(A, 3), [Blk(A, CT[T_INT], b"", count=0, flags=BLOCK_FLAG_READ_FAILED)]
    )
    assert v == {"type": "[]int", "size": "3", "notCapturedReason": "unavailable"}


def test_slice_short_block() -> None:
    v = Simple(T_SLICE_INT).value(
        slice_header(A, 3), [Blk(A, CT[T_INT], i64(1), flags=BLOCK_FLAG_SHORT)]
    )
    assert v == {
        "type": "[]int",
        "size": "3",
        "elements": [{"type": "int", "value": "1"}],
        "truncated": True,
    }


# ---------------------------------------------------------------------- pointers

P = 0xC000030000


def test_pointer_nil() -> None:
    assert Simple(T_PPOINT).value(u64(0)) == {"type": "*main.Point", "isNull": True}


def test_pointer_followed_inlines_pointee() -> None:
    v = Simple(T_PPOINT).value(u64(P), [Blk(P, CT[30], struct.pack("<ii", 1, 2))])
    assert v == {
        "type": "*main.Point",
        "address": hex(P),
        "fields": {"X": {"type": "int32", "value": "1"}, "Y": {"type": "int32", "value": "2"}},
    }


def test_pointer_to_scalar_and_string() -> None:
    assert Simple(T_PINT).value(u64(P), [Blk(P, CT[T_INT], i64(-3))]) == {
        "type": "*int",
        "address": hex(P),
        "value": "-3",
    }
    s = Simple(T_PSTRING, limits=Capture(max_length=2))
    v = s.value(u64(P), [Blk(P, CT[T_STRING], string_header(S, 5)), Blk(S, BYTES, b"ab")])
    assert v == {
        "type": "*string",
        "address": hex(P),
        "value": "ab",
        "size": "5",
        "truncated": True,
        "notCapturedReason": "length",
    }


def test_pointer_to_pointer_nests_under_star() -> None:
    q = P + 0x100
    v = Simple(T_PPPOINT).value(
        u64(P),
        [Blk(P, CT[T_PPOINT], u64(q)), Blk(q, CT[30], struct.pack("<ii", 5, 6))],
    )
    assert v == {
        "type": "**main.Point",
        "address": hex(P),
        "fields": {
            "*": {
                "type": "*main.Point",
                "address": hex(q),
                "fields": {
                    "X": {"type": "int32", "value": "5"},
                    "Y": {"type": "int32", "value": "6"},
                },
            }
        },
    }


def test_pointer_to_nil_slice_nests_under_star() -> None:
    v = Simple(T_PSLICE).value(u64(P), [Blk(P, CT[T_SLICE_INT], slice_header(0, 0))])
    assert v == {
        "type": "*[]int",
        "address": hex(P),
        "fields": {"*": {"type": "[]int", "isNull": True}},
    }


def test_pointer_to_map_without_a_block_is_unavailable() -> None:
    v = Simple(T_PMAP).value(u64(P))
    assert v == {"type": "*map[string]int", "address": hex(P), "notCapturedReason": "unavailable"}


def test_pointer_to_empty_struct_needs_no_block() -> None:
    v = Simple(T_PEMPTY).value(u64(P))
    assert v == {"type": "*struct {}", "address": hex(P), "fields": {}}


def test_pointer_read_failed() -> None:
    v = Simple(T_PPOINT).value(u64(P), [Blk(P, CT[30], b"", count=0, flags=BLOCK_FLAG_READ_FAILED)])
    assert v == {"type": "*main.Point", "address": hex(P), "notCapturedReason": "unavailable"}


def test_pointer_block_missing_in_truncated_event() -> None:
    snap = Simple(T_PPOINT).snapshot(u64(P), flags=EVENT_FLAG_TRUNCATED)
    body = snap["debugger"]["snapshot"]
    assert body["captures"]["entry"]["arguments"]["v"] == {
        "type": "*main.Point",
        "address": hex(P),
        "notCapturedReason": "unavailable",
    }
    assert body["evaluationErrors"] == [
        {"expr": "v", "message": "event truncated: capture budget exhausted"}
    ]


def _node(val: int, name: tuple[int, int], nxt: int) -> bytes:
    return i64(val) + string_header(*name) + u64(nxt)


def _chain(n: int) -> tuple[bytes, list[Blk]]:
    """A root *Node pointing at a list of ``n`` nodes, all captured."""
    addrs = [P + 0x40 * i for i in range(n)]
    blocks = [
        Blk(a, CT[T_NODE], _node(i, (0, 0), addrs[i + 1] if i + 1 < n else 0))
        for i, a in enumerate(addrs)
    ]
    return u64(addrs[0]), blocks


def test_pointer_chain_within_depth() -> None:
    root, blocks = _chain(3)
    v = Simple(T_PNODE).value(root, blocks)
    assert v["fields"]["Val"]["value"] == "0"
    second = v["fields"]["Next"]
    assert second["fields"]["Val"]["value"] == "1"
    third = second["fields"]["Next"]
    assert third["fields"]["Val"]["value"] == "2"
    assert third["fields"]["Next"] == {"type": "*main.Node", "isNull": True}


def test_pointer_depth_limit() -> None:
    root, blocks = _chain(6)
    v = Simple(T_PNODE).value(root, blocks)  # default maxReferenceDepth 3
    n1 = v
    n2 = n1["fields"]["Next"]
    n3 = n2["fields"]["Next"]
    assert n3["fields"]["Val"]["value"] == "2"
    assert n3["fields"]["Next"] == {
        "type": "*main.Node",
        "address": hex(P + 0x40 * 3),
        "notCapturedReason": "depth",
    }


def test_depth_limit_without_blocks_is_not_an_error() -> None:
    s = Simple(T_PNODE, limits=Capture(max_reference_depth=0))
    snap = s.snapshot(u64(P), flags=EVENT_FLAG_TRUNCATED)
    v = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["v"]
    assert v == {"type": "*main.Node", "address": hex(P), "notCapturedReason": "depth"}
    # The event is truncated, but nothing this snapshot shows was lost to it.
    assert snap["debugger"]["snapshot"]["evaluationErrors"] == [
        {"expr": "<capture>", "message": "event truncated: capture budget exhausted"}
    ]


def test_circular_reference() -> None:
    blocks = [
        Blk(P, CT[T_NODE], _node(1, (0, 0), P + 0x40)),
        Blk(P + 0x40, CT[T_NODE], _node(2, (0, 0), P)),
    ]
    v = Simple(T_PNODE, limits=Capture(max_reference_depth=10)).value(u64(P), blocks)
    back = v["fields"]["Next"]["fields"]["Next"]
    assert back == {
        "type": "*main.Node",
        "address": hex(P),
        "notCapturedReason": "circular reference",
    }


def test_same_pointee_twice_is_not_circular() -> None:
    from decode_helpers import Var, decode_one, make_world

    world = make_world([Var("a", T_PPOINT), Var("b", T_PPOINT)])
    snap = decode_one(
        world,
        world.root(a=u64(P), b=u64(P)),
        [Blk(P, CT[30], struct.pack("<ii", 1, 2))],
    )
    a = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
    assert a["a"] == a["b"]
    assert "notCapturedReason" not in a["b"]


def test_unsafe_pointer() -> None:
    assert Simple(T_UNSAFE).value(u64(P)) == {"type": "unsafe.Pointer", "address": hex(P)}
    assert Simple(T_UNSAFE).value(u64(0)) == {"type": "unsafe.Pointer", "isNull": True}


# ------------------------------------------------------------ not yet captured


@pytest.mark.parametrize(
    ("tid", "name", "reason"),
    [
        # No runtime layout in this hand-built IR, and no blocks in the event: these
        # kinds are captured from runtime structures (tests/e2e covers the real ones).
        (T_MAP, "map[string]int", "unavailable"),
        (T_IFACE, "interface {}", "missing type information"),
        (T_FUNC, "func()", "unavailable"),
        (T_CHAN, "chan int", "unavailable"),
        (T_UNSUP, "main.Weird", "unimplemented"),
    ],
)
def test_kinds_without_their_runtime_data(tid: int, name: str, reason: str) -> None:
    v = Simple(tid).value(u64(P) * 2)
    assert v == {"type": name, "notCapturedReason": reason}


def test_overlapping_holes_count_each_byte_once() -> None:
    from stages.decode.values import _overlap

    assert _overlap(((0, 4), (2, 6)), 0, 8) == 1
    assert _overlap(((0, 4), (4, 8)), 0, 8) == 2
    assert _overlap(((8, 16),), 0, 8) == 0
