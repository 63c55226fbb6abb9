"""Concrete type names for the values of generic shape functions (hand-built IR)."""

from __future__ import annotations

import msgspec

from stages._base import ArtifactHeader
from stages.decode.generics import ShapeNames, dictionary_words, rename_text
from stages.ir import (
    BaseType,
    BinaryInfo,
    DictionaryParam,
    Field,
    Function,
    Program,
    RegisterPiece,
    RuntimeType,
    SliceType,
    StructType,
    TypedefType,
    Variable,
)
from stages.snapshot import CapturedValue

INT, SHAPE_INT, SHAPE_SLICE, INT_SLICE, PARAM0 = 1, 2, 3, 4, 5
SHAPE_PAIR, PAIR, PARAM1 = 6, 7, 8
INT_SLICE_DESCRIPTOR, PAIR_DESCRIPTOR = 0x5000, 0x6000


def program() -> Program:
    types = [
        BaseType(id=INT, name="int", size=8, go_kind="int"),
        BaseType(id=SHAPE_INT, name="go.shape.int", size=8, go_kind="int"),
        SliceType(id=SHAPE_SLICE, name="[]go.shape.int", size=24, elem=SHAPE_INT),
        SliceType(id=INT_SLICE, name="[]int", size=24, elem=INT, runtime_type=INT_SLICE_DESCRIPTOR),
        TypedefType(id=PARAM0, name=".param0", size=24, target=SHAPE_SLICE, dict_index=0),
        StructType(
            id=SHAPE_PAIR,
            name="main.Pair[go.shape.int]",
            size=16,
            fields=[
                Field(name="K", offset=0, type=SHAPE_INT),
                Field(name="V", offset=8, type=SHAPE_SLICE),
            ],
        ),
        StructType(
            id=PAIR,
            name="main.Pair[int]",
            size=16,
            runtime_type=PAIR_DESCRIPTOR,
            fields=[Field(name="K", offset=0, type=INT), Field(name="V", offset=8, type=INT_SLICE)],
        ),
        TypedefType(id=PARAM1, name=".param1", size=16, target=SHAPE_PAIR, dict_index=1),
    ]
    fn = Function(
        name="main.F[go.shape.int]",
        low_pc=0x1000,
        high_pc=0x1100,
        file="main.go",
        line=1,
        entry_pc=0x1010,
        entry_cfa_offset=8,
        frame_pointer=True,
        variables=[
            Variable(name="xs", type=PARAM0, role="param"),
            Variable(name="~r0", type=PARAM1, role="result"),
        ],
        dictionary=DictionaryParam(entry_pieces=[RegisterPiece(register=0, size=8)]),
    )
    return Program(
        header=ArtifactHeader(format="godi.ir", format_version=2, tool_version="test"),
        binary=BinaryInfo(
            build_id="b", go_version="go1.27.3", arch="amd64", dwarf_version=5, goid_offset=152
        ),
        functions=[fn],
        types=types,
        runtime_types=[
            RuntimeType(address=INT_SLICE_DESCRIPTOR, type=INT_SLICE),
            RuntimeType(address=PAIR_DESCRIPTOR, type=PAIR),
        ],
    )


def test_shape_names_follow_the_dictionary() -> None:
    names = ShapeNames(program())
    assert names.is_shape_function("main.F[go.shape.int]")
    assert not names.is_shape_function("main.main")
    got = names.renames("main.F[go.shape.int]", [INT_SLICE_DESCRIPTOR, PAIR_DESCRIPTOR])
    assert got == {
        ".param0": "[]int",
        "[]go.shape.int": "[]int",
        "go.shape.int": "int",
        ".param1": "main.Pair[int]",
        "main.Pair[go.shape.int]": "main.Pair[int]",
    }


def test_unknown_or_missing_words_name_nothing() -> None:
    names = ShapeNames(program())
    assert names.renames("main.F[go.shape.int]", []) == {}
    assert names.renames("main.F[go.shape.int]", [0xDEAD]) == {}
    assert names.renames("main.other", [INT_SLICE_DESCRIPTOR]) == {}


def test_renamed_values_keep_their_contents() -> None:
    value = CapturedValue(
        type=".param0",
        size="2",
        elements=[
            CapturedValue(type="go.shape.int", value="1"),
            CapturedValue(type="go.shape.int", value="2"),
        ],
    )
    text = msgspec.json.encode(value).decode()
    out = rename_text(text, {".param0": "[]int", "go.shape.int": "int"})
    assert msgspec.json.decode(out, type=CapturedValue) == CapturedValue(
        type="[]int",
        size="2",
        elements=[CapturedValue(type="int", value="1"), CapturedValue(type="int", value="2")],
    )
    assert rename_text(text, {}) == text


def test_dictionary_words() -> None:
    d = CapturedValue(
        type="*[2]uintptr",
        address="0x10",
        size="2",
        elements=[CapturedValue(type="uintptr", value="0x5000"), CapturedValue(type="uintptr")],
    )
    assert dictionary_words(d) == [0x5000, 0]
