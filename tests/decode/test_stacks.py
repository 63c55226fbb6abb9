"""Symbolicated stacks from a hand-built ``SymbolTable``: lookups, inlining, wrappers,
return addresses, and where stacks appear in snapshots."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from decode_helpers import (
    T_INT,
    Var,
    World,
    decode_all,
    elem_sizes,
    i64,
    make_program,
    make_world,
    pack_event,
)
from pclntab_writer import Func, Inlined, build_table

from stages.decode.stacks import Symbolizer
from stages.errors import DecodeError
from stages.ir import SymbolTable
from stages.snapshot import StackFrame

# Names, files and functions of a small binary:
#
#   0x1000 main.main     calls main.outer at 0x1010..0x1015 (line 20)
#   0x1100 main.outer    main.middle and main.inner inlined into it:
#                          0x1100..0x1110 line 30 (outer itself)
#                          0x1110..0x1118 inner's body, line 5 of inner.go (index 1)
#                          0x1118..0x1120 middle's body, line 12 (index 0)
#                          0x1120..0x1130 line 31, calls main.(*T).M at 0x1128..0x1130
#   0x1200 main.(*T).M   a wrapper: calls main.T.M at 0x1204..0x1209
#   0x1300 main.T.M      line 40..41
#   0x1400 (end)
FILES = ("main.go", "inner.go")
WRAPPER = 21
"""``abi.FuncIDWrapper`` in these tables: one more than ``runtime.systemstack_switch``'s."""
OUTER = Func(
    entry=0x1100,
    size=0x100,
    name="main.outer",
    files=FILES,
    pcfile=((0x10, 0), (0x18, 1), (0x30, 0)),
    pcln=((0x10, 30), (0x18, 5), (0x20, 12), (0x30, 31)),
    pcinl=((0x10, -1), (0x18, 1), (0x20, 0), (0x30, -1)),
    inlined=(
        Inlined("main.middle", 0x08),  # middle, called from outer line 30
        Inlined("main.inner", 0x1A),  # inner, called from middle line 12
    ),
)
FUNCS = [
    Func(0x0F00, 0x100, "runtime.systemstack_switch", func_id=WRAPPER - 1),
    Func(
        entry=0x1000,
        size=0x100,
        name="main.main",
        files=FILES,
        pcfile=((0x40, 0),),
        pcln=((0x10, 19), (0x15, 20), (0x40, 21)),
    ),
    OUTER,
    Func(0x1200, 0x100, "main.(*T).M", FILES, ((0x10, 0),), ((0x10, 1),), func_id=WRAPPER),
    Func(0x1300, 0x100, "main.T.M", FILES, ((4, 0),), ((2, 40), (4, 41))),
    Func(0x1400, 0x10, "main.G[go.shape.int]"),
]
TABLE = build_table(FUNCS)


def frames(stack: list[StackFrame]) -> list[tuple[str, str, int]]:
    return [(f.function, f.fileName, f.lineNumber) for f in stack]


def test_lookup_in_a_plain_function() -> None:
    sym = Symbolizer(TABLE)
    (f,) = sym.frames(0x1012)
    assert (f.function, f.file, f.line, f.pc) == ("main.main", "main.go", 20, 0x1012)
    assert sym.frames(0x1015)[0].line == 21
    assert sym.frames(0x0EFF) == []
    assert sym.frames(0x1410) == []  # past the last function's end


def test_inlined_frames_innermost_first() -> None:
    sym = Symbolizer(TABLE)
    got = [(f.function, f.file, f.line, f.pc) for f in sym.frames(0x1112)]
    assert got == [
        ("main.inner", "inner.go", 5, 0x1112),
        ("main.middle", "main.go", 12, 0x111A),
        ("main.outer", "main.go", 30, 0x1108),
    ]


def test_stack_backs_return_addresses_into_the_call() -> None:
    """pc[0] is exact; the others are return addresses: 0x1015 returns to line 21
    but the call was on line 20."""
    sym = Symbolizer(TABLE)
    assert frames(sym.stack([0x1112, 0x1015])) == [
        ("main.inner", "inner.go", 5),
        ("main.middle", "main.go", 12),
        ("main.outer", "main.go", 30),
        ("main.main", "main.go", 20),
    ]


def test_wrappers_are_left_out_unless_innermost() -> None:
    sym = Symbolizer(TABLE)
    assert frames(sym.stack([0x1302, 0x1209, 0x1130, 0x1015])) == [
        ("main.T.M", "main.go", 41),
        ("main.outer", "main.go", 31),
        ("main.main", "main.go", 20),
    ]
    # A probe on the wrapper itself still shows where it is.
    assert frames(sym.stack([0x1204, 0x1130]))[0] == ("main.(*T).M", "main.go", 1)


def test_unknown_pcs_are_skipped_and_no_table_is_question_mark() -> None:
    sym = Symbolizer(TABLE)
    assert frames(sym.stack([0x1405, 0xDEAD0000, 0x1015])) == [
        ("main.G[...]", "?", 0),
        ("main.main", "main.go", 20),
    ]
    assert sym.stack([]) == []


def test_corrupt_inline_tree_terminates() -> None:
    """An inline tree whose parent leads back to itself stops at the bound."""
    looping = dataclasses.replace(
        OUTER, inlined=(Inlined("main.middle", 0x1A), Inlined("main.inner", 0x1A))
    )
    table = build_table([FUNCS[1], looping])
    assert len(Symbolizer(table).frames(0x1112)) == 256


@pytest.mark.parametrize("quantum", [1, 4])
def test_quantum_scales_pc_deltas(quantum: int) -> None:
    fn = Func(0x2000, 0x40, "f", ("f.go",), ((0x40, 0),), ((0x20, 7), (0x40, 8)))
    table = build_table([fn], quantum=quantum)
    assert [Symbolizer(table).frames(0x2000 + off)[0].line for off in (0, 0x1F, 0x20)] == [7, 7, 8]


def test_a_table_that_is_not_a_pclntab_is_refused() -> None:
    with pytest.raises(DecodeError, match="symbol table: magic"):
        Symbolizer(SymbolTable(text=0, pclntab=bytes(100)))


# ------------------------------------------------------------------ in snapshots


def world_with_symbols(capture_snapshot: bool = True, symbols: SymbolTable | None = TABLE) -> World:
    program = msgspec.structs.replace(make_program(), symbols=symbols)
    return make_world([Var("n", T_INT)], program=program, capture_snapshot=capture_snapshot)


def event(world: World, stack: tuple[int, ...]) -> bytes:
    return pack_event(world.root(n=i64(1)), stack=stack, elem_sizes=elem_sizes(world))


def test_snapshot_has_the_symbolicated_stack() -> None:
    world = world_with_symbols()
    (snap,) = decode_all(world, [event(world, (0x1112, 0x1015))])
    assert snap["debugger"]["snapshot"]["stack"] == [
        {"function": "main.inner", "fileName": "inner.go", "lineNumber": 5},
        {"function": "main.middle", "fileName": "main.go", "lineNumber": 12},
        {"function": "main.outer", "fileName": "main.go", "lineNumber": 30},
        {"function": "main.main", "fileName": "main.go", "lineNumber": 20},
    ]


def test_no_stack_without_symbols_or_for_log_probes() -> None:
    world = world_with_symbols(symbols=None)
    (snap,) = decode_all(world, [event(world, (0x1112, 0x1015))])
    assert "stack" not in snap["debugger"]["snapshot"]
    world = world_with_symbols(capture_snapshot=False)
    (snap,) = decode_all(world, [event(world, (0x1112, 0x1015))])
    assert "stack" not in snap["debugger"]["snapshot"]


def test_repeated_stacks_are_shared() -> None:
    sym = Symbolizer(TABLE)
    assert sym.stack([0x1112, 0x1015]) is sym.stack((0x1112, 0x1015))


def test_event_without_pcs_has_no_stack() -> None:
    world = world_with_symbols()
    (snap,) = decode_all(world, [event(world, ())])
    assert "stack" not in snap["debugger"]["snapshot"]


def test_stack_json_is_the_stack_encoded() -> None:
    """``stack_json`` (decode's stacks, from each frame's JSON) writes what msgspec
    writes for ``stack``: wrappers, inlined frames and unknown PCs alike."""
    sym = Symbolizer(TABLE)
    for pcs in (
        [0x1112, 0x1015],
        [0x1302, 0x1209, 0x1130, 0x1015],
        [0x1204, 0x1130],
        [0x1405, 0xDEAD0000, 0x1015],
        [],
        [0x1302, 0x1302, 0x1209],
    ):
        assert sym.stack_json(pcs) == msgspec.json.encode(sym.stack(pcs)).decode()
