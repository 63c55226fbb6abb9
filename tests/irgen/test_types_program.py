"""irgen's types agree with what the compiler says about them, for every Go kind.

The types program prints ``unsafe.Sizeof``/``Alignof``/``Offsetof`` facts about its
own types; the IR of its probed functions must state the same sizes, alignments
and field offsets.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stages.ir import (
    ArrayType,
    BaseType,
    ChanType,
    FuncType,
    InterfaceType,
    MapType,
    PointerType,
    Program,
    SliceType,
    StringType,
    StructType,
    Type,
    TypedefType,
    TypeIndex,
    UnsafePointerType,
    UnsupportedType,
)


class Layout:
    """One ``layout <name> size=N align=N [field.F=N ...]`` line the program printed."""

    def __init__(self, line: str) -> None:
        head, _, facts = line.partition(" size=")
        assert head.startswith("layout ")
        self.name = head[len("layout ") :]
        values = dict(word.split("=", 1) for word in f"size={facts}".split())
        self.size = int(values.pop("size"))
        self.align = int(values.pop("align"))
        self.fields = {k.removeprefix("field."): int(v) for k, v in values.items()}


@pytest.fixture(scope="session")
def layouts(types_binary: Path) -> dict[str, Layout]:
    out = subprocess.run([str(types_binary)], capture_output=True, text=True, check=True).stdout
    lines = [Layout(line) for line in out.splitlines() if line.startswith("layout ")]
    assert len(lines) > 30
    return {line.name: line for line in lines}


def named(program: Program, name: str) -> list[Type]:
    """Every IR type called ``name``, typedefs resolved."""
    types = TypeIndex(program.types)
    found = [types.resolve(t.id) for t in program.types if t.name == name]
    assert found, f"no type {name!r} in the IR"
    return found


EXPECTED_CLASS: dict[str, type] = {
    "bool": BaseType,
    "complex128": BaseType,
    "string": StringType,
    "*main.Base": PointerType,
    "unsafe.Pointer": UnsafePointerType,
    "[3]int16": ArrayType,
    "[]main.Base": SliceType,
    "map[string]int": MapType,
    "map[int]*main.Base": MapType,
    "chan main.Base": ChanType,
    "func(int) int": FuncType,
    "interface {}": InterfaceType,
    "error": InterfaceType,
    "fmt.Stringer": InterfaceType,
    "main.Celsius": BaseType,
    "main.Derived": StructType,
    "main.Empty": StructType,
    "main.Pair[string,int]": StructType,
}


def test_every_layout_agrees(types_ir: Program, layouts: dict[str, Layout]) -> None:
    problems = []
    for layout in layouts.values():
        for t in named(types_ir, layout.name):
            got = (t.size, t.align)
            if got != (layout.size, layout.align):
                problems.append(f"{layout.name}: IR {got}, Go {(layout.size, layout.align)}")
            if layout.fields:
                assert isinstance(t, StructType), f"{layout.name} is {type(t).__name__}"
                fields = {f.name: f.offset for f in t.fields}
                if fields != layout.fields:
                    problems.append(f"{layout.name}: IR fields {fields}, Go {layout.fields}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("name", "cls"), sorted(EXPECTED_CLASS.items()))
def test_kind(types_ir: Program, name: str, cls: type) -> None:
    for t in named(types_ir, name):
        assert isinstance(t, cls), f"{name} is {type(t).__name__}"


def test_nothing_unsupported(types_ir: Program) -> None:
    bad = [(t.name, t.reason) for t in types_ir.types if isinstance(t, UnsupportedType)]
    assert not bad


def test_embedded_field(types_ir: Program) -> None:
    derived = named(types_ir, "main.Derived")[0]
    assert isinstance(derived, StructType)
    assert [(f.name, f.embedded) for f in derived.fields][:2] == [("Base", True), ("Flag", False)]


def test_named_non_struct(types_ir: Program) -> None:
    (celsius,) = [t for t in types_ir.types if t.name == "main.Celsius"]
    assert isinstance(celsius, TypedefType | BaseType)
    assert isinstance(TypeIndex(types_ir.types).resolve(celsius.id), BaseType)


def test_all_probed_functions_found(types_ir: Program, types_probed: tuple[str, ...]) -> None:
    assert sorted(fn.name for fn in types_ir.functions) == sorted(types_probed)
