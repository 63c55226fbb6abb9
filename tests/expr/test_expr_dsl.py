"""The DSL parser, for probe files written by hand, and the AST renderer."""

from __future__ import annotations

from typing import Any

import pytest

from stages.expr import ExpressionError, parse_dsl, render_ast


@pytest.mark.parametrize(
    ("src", "ast"),
    [
        ("x", {"ref": "x"}),
        ("@return", {"ref": "@return"}),
        ("a.b.c", {"getmember": [{"getmember": [{"ref": "a"}, "b"]}, "c"]}),
        ('h["Host"]', {"index": [{"ref": "h"}, "Host"]}),
        ("xs[0].y", {"getmember": [{"index": [{"ref": "xs"}, 0]}, "y"]}),
        ("b == 0", {"eq": [{"ref": "b"}, 0]}),
        ("a != -1.5", {"ne": [{"ref": "a"}, -1.5]}),
        ("a >= 1e3", {"ge": [{"ref": "a"}, 1000.0]}),
        (
            "a < 1 && b > 2 || !c",
            {
                "or": [
                    {"and": [{"lt": [{"ref": "a"}, 1]}, {"gt": [{"ref": "b"}, 2]}]},
                    {"not": {"ref": "c"}},
                ]
            },
        ),
        ("a && (b || c)", {"and": [{"ref": "a"}, {"or": [{"ref": "b"}, {"ref": "c"}]}]}),
        ("x == null", {"eq": [{"ref": "x"}, None]}),
        ("x == nil", {"eq": [{"ref": "x"}, None]}),
        ("t == true", {"eq": [{"ref": "t"}, True]}),
        ("len(s) > 2", {"gt": [{"len": {"ref": "s"}}, 2]}),
        ("not(isEmpty(s))", {"not": {"isEmpty": {"ref": "s"}}}),
        ("contains(s, 'x')", {"contains": [{"ref": "s"}, "x"]}),
        ("substring(s, 0, 2)", {"substring": [{"ref": "s"}, 0, 2]}),
        (
            "any(xs, {@it > 1})",
            {"any": [{"ref": "xs"}, {"gt": [{"ref": "@it"}, 1]}]},
        ),
        ('x instanceof "main.T"', {"instanceof": [{"ref": "x"}, "main.T"]}),
        ('"a\\"b"', 'a"b'),
    ],
)
def test_parse(src: str, ast: Any) -> None:
    assert parse_dsl(src) == ast


@pytest.mark.parametrize("src", ["", "a ==", "a b", "len(a, b)", "(a", "a.", "x[1", "#"])
def test_parse_errors(src: str) -> None:
    with pytest.raises(ExpressionError):
        parse_dsl(src)


@pytest.mark.parametrize(
    "src",
    [
        'a.b[0] == "x"',
        "a < 1 && b > 2 || !c",
        "a && (b || c)",
        "len(s) > 2",
        "any(xs, {@it > 1})",
        "substring(s, 0, 2) == null",
        'instanceof(x, "main.T")',
    ],
)
def test_render_round_trip(src: str) -> None:
    assert parse_dsl(render_ast(parse_dsl(src))) == parse_dsl(src)
