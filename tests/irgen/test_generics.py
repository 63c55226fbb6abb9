"""Generic shape functions: names, dictionary arguments and type-parameter indexes."""

from __future__ import annotations

import pytest

from stages.abi import INT_REGISTERS
from stages.ir import (
    ArrayType,
    CfaPiece,
    Function,
    PointerType,
    Program,
    RegisterPiece,
    TypedefType,
    TypeIndex,
)
from stages.irgen.generics import shape_receiver

SHAPES = (
    "main.Largest[go.shape.int]",
    "main.Largest[go.shape.string]",
    "main.MakePair[go.shape.string,go.shape.int]",
    "main.MakePair[go.shape.float64,go.shape.string]",
    "main.(*Stack[go.shape.int]).Push",
    "main.(*Stack[go.shape.string]).Push",
    "main.Pair[go.shape.string,go.shape.float64].Describe",
    "main.Tally[go.shape.string]",
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("main.F[go.shape.int]", False),
        ("main.F[go.shape.[]uint8,go.shape.map[string]int]", False),
        ("main.(*T[go.shape.int]).M", True),
        ("main.T[go.shape.int,go.shape.string].M", True),
        ("main.F[go.shape.int].func1", None),
        ("main.(*T[go.shape.int]).M.func2", None),
        ("main.F[go.shape.int].gowrap1", None),
        ("main.F[go.shape.int]-range1", None),
        ("main.F[int]", None),
        ("main.T[int].M", None),
        ("main.F", None),
    ],
)
def test_shape_receiver(name: str, expected: bool | None) -> None:
    assert shape_receiver(name) is expected


@pytest.fixture(scope="module")
def shapes(types_whole_ir: Program) -> dict[str, Function]:
    found = {fn.name: fn for fn in types_whole_ir.functions if fn.name in SHAPES}
    assert sorted(found) == sorted(SHAPES)
    return found


def test_dictionary_recorded(shapes: dict[str, Function], types_whole_ir: Program) -> None:
    """Every shape function has its ``.dict`` argument where the compiler passes it
    (after a method's receiver, else first), typed ``*[N]uintptr`` with N covering
    the type parameters' indexes: Go 1.27 describes it, irgen adds it before."""
    types = TypeIndex(types_whole_ir.types)
    for fn in shapes.values():
        assert fn.dictionary is not None, fn.name
        assert fn.dictionary.variable == ".dict", fn.name
        names = [v.name for v in fn.variables if v.role == "param"]
        assert names.index(".dict") == (1 if shape_receiver(fn.name) else 0), fn.name
        (dict_var,) = [v for v in fn.variables if v.name == ".dict"]
        pointer = types[dict_var.type]
        assert isinstance(pointer, PointerType) and pointer.elem is not None
        array = types[pointer.elem]
        assert isinstance(array, ArrayType) and types[array.elem].name == "uintptr", fn.name
        indexes = [
            t.dict_index
            for v in fn.variables
            if isinstance(t := types[v.type], TypedefType) and t.dict_index is not None
        ]
        assert array.count > max(indexes, default=-1), fn.name


def test_no_dictionary_elsewhere(types_whole_ir: Program) -> None:
    for fn in types_whole_ir.functions:
        if fn.name.startswith("main.") and fn.name not in SHAPES:
            assert fn.dictionary is None, fn.name


def test_dictionary_register_fills_the_abi_gap(shapes: dict[str, Function]) -> None:
    """The dictionary's register and the declared parameters' registers at entry
    are together the first integer registers, each used once."""
    for fn in shapes.values():
        assert fn.dictionary is not None
        (piece,) = fn.dictionary.entry_pieces
        assert isinstance(piece, RegisterPiece) and piece.size == 8
        used = [piece.register]
        for v in fn.variables:
            if v.role != "param" or v.name == ".dict":
                continue
            at_entry = [loc for loc in v.locations if loc.low_pc <= fn.entry_pc < loc.high_pc]
            assert at_entry, f"{fn.name}: {v.name} has no location at entry"
            for p in at_entry[0].pieces:
                assert not isinstance(p, CfaPiece), f"{fn.name}: {v.name} on the stack"
                if isinstance(p, RegisterPiece) and p.register < 17:
                    used.append(p.register)
        assert sorted(used) == sorted(INT_REGISTERS[: len(used)]), fn.name
        assert len(set(used)) == len(used), fn.name


def test_type_parameters_have_dictionary_indexes(
    shapes: dict[str, Function], types_whole_ir: Program
) -> None:
    types = TypeIndex(types_whole_ir.types)
    for name in ("main.Largest[go.shape.int]", "main.(*Stack[go.shape.string]).Push"):
        fn = shapes[name]
        params = {types[v.type] for v in fn.variables if isinstance(types[v.type], TypedefType)}
        indexed = [t for t in params if isinstance(t, TypedefType) and t.dict_index is not None]
        assert indexed, name
        for t in indexed:
            assert t.name.startswith(".param")


def test_dictionaries_name_the_type_arguments(
    shapes: dict[str, Function], types_whole_ir: Program, types_image: object
) -> None:
    """Reading the binary's own dictionaries (``main..dict.F[int]``) at each type
    parameter's index gives a descriptor the IR maps to the concrete type."""
    types = TypeIndex(types_whole_ir.types)
    by_address = {rt.address: rt.type for rt in types_whole_ir.runtime_types}
    symbols: dict[str, int] = types_image.symbols  # type: ignore[attr-defined]
    checked = 0
    for fn in shapes.values():
        generic = fn.name.split("[", 1)[0].removeprefix("main.").removeprefix("(*")
        dictionaries = [a for s, a in symbols.items() if s.startswith(f"main..dict.{generic}[")]
        assert dictionaries, fn.name
        indexed = {
            t.dict_index: t
            for v in fn.variables
            if isinstance(t := types[v.type], TypedefType) and t.dict_index is not None
        }
        if not indexed:
            continue
        matches = 0
        for dictionary in dictionaries:
            ok = True
            for index, typedef in indexed.items():
                address = types_image.word(dictionary + 8 * index)  # type: ignore[attr-defined]
                concrete = by_address.get(address)
                expected = types[typedef.target].name.replace("go.shape.", "")
                ok = ok and concrete is not None and types[concrete].name == expected
            matches += ok
        assert matches == 1, fn.name
        checked += 1
    assert checked >= 4


def test_described_dictionary_is_located_by_the_abi(shapes: dict[str, Function]) -> None:
    """Go 1.27 locates .dict in a spill slot the function never writes; the IR
    gives the argument register over the prologue instead."""
    for fn in shapes.values():
        assert fn.dictionary is not None
        for v in fn.variables:
            if v.name == ".dict":
                (location,) = v.locations
                assert (location.low_pc, location.high_pc) == (fn.low_pc, fn.entry_pc + 1)
                assert location.pieces == fn.dictionary.entry_pieces
