"""Decode never recurses on the captured data's shape.

Hand-built records whose values hold themselves, or one another, through every
kind of hop the decoder follows (a slice of its own type, ``[]any``, a map of
``any`` in buckets and in swiss tables, which C renders, a pointer to a struct
holding an ``any``), and chains far deeper than any limit. Hypothesis draws
random graphs of such values (cycles included).
Each record decodes, the same in C and in Python, and

- a value is shown whole at most once on any path: met again, it is cut;
- interface and pointer hops stop at ``maxReferenceDepth``, every hop once the
  JSON would pass ``MAX_LEVELS``: the JSON is shallow whatever the data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "decode"))  # the decode helpers
from decode_helpers import (
    BYTES,
    CT,
    T_IFACE,
    T_INT,
    T_STRING,
    Blk,
    Var,
    World,
    args,
    bucket_map_layout,
    decode_all,
    elem_sizes,
    make_program,
    make_world,
    pack_event,
    slice_header,
    string_header,
    swiss_map_layout,
    u64,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.decode import native
from stages.decode.values import MAX_LEVELS
from stages.errors import ArtifactError
from stages.ir import (
    Field,
    MapType,
    PointerType,
    RuntimeType,
    SliceType,
    StructType,
    TypedefType,
)
from stages.layout import BpfType
from stages.spec import Capture

T_S_SLICE, T_S, T_ANYS, T_BOX_S, T_BOX, T_PBOX, T_MAPANY, T_M_MAP, T_M = range(900, 909)
T_SMAP_MAP, T_SMAP, T_SM_MAP, T_SM = range(909, 913)
D_S, D_ANYS, D_PBOX, D_MAP, D_INT, D_M, D_SMAP, D_SM = (0x7000 + 0x40 * i for i in range(8))
MAP_LAYOUT = bucket_map_layout()
M_LAYOUT = bucket_map_layout(value_size=8)
SWISS_ANY, SWISS_M = swiss_map_layout(16, 16), swiss_map_layout(16, 8)
EXTRA = [
    SliceType(id=T_S_SLICE, name="main.S", size=24, elem=T_S),  # type S []S
    TypedefType(id=T_S, name="main.S", size=24, target=T_S_SLICE),
    SliceType(id=T_ANYS, name="[]interface {}", size=24, elem=T_IFACE),
    StructType(
        id=T_BOX_S,
        name="main.Box",
        size=24,
        fields=[Field(name="V", offset=0, type=T_IFACE), Field(name="N", offset=16, type=T_INT)],
    ),
    TypedefType(id=T_BOX, name="main.Box", size=24, target=T_BOX_S),
    PointerType(id=T_PBOX, name="*main.Box", size=8, elem=T_BOX),
    MapType(
        id=T_MAPANY,
        name="map[string]interface {}",
        size=8,
        key=T_STRING,
        value=T_IFACE,
        layout=MAP_LAYOUT,
    ),
    # type M map[string]M
    MapType(id=T_M_MAP, name="main.M", size=8, key=T_STRING, value=T_M, layout=M_LAYOUT),
    TypedefType(id=T_M, name="main.M", size=8, target=T_M_MAP),
    # the same two in swiss tables: type SMap map[string]any, type SM map[string]SM
    MapType(
        id=T_SMAP_MAP,
        name="main.SMap",
        size=8,
        key=T_STRING,
        value=T_IFACE,
        layout=SWISS_ANY,
    ),
    TypedefType(id=T_SMAP, name="main.SMap", size=8, target=T_SMAP_MAP),
    MapType(id=T_SM_MAP, name="main.SM", size=8, key=T_STRING, value=T_SM, layout=SWISS_M),
    TypedefType(id=T_SM, name="main.SM", size=8, target=T_SM_MAP),
]
RUNTIME = [
    RuntimeType(address=D_S, type=T_S),
    RuntimeType(address=D_ANYS, type=T_ANYS),
    RuntimeType(address=D_PBOX, type=T_PBOX),
    RuntimeType(address=D_MAP, type=T_MAPANY),
    RuntimeType(address=D_INT, type=T_INT),
    RuntimeType(address=D_M, type=T_M),
    RuntimeType(address=D_SMAP, type=T_SMAP),
    RuntimeType(address=D_SM, type=T_SM),
]


def _world(limits: Capture | None = None) -> tuple[World, dict[str, int]]:
    """A probe capturing ``v any``, with capture types for every value above."""
    program = make_program()
    program = msgspec.structs.replace(
        program, types=[*program.types, *EXTRA], runtime_types=RUNTIME
    )
    world = make_world([Var("v", T_IFACE)], program=program, limits=limits)
    n = len(world.layout.types)
    extra = {
        "S": BpfType(index=n, ir_type=T_S, size=24),
        "iface": BpfType(index=n + 1, ir_type=T_IFACE, size=16),
        "box": BpfType(index=n + 2, ir_type=T_BOX, size=24),
        "anys": BpfType(index=n + 3, ir_type=T_ANYS, size=24),
        "header": BpfType(index=n + 4, ir_type=T_MAPANY, size=48, role="map_header"),
        "bucket": BpfType(index=n + 5, ir_type=T_MAPANY, size=272, role="map_bucket"),
        "m_header": BpfType(index=n + 6, ir_type=T_M_MAP, size=48, role="map_header"),
        "m_bucket": BpfType(index=n + 7, ir_type=T_M_MAP, size=208, role="map_bucket"),
        "s_header": BpfType(index=n + 8, ir_type=T_SMAP_MAP, size=48, role="map_header"),
        "s_group": BpfType(
            index=n + 9, ir_type=T_SMAP_MAP, size=SWISS_ANY.group_size, role="map_group"
        ),
        "sm_header": BpfType(index=n + 10, ir_type=T_SM_MAP, size=48, role="map_header"),
        "sm_group": BpfType(
            index=n + 11, ir_type=T_SM_MAP, size=SWISS_M.group_size, role="map_group"
        ),
    }
    types = [*world.layout.types, *extra.values()]
    world.layout = msgspec.structs.replace(world.layout, types=types)
    return world, {k: t.index for k, t in extra.items()}


@contextmanager
def _native(on: bool) -> Iterator[None]:
    old = os.environ.get(native.ENVIRONMENT)
    os.environ[native.ENVIRONMENT] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ[native.ENVIRONMENT]
        else:
            os.environ[native.ENVIRONMENT] = old


def _decode(world: World, root: bytes, blocks: list[Blk]) -> dict[str, Any]:
    """``v`` of the one snapshot, the same from the C and the Python renderers."""
    event = pack_event(root, blocks, elem_sizes=elem_sizes(world))
    out = []
    for on in (True, False) if native.available() else (False,):
        with _native(on):
            (snap,) = decode_all(world, [event])
        out.append(args(snap)["v"])
    assert all(o == out[0] for o in out[1:])
    value: dict[str, Any] = out[0]
    return value


def _iface(descriptor: int, data: int) -> bytes:
    return u64(descriptor) + u64(data)


KEY = 0x9000  # the bytes of the map keys "k0".."k7", 16 bytes apart
KEYS = [Blk(KEY + 16 * j, BYTES, f"k{j}".encode()) for j in range(8)]


def _bucket(entries: list[bytes], value_size: int = 16) -> bytes:
    """One bucket of ``entries`` (each a value's bytes) under keys k0, k1, ..."""
    slots = 8
    top = bytes([5] * len(entries) + [0] * (slots - len(entries)))
    keys = b"".join(string_header(KEY + 16 * j, 2) for j in range(len(entries)))
    keys = keys.ljust(16 * slots, b"\0")
    values = b"".join(entries).ljust(value_size * slots, b"\0")
    return top + keys + values + u64(0)


def _header(count: int, buckets: int) -> bytes:
    return u64(count) + bytes(8) + u64(buckets) + u64(0) + bytes(16)


def _group(entries: list[bytes], value_size: int = 16) -> bytes:
    """One swiss group of ``entries`` (each a value's bytes) under keys k0, k1, ..."""
    ctrl = bytes([0x11] * len(entries) + [0x80] * (8 - len(entries)))
    slots = b"".join(string_header(KEY + 16 * j, 2) + e for j, e in enumerate(entries))
    return ctrl + slots.ljust(8 * (16 + value_size), b"\0")


def _swiss_header(count: int, group: int) -> bytes:
    """A small swiss map: no directory, its one group at ``group``."""
    return u64(count) + bytes(8) + u64(group) + u64(0) + bytes(16)


CIRCULAR = "circular reference"


def test_a_map_holding_itself_through_any() -> None:
    """encoding/json's mapCycle: m["x"] = m, in an any."""
    world, ix = _world()
    m, bucket = 0x1000, 0x2000
    blocks = [
        *KEYS,
        Blk(m, ix["header"], _header(1, bucket)),
        Blk(bucket, ix["bucket"], _bucket([_iface(D_MAP, m)])),
    ]
    v = _decode(world, world.root(v=_iface(D_MAP, m)), blocks)
    [(key, inner)] = v["fields"]["data"]["entries"]
    assert key == {"type": "string", "value": "k0"}
    assert inner["fields"]["data"] == {
        "type": "map[string]interface {}",
        "size": "1",
        "notCapturedReason": CIRCULAR,
    }


def test_a_map_type_holding_itself() -> None:
    """type M map[string]M; m["k0"] = m: no interface, no pointer on the way."""
    world, ix = _world()
    m, bucket = 0x1000, 0x2000
    blocks = [
        *KEYS,
        Blk(m, ix["m_header"], _header(1, bucket)),
        Blk(bucket, ix["m_bucket"], _bucket([u64(m)], value_size=8)),
    ]
    v = _decode(world, world.root(v=_iface(D_M, m)), blocks)
    [(_, inner)] = v["fields"]["data"]["entries"]
    assert inner == {"type": "main.M", "size": "1", "notCapturedReason": CIRCULAR}


def test_swiss_maps_holding_themselves() -> None:
    """The same two in swiss tables (rendered in C): m["k0"] = m through an any,
    and type SM map[string]SM; a hop through the any to a map spends depth."""
    world, ix = _world()
    m, group = 0x1000, 0x2000
    blocks = [
        *KEYS,
        Blk(m, ix["s_header"], _swiss_header(1, group)),
        Blk(group, ix["s_group"], _group([_iface(D_SMAP, m)])),
    ]
    v = _decode(world, world.root(v=_iface(D_SMAP, m)), blocks)
    [(key, inner)] = v["fields"]["data"]["entries"]
    assert key == {"type": "string", "value": "k0"}
    assert inner["fields"]["data"] == {
        "type": "main.SMap",
        "size": "1",
        "notCapturedReason": CIRCULAR,
    }
    # The map is stored in the interface directly: its hop spends one level of
    # depth, as a pointer's does.
    world, ix = _world(Capture(max_reference_depth=1))
    v = _decode(world, world.root(v=_iface(D_SMAP, m)), blocks)
    [(_, inner)] = v["fields"]["data"]["entries"]
    assert inner == {"type": "interface {}", "notCapturedReason": "depth"}
    world, ix = _world()
    blocks = [
        *KEYS,
        Blk(m, ix["sm_header"], _swiss_header(1, group)),
        Blk(group, ix["sm_group"], _group([u64(m)], value_size=8)),
    ]
    v = _decode(world, world.root(v=_iface(D_SM, m)), blocks)
    [(_, inner)] = v["fields"]["data"]["entries"]
    assert inner == {"type": "main.SM", "size": "1", "notCapturedReason": CIRCULAR}


def test_a_swiss_map_chain_stops_at_the_levels() -> None:
    """type SM map[string]SM, each holding the next, 1000 deep: no depth is spent
    (no pointer or interface on the way), the levels cut it."""
    world, ix = _world(Capture(max_reference_depth=64))
    deep = 1000
    blocks: list[Blk] = list(KEYS)
    for i in range(deep):
        m = 0x100000 * (i + 1)
        blocks.append(Blk(m, ix["sm_header"], _swiss_header(1, m + 0x400)))
        blocks.append(Blk(m + 0x400, ix["sm_group"], _group([u64(m + 0x100000)], value_size=8)))
    v = _decode(world, world.root(v=_iface(D_SM, 0x100000)), blocks)
    levels, node = 0, v["fields"]["data"]
    while "entries" in node:
        ((_, node),) = node["entries"]
        levels += 1
    assert node == {"type": "main.SM", "size": "1", "notCapturedReason": "depth"}
    # The interface's hop adds 3 levels (fields, data, the map), each map's 4
    # (entries, a pair, a map).
    assert 3 + 4 * levels <= MAX_LEVELS < 3 + 4 * (levels + 1)


def test_a_slice_type_holding_itself_and_a_deep_chain() -> None:
    """type S []S; s[0] = s; and a chain of distinct slices deeper than any bound."""
    world, ix = _world(Capture(max_reference_depth=64, max_collection_size=10))
    s, boxed = 0x1000, 0x5000
    blocks = [Blk(s, ix["S"], slice_header(s, 1)), Blk(boxed, ix["S"], slice_header(s, 1))]
    v = _decode(world, world.root(v=_iface(D_S, boxed)), blocks)
    [inner] = v["fields"]["data"]["elements"]
    assert inner == {"type": "main.S", "size": "1", "notCapturedReason": CIRCULAR}
    # s_i = S{s_(i+1)} for 1000 levels: cut at MAX_LEVELS, no recursion error.
    deep = 1000
    blocks = [Blk(boxed, ix["S"], slice_header(0x10000, 1))]
    blocks += [
        Blk(0x10000 + 0x100 * i, ix["S"], slice_header(0x10100 + 0x100 * i, 1)) for i in range(deep)
    ]
    v = _decode(world, world.root(v=_iface(D_S, boxed)), blocks)
    levels, node = 0, v["fields"]["data"]
    while "elements" in node:
        (node,) = node["elements"]
        levels += 1
    assert node["notCapturedReason"] == "depth"
    # Each hop (the interface's, then each slice's) adds 3 levels: an object, its
    # elements, one of them.
    assert 3 * (levels + 1) <= MAX_LEVELS < 3 * (levels + 2)


# ---------------------------------------------------------------- random graphs

KINDS = ("anys", "box", "map", "smap")
"""The values of a graph: ``[]any``, ``*Box`` (Box{V any, N int}), ``map[string]any``
in buckets (``map``) and in swiss tables (``smap``, ``main.SMap``);
each holds other values of the graph through interfaces (each edge may close a
cycle). Every value carries its own number: an int element (``[]any``), ``N``
(Box), a key ``k7`` whose value is that int (map)."""


@st.composite
def graphs(draw: st.DrawFn) -> list[tuple[str, list[int | None]]]:
    n = draw(st.integers(1, 12))
    nodes = []
    for _ in range(n):
        kind = draw(st.sampled_from(KINDS))
        many = 1 if kind == "box" else draw(st.integers(0, 4))
        edges = draw(
            st.lists(st.one_of(st.none(), st.integers(0, n - 1)), min_size=many, max_size=many)
        )
        nodes.append((kind, edges))
    return nodes


def _blocks(
    nodes: list[tuple[str, list[int | None]]], ix: dict[str, int]
) -> tuple[bytes, list[Blk]]:
    """The records of a graph: node i lives at 0x100000 * (i + 1)."""

    def at(i: int) -> int:
        return 0x100000 * (i + 1)

    def ref(i: int | None) -> bytes:
        if i is None:
            return bytes(16)
        kind = nodes[i][0]
        if kind == "anys":
            return _iface(D_ANYS, at(i) + 0x800)  # a copy of its header
        return _iface({"box": D_PBOX, "map": D_MAP, "smap": D_SMAP}[kind], at(i))

    blocks = list(KEYS)
    for i, (kind, edges) in enumerate(nodes):
        me = at(i)
        number = me + 0x900
        blocks.append(Blk(number, CT[T_INT], u64(i)))
        if kind == "anys":
            elements = [ref(e) for e in edges] + [_iface(D_INT, number)]
            blocks.append(Blk(me, ix["iface"], b"".join(elements)))
            blocks.append(Blk(me + 0x800, ix["anys"], slice_header(me, len(elements))))
        elif kind == "box":
            blocks.append(Blk(me, ix["box"], ref(edges[0]) + u64(i)))
        else:
            entries = [ref(e) for e in edges]
            entries += [bytes(16)] * (7 - len(entries)) + [_iface(D_INT, number)]
            if kind == "map":
                blocks.append(Blk(me, ix["header"], _header(8, me + 0x400)))
                blocks.append(Blk(me + 0x400, ix["bucket"], _bucket(entries)))
            else:
                blocks.append(Blk(me, ix["s_header"], _swiss_header(8, me + 0x400)))
                blocks.append(Blk(me + 0x400, ix["s_group"], _group(entries)))
    return ref(0), blocks


def _number(value: dict[str, Any]) -> int | None:
    """The graph number of a value shown whole (None: cut, or not a graph value, or
    its number was cut by a limit)."""
    marker: Any = None
    if "elements" in value and value["type"] == "[]interface {}" and value["elements"]:
        marker = value["elements"][-1].get("fields", {}).get("data")
    elif value["type"] == "*main.Box" and "fields" in value:
        marker = value["fields"]["N"]
    elif "entries" in value and value["type"] in ("map[string]interface {}", "main.SMap"):
        for key, v in value["entries"]:
            if key.get("value") == "k7":
                marker = v.get("fields", {}).get("data")
    if isinstance(marker, dict) and "value" in marker:
        return int(marker["value"])
    return None


def _walk(value: Any, path: tuple[int, ...], hops: int, limits: Capture) -> int:
    """Check the properties below ``value``; returns the JSON depth under it."""
    if isinstance(value, list):
        return 1 + max((_walk(v, path, hops, limits) for v in value), default=0)
    if not isinstance(value, dict):
        return 0
    if value.get("type") == "interface {}":
        hops += 1  # interface hops spend depth; so do pointers, one per Box here
        assert hops <= limits.max_reference_depth + 1
    number = _number(value) if "type" in value else None
    if number is not None:
        assert number not in path, (number, path)  # shown whole twice on one path
        path = (*path, number)
    return 1 + max((_walk(v, path, hops, limits) for v in value.values()), default=0)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(graphs(), st.integers(0, 64))
def test_random_value_graphs_render_shallow_and_cut_cycles(
    nodes: list[tuple[str, list[int | None]]], depth: int
) -> None:
    limits = Capture(max_reference_depth=depth, max_collection_size=10)
    world, ix = _world(limits)
    root, blocks = _blocks(nodes, ix)
    v = _decode(world, world.root(v=root), blocks)
    # Each hop of a graph value is a few JSON levels: interface, data, elements or
    # entries, the entry pair.
    assert _walk(v, (), 0, limits) <= MAX_LEVELS + 4


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(st.integers(100, 400), st.sampled_from(KINDS))
def test_long_chains_stop_at_the_depth_limit(length: int, kind: str) -> None:
    """node i holds node i+1: far more hops than any limit allows."""
    nodes = [(kind, [i + 1 if i + 1 < length else None]) for i in range(length)]
    limits = Capture(max_reference_depth=64, max_collection_size=10)
    world, ix = _world(limits)
    root, blocks = _blocks(nodes, ix)
    v = _decode(world, world.root(v=root), blocks)
    assert _walk(v, (), 0, limits) <= MAX_LEVELS + 4
    assert '"depth"' in msgspec.json.encode(v).decode()


@pytest.mark.parametrize("kind", KINDS)
def test_a_value_holding_itself_is_cut_at_once(kind: str) -> None:
    world, ix = _world(Capture(max_reference_depth=64))
    root, blocks = _blocks([(kind, [0])], ix)
    v = _decode(world, world.root(v=root), blocks)
    assert CIRCULAR in msgspec.json.encode(v).decode()
    assert _walk(v, (), 0, Capture(max_reference_depth=64)) < 12


def test_an_ir_type_holding_itself_by_value_is_refused() -> None:
    """No Go type holds itself by value; an IR saying one does (a forged binary's
    DWARF) is refused before decoding, not rendered forever."""
    loop = StructType(
        id=950, name="main.Loop", size=8, fields=[Field(name="Self", offset=0, type=951)]
    )
    named = TypedefType(id=951, name="main.Loop", size=8, target=950)
    program = make_program()
    program = msgspec.structs.replace(program, types=[*program.types, loop, named])
    world = make_world([Var("v", T_INT)], program=program)
    with pytest.raises(ArtifactError, match=r"'main.Loop' \(95[01]\) holds itself by value"):
        decode_all(world, [pack_event(world.root(v=u64(1)))])


def _nested_world(height: int) -> tuple[World, int]:
    """W0 = struct{V any}, W(k) = struct{I W(k-1)}: each hop of a chain of
    *W(height) through ``any`` is ``2 * height`` JSON levels of structs."""
    types: list[Any] = [
        StructType(id=1000, name="W0", size=16, fields=[Field(name="V", offset=0, type=T_IFACE)])
    ]
    types += [
        StructType(
            id=1000 + k, name=f"W{k}", size=16, fields=[Field(name="I", offset=0, type=999 + k)]
        )
        for k in range(1, height + 1)
    ]
    types.append(PointerType(id=1999, name="*W", size=8, elem=1000 + height))
    program = make_program()
    program = msgspec.structs.replace(
        program,
        types=[*program.types, *types],
        runtime_types=[RuntimeType(address=0x7000, type=1999)],
    )
    world = make_world([Var("v", T_IFACE)], program=program, limits=Capture(max_reference_depth=64))
    n = len(world.layout.types)
    ct = BpfType(index=n, ir_type=1000 + height, size=16)
    world.layout = msgspec.structs.replace(world.layout, types=[*world.layout.types, ct])
    return world, n


@pytest.mark.parametrize("height", [0, 10, 40, 62])
def test_deep_structs_between_hops_stay_within_the_levels(height: int) -> None:
    """The hop bound counts JSON levels, not hops: deep structs between pointers
    cut the chain sooner, and the JSON stays within ``MAX_LEVELS``."""
    world, ct = _nested_world(height)
    blocks = [Blk(0x100000 * (i + 1), ct, _iface(0x7000, 0x100000 * (i + 2))) for i in range(300)]
    v = _decode(world, world.root(v=_iface(0x7000, 0x100000)), blocks)
    assert _walk(v, (), 0, Capture(max_reference_depth=64)) <= MAX_LEVELS + 4
    assert '"depth"' in msgspec.json.encode(v).decode()


def test_a_type_nesting_too_deep_by_value_is_refused() -> None:
    world, _ = _nested_world(63)  # W63: 3 + 2 * 63 levels
    with pytest.raises(ArtifactError, match="nests 129 levels by value, more than 128"):
        decode_all(world, [pack_event(world.root(v=bytes(16)))])
