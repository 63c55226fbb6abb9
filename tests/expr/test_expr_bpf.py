"""Conditions decidable in BPF: which ones, their postfix form, and that BPF and
userspace agree on every hit."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stages.expr import (
    bpf_decidable,
    bpf_program,
    compile_expression,
    parse_dsl,
    run_bpf_program,
)
from stages.snapshot import CapturedValue as CV

KINDS = {
    "i": "int",
    "i8": "int8",
    "u8": "uint8",
    "u": "uint64",
    "b": "bool",
    "p": "pointer",
    "s": "string",
    "xs": "slice",
    "e": "interface",
    "m": "map",
}


def test_decidable_and_not() -> None:
    yes = [
        "i > 5",
        "5 < i",
        "i == i8",
        "u8 <= 200 && !(i != 3)",
        "b",
        "b == true || p == null",
        "e != null",
        "len(s) > 3",
        "len(xs) == 0 || m == null",
        "true",
        "1 < 2",
        "i > 2.0",
    ]
    no = [
        "i8 > 300",  # out of int8's range
        "u8 == -1",
        "i == u",  # signed vs unsigned
        "i > 1.5",
        'len(s) > 3 && s == "x"',
        "p.x == 1",
        "i",
        "b == 1",
        "@duration > 10",
        "f > 1",  # not a scalar variable
        "len(m) == 0",
        "i == null",
        "any(xs, {@it > 1})",
    ]
    for src in yes:
        assert bpf_decidable(parse_dsl(src), KINDS), src
    for src in no:
        assert not bpf_decidable(parse_dsl(src), KINDS), src


def test_program_shape() -> None:
    assert bpf_program(parse_dsl("i > 5 && p != null"), KINDS) == [
        ("load", "i", "int"),
        ("const", 5),
        ("cmp", "gt", True),
        ("load", "p", "pointer"),
        ("const", 0),
        ("cmp", "ne", False),
        ("and",),
    ]
    assert bpf_program(parse_dsl("3 >= u8"), KINDS) == [
        ("load", "u8", "uint8"),
        ("const", 3),
        ("cmp", "le", False),
    ]
    assert bpf_program(parse_dsl("!b"), KINDS) == [("load", "b", "bool"), ("not",)]
    assert bpf_program(parse_dsl("len(s) == 2"), KINDS) == [
        ("len", "s", "string"),
        ("const", 2),
        ("cmp", "eq", True),
    ]
    assert bpf_program(parse_dsl("1 > 2"), KINDS) == [("const", 0)]


# ------------------------------------------------- BPF and userspace agree


_RANGES = {
    "i": (-(2**63), 2**63 - 1),
    "i8": (-128, 127),
    "u8": (0, 255),
    "u": (0, 2**64 - 1),
}
_VARS = ["i", "i8", "u8", "u", "b", "p", "s", "xs"]


def _captured(name: str, raw: int) -> CV:
    kind = KINDS[name]
    if kind == "bool":
        return CV(type="bool", value="true" if raw else "false")
    if kind == "pointer":
        return (
            CV(type="*main.T", isNull=True)
            if raw == 0
            else CV(type="*main.T", address=hex(raw), fields={})
        )
    if kind == "string":
        return CV(type="string", value="x" * raw)
    if kind == "slice":
        if raw < 0:
            return CV(type="[]int", isNull=True)
        return CV(type="[]int", size=str(raw), elements=[CV(type="int", value="0")] * raw)
    return CV(type=kind, value=str(raw))


def _word(name: str, value: int) -> int:
    """The word a ``load`` reads: a slice's data pointer, else the value itself."""
    if KINDS[name] == "slice":
        return 0 if value < 0 else 0xC000050000
    return value & (2**64 - 1)


def _length(name: str, value: int) -> int:
    return max(value, 0)


_literal = st.one_of(
    st.integers(min_value=-300, max_value=300),
    st.sampled_from([0, 1, 127, 128, 255, 256, -128, -129, 2**63 - 1, -(2**63), 2**64 - 1]),
    st.booleans(),
    st.none(),
)


def _leaf() -> st.SearchStrategy[Any]:
    ref = st.sampled_from(_VARS).map(lambda n: {"ref": n})
    length = st.sampled_from(["s", "xs"]).map(lambda n: {"len": {"ref": n}})
    operand = st.one_of(ref, length, _literal)
    op = st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"])
    return st.one_of(
        st.builds(lambda o, a, b: {o: [a, b]}, op, operand, operand),
        st.just({"ref": "b"}),
        st.booleans(),
    )


_conditions = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: {"and": [a, b]}, inner, inner),
        st.builds(lambda a, b: {"or": [a, b]}, inner, inner),
        st.builds(lambda a: {"not": a}, inner),
    ),
    max_leaves=6,
)


def _values() -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries(
        {
            "i": st.integers(*_RANGES["i"]) | st.integers(-300, 300),
            "i8": st.integers(*_RANGES["i8"]),
            "u8": st.integers(*_RANGES["u8"]),
            "u": st.integers(*_RANGES["u"]) | st.integers(0, 300),
            "b": st.integers(0, 1),
            "p": st.sampled_from([0, 0xC000010000]),
            "s": st.integers(0, 5),
            "xs": st.integers(-1, 5),  # -1: a nil slice
        }
    )


@settings(max_examples=400, deadline=None)
@given(_conditions, _values())
def test_bpf_and_userspace_agree(ast: Any, raw: dict[str, int]) -> None:
    if not bpf_decidable(ast, KINDS):
        return
    scope = {name: _captured(name, v) for name, v in raw.items()}
    expected = compile_expression(ast).test(scope)
    assert isinstance(expected, bool), (ast, expected)
    words = {name: _word(name, v) for name, v in raw.items()}
    lengths = {name: _length(name, raw[name]) for name in ("s", "xs")}
    assert run_bpf_program(bpf_program(ast, KINDS), words, lengths) == expected, ast
