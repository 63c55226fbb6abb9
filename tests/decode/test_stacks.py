"""Symbolicated stacks from a hand-built ``SymbolTable``: lookups, inlining, wrappers,
return addresses, and where stacks appear in snapshots."""

from __future__ import annotations

import base64

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

from stages.decode.stacks import Symbolizer
from stages.ir import FunctionSymbols, InlinedCall, SymbolTable
from stages.snapshot import StackFrame


def pcvalue(*runs: tuple[int, int], quantum: int = 1) -> str:
    """A pcvalue stream, base64: ``(end offset, value)`` runs from the entry on."""
    out = bytearray()
    val, pc = -1, 0
    for end, value in runs:
        delta = value - val
        zigzag = (delta << 1) ^ (delta >> 63)
        step = (end - pc) // quantum
        for n in (zigzag & (2**64 - 1), step):
            while True:
                b = n & 0x7F
                n >>= 7
                out.append(b | (0x80 if n else 0))
                if not n:
                    break
        val, pc = value, end
    return base64.b64encode(bytes(out)).decode()


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
NAMES = [
    "main.main",
    "main.outer",
    "main.middle",
    "main.inner",
    "main.(*T).M",
    "main.T.M",
    "main.G[go.shape.int]",
]
FILES = ["main.go", "inner.go"]
TABLE = SymbolTable(
    names=NAMES,
    files=FILES,
    units=[[0, 1]],
    wrappers=[4],
    functions=[
        FunctionSymbols(
            entry=0x1000,
            size=0x100,
            name=0,
            unit=0,
            pcfile=pcvalue((0x40, 0)),
            pcln=pcvalue((0x10, 19), (0x15, 20), (0x40, 21)),
        ),
        FunctionSymbols(
            entry=0x1100,
            size=0x100,
            name=1,
            unit=0,
            pcfile=pcvalue((0x10, 0), (0x18, 1), (0x30, 0)),
            pcln=pcvalue((0x10, 30), (0x18, 5), (0x20, 12), (0x30, 31)),
            pcinl=pcvalue((0x10, -1), (0x18, 1), (0x20, 0), (0x30, -1)),
            inlined=[
                InlinedCall(name=2, parent_pc=0x08),  # middle, called from outer line 30
                InlinedCall(name=3, parent_pc=0x1A),  # inner, called from middle line 12
            ],
        ),
        FunctionSymbols(
            entry=0x1200,
            size=0x100,
            name=4,
            unit=0,
            pcfile=pcvalue((0x10, 0)),
            pcln=pcvalue((0x10, 1)),
        ),
        FunctionSymbols(
            entry=0x1300,
            size=0x100,
            name=5,
            unit=0,
            pcfile=pcvalue((4, 0)),
            pcln=pcvalue((2, 40), (4, 41)),
        ),
        FunctionSymbols(entry=0x1400, size=0x10, name=6, unit=-1, pcfile="", pcln=""),
    ],
)


def frames(stack: list[StackFrame]) -> list[tuple[str, str, int]]:
    return [(f.function, f.fileName, f.lineNumber) for f in stack]


def test_lookup_in_a_plain_function() -> None:
    sym = Symbolizer(TABLE)
    (f,) = sym.frames(0x1012)
    assert (f.function, f.file, f.line, f.pc) == ("main.main", "main.go", 20, 0x1012)
    assert sym.frames(0x1015)[0].line == 21
    assert sym.frames(0x0FFF) == []
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
    looping = msgspec.structs.replace(
        TABLE.functions[1],
        inlined=[InlinedCall(name=2, parent_pc=0x1A), InlinedCall(name=3, parent_pc=0x1A)],
    )
    table = msgspec.structs.replace(TABLE, functions=[TABLE.functions[0], looping])
    assert len(Symbolizer(table).frames(0x1112)) == 256


@pytest.mark.parametrize("quantum", [1, 4])
def test_quantum_scales_pc_deltas(quantum: int) -> None:
    fn = FunctionSymbols(
        entry=0x2000,
        size=0x40,
        name=0,
        unit=0,
        pcfile=pcvalue((0x40, 0), quantum=quantum),
        pcln=pcvalue((0x20, 7), (0x40, 8), quantum=quantum),
    )
    table = SymbolTable(quantum=quantum, names=["f"], files=["f.go"], units=[[0]], functions=[fn])
    assert [Symbolizer(table).frames(0x2000 + off)[0].line for off in (0, 0x1F, 0x20)] == [7, 7, 8]


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
