"""Snapshots written as JSON text: exactly what msgspec writes for the Structs.

Decode renders snapshots straight to text (``stages.decode.jsontext``), with
generated renderers for structs and root scopes (``stages.decode.generated``).
These tests pin the text to msgspec's encoding, the object iteration to the text,
and the corners of the generated code and of the message's summaries.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec
import pytest
from decode_helpers import (
    BYTES,
    CT,
    T_INT,
    T_INT32,
    T_NODE,
    T_POINT,
    T_SLICE_POINT,
    T_STRING,
    Blk,
    Var,
    World,
    as_json,
    bucket_map_layout,
    bucket_map_world,
    decode_all,
    elem_sizes,
    i64,
    make_dump,
    make_program,
    make_world,
    pack_bucket,
    pack_event,
    run,
    slice_header,
    string_header,
    u64,
)
from fixture_cases import CASES, load_case

from stages.decode.message import MessageFormatter
from stages.decode.values import ValueRenderer
from stages.ir import Field, MapType, StructType, Type
from stages.layout import BLOCK_FLAG_PARTIAL, BpfType
from stages.snapshot import CapturedValue, Snapshot
from stages.spec import Capture

_encoder = msgspec.json.Encoder()
S = 0xC000070000


@pytest.mark.parametrize("case", CASES)
def test_fixture_text_is_what_msgspec_writes(case: str) -> None:
    raws = list(load_case(case).run().encoded())
    assert raws
    for raw in raws:
        assert _encoder.encode(msgspec.json.decode(raw, type=Snapshot)) == raw
    assert [_encoder.encode(s) for s in load_case(case).run()] == raws


def test_objects_and_text_share_one_stream() -> None:
    case = load_case(CASES[0])
    everything = list(case.run().encoded())
    mixed = case.run()
    first = next(mixed)
    rest = list(mixed.encoded())
    assert [_encoder.encode(first), *rest] == everything


def _world_with(extra: list[Type], variables: list[Var]) -> World:
    program = make_program()
    program = msgspec.structs.replace(program, types=[*program.types, *extra])
    return make_world(variables, program=program)


def test_percent_signs_in_type_names() -> None:
    """The linker escapes dots in import paths as ``%2e``; generated renderers format
    with ``%``."""
    odd = StructType(
        id=900,
        name="gopkg.in/yaml%2ev3.Node%s",
        size=8,
        fields=[Field(name="X", offset=0, type=T_INT32), Field(name="Y", offset=4, type=T_INT32)],
    )
    world = _world_with([odd], [Var("n", 900)])
    (snap,) = decode_all(world, [pack_event(world.root(n=struct.pack("<ii", 1, -2)))])
    assert snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["n"] == {
        "type": "gopkg.in/yaml%2ev3.Node%s",
        "fields": {
            "X": {"type": "int32", "value": "1"},
            "Y": {"type": "int32", "value": "-2"},
        },
    }
    assert snap["message"] == "main.f(n={X: 1, Y: -2})"


def test_zero_size_field_at_the_offset_of_the_next() -> None:
    empty = StructType(id=901, name="struct {}", size=0, fields=[])
    tagged = StructType(
        id=902,
        name="main.Tagged",
        size=16,
        fields=[
            Field(name="mark", offset=0, type=901),
            Field(name="Name", offset=0, type=T_STRING),
        ],
    )
    world = _world_with([empty, tagged], [Var("t", 902)])
    root = world.root(t=string_header(S, 2))
    (snap,) = decode_all(world, [pack_event(root, [Blk(S, BYTES, b"hi")])])
    assert snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["t"] == {
        "type": "main.Tagged",
        "fields": {
            "mark": {"type": "struct {}", "fields": {}},
            "Name": {"type": "string", "value": "hi"},
        },
    }


def test_blank_fields_are_left_out() -> None:
    """``_`` fields (padding no Go code can read) are in neither the value nor the
    message, as Datadog shows a struct; a repeated name still gets its ``#index``."""
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
    world = _world_with([blanks], [Var("b", 903)])
    raw = struct.pack("<iiiiii", 1, 2, 3, 4, 5, 6)
    (snap,) = decode_all(world, [pack_event(world.root(b=raw))])
    assert snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["b"] == {
        "type": "main.Blanks",
        "fields": {
            "A": {"type": "int32", "value": "1"},
            "B": {"type": "int32", "value": "3"},
            "B#4": {"type": "int32", "value": "5"},
        },
    }
    assert snap["message"] == "main.f(b={A: 1, B: 3, B#4: 5})"


def test_two_variables_of_one_name() -> None:
    """As a dict of name -> value would: the later value, in the place of the first."""
    world = make_world([Var("x", T_INT), Var("y", T_INT), Var("x2", T_INT)])
    probe = world.layout.probes[0]
    renamed = [
        msgspec.structs.replace(v, name="x") if v.name == "x2" else v for v in probe.variables
    ]
    probe = msgspec.structs.replace(probe, variables=renamed)
    world.layout = msgspec.structs.replace(world.layout, probes=[probe])
    root = world.root(x=i64(1), y=i64(2), x2=i64(3))
    (snap,) = decode_all(world, [pack_event(root)])
    arguments = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
    assert list(arguments.items()) == [
        ("x", {"type": "int", "value": "3"}),
        ("y", {"type": "int", "value": "2"}),
    ]
    assert snap["message"] == "main.f(x=3, y=2, x=3)"


def _points(n: int) -> tuple[bytes, list[Blk]]:
    data = b"".join(struct.pack("<ii", i, -i) for i in range(n))
    return slice_header(S, n), [Blk(S, CT[30], data)]


@pytest.mark.parametrize(("n", "limit"), [(3, 100), (4, 100), (5, 100), (400, 300), (400, 2)])
def test_message_of_a_big_value_summarises_the_whole_value(n: int, limit: int) -> None:
    """A long value is rendered again within the summary limits for the message:
    its summary is the summary of the value the snapshot shows."""
    world = make_world([Var("ps", T_SLICE_POINT)], limits=Capture(max_collection_size=limit))
    header, blocks = _points(n)
    (snap,) = decode_all(
        world, [pack_event(world.root(ps=header), blocks, elem_sizes=elem_sizes(world))]
    )
    shown = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["ps"]
    formatter = MessageFormatter(ValueRenderer(world.program, world.layout))
    value = msgspec.convert(shown, CapturedValue)
    assert snap["message"] == f"main.f(ps={formatter.summary(T_SLICE_POINT, value)})"
    assert len(shown["elements"]) == min(n, limit)


def test_struct_fields_through_pointers_and_slices() -> None:
    """Generated struct renderers call the parts of strings, slices and pointers."""
    world = make_world([Var("n", T_NODE), Var("p", T_POINT)])
    next_at = 0xC000080000
    node = struct.pack("<q", 7) + string_header(S, 3) + u64(next_at)
    tail = struct.pack("<q", 8) + string_header(0, 0) + u64(0)
    root = world.root(n=node, p=struct.pack("<ii", 5, 6))
    blocks = [Blk(S, BYTES, b"abc"), Blk(next_at, CT[T_NODE], tail)]
    (snap,) = decode_all(world, [pack_event(root, blocks, elem_sizes=elem_sizes(world))])
    arguments = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
    assert arguments["n"]["fields"]["Next"] == {
        "type": "*main.Node",
        "fields": {
            "Val": {"type": "int", "value": "8"},
            "Name": {"type": "string", "value": ""},
            "Next": {"type": "*main.Node", "isNull": True},
        },
        "address": hex(next_at),
    }
    assert snap["message"] == (
        'main.f(n={Val: 7, Name: "abc", Next: &{Val: 8, Name: "", Next: nil}}, p={X: 5, Y: 6})'
    )


def test_iteration_decodes_the_text() -> None:
    world = make_world([Var("x", T_INT)])
    dump = make_dump([pack_event(world.root(x=i64(-5)))])
    raws = list(run(world, dump).encoded())
    objects: list[dict[str, Any]] = [as_json(s) for s in run(world, dump)]
    assert [msgspec.json.decode(r) for r in raws] == objects


def test_struct_holding_a_map_of_itself() -> None:
    """Compiling a struct compiles its fields; a map compiles its key and value: a
    struct reached again while it is compiled is forwarded to, not recompiled."""
    layout = bucket_map_layout()
    tree = StructType(
        id=910,
        name="main.Tree",
        size=16,
        fields=[Field(name="Kids", offset=0, type=911), Field(name="N", offset=8, type=T_INT)],
    )
    kids = MapType(
        id=911, name="map[string]main.Tree", size=8, key=T_STRING, value=910, layout=layout
    )
    world = _world_with([tree, kids], [Var("t", 910)])
    header = BpfType(index=len(world.layout.types), ir_type=911, size=48, role="map_header")
    world.layout = msgspec.structs.replace(world.layout, types=[*world.layout.types, header])
    (snap,) = decode_all(world, [pack_event(world.root(t=u64(0) + i64(4)))])
    assert snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["t"] == {
        "type": "main.Tree",
        "fields": {
            "Kids": {"type": "map[string]main.Tree", "isNull": True},
            "N": {"type": "int", "value": "4"},
        },
    }


@pytest.mark.parametrize("count", [2, 3])
def test_buckets_read_up_to_a_page_boundary(count: int) -> None:
    """A bucket map (Go <= 1.23) whose second bucket lies across a page the
    program never touched: BPF read one whole bucket and the head of the second
    (PARTIAL). The slots read show; the slot the boundary cuts does not, nor an
    overflow pointer past it. As many entries as the map holds: whole; one fewer:
    unavailable."""
    layout = bucket_map_layout(key_size=16, value_size=8)
    kinds = MapType(id=911, name="map[string]int", size=8, key=T_STRING, value=T_INT, layout=layout)
    world, header = bucket_map_world("m", kinds)
    k1, k2, k3 = 0xC0000E0000, 0xC0000F0000, 0xC000100000
    first = pack_bucket(layout, {0: (9, string_header(k1, 2), u64(7))})
    second = pack_bucket(
        layout,
        {0: (9, string_header(k2, 2), u64(8)), 1: (9, string_header(k3, 2), u64(9))},
        overflow=0xC0DE,  # past the boundary
    )
    head = second[:150]  # tophash, keys, the first value; the second value cut
    hmap = u64(count) + bytes([0, 1]) + bytes(6) + u64(0xB0) + u64(0) + bytes(16)
    blocks = [
        Blk(0xA0, header, hmap),
        Blk(0xB0, header + 1, first + head, count=1, flags=BLOCK_FLAG_PARTIAL),
        Blk(k1, BYTES, b"ab"),
        Blk(k2, BYTES, b"cd"),
        Blk(k3, BYTES, b"ef"),
    ]
    event = pack_event(world.root(m=u64(0xA0)), blocks, elem_sizes=elem_sizes(world))
    (snap,) = decode_all(world, [event])
    m = snap["debugger"]["snapshot"]["captures"]["entry"]["arguments"]["m"]
    assert m["entries"] == [
        [{"type": "string", "value": "ab"}, {"type": "int", "value": "7"}],
        [{"type": "string", "value": "cd"}, {"type": "int", "value": "8"}],
    ]
    assert m["size"] == str(count)
    assert m.get("notCapturedReason") == (None if count == 2 else "unavailable")
