"""Log templates: every value kind, the cut-offs, failed segments."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from expr_cases import (
    NODE1,
    SCOPE,
    array,
    boolean,
    cut,
    gone,
    iface,
    map_,
    nil,
    num,
    ptr,
    slice_,
    struct,
    text,
)

from stages.expr import (
    ExpressionError,
    build_scope,
    compile_template,
    format_value,
    parse_dsl,
    render_template,
    split_template,
)
from stages.snapshot import CapturedValue as CV
from stages.snapshot import EvaluationError
from stages.spec import Segment


def seg(dsl: str) -> dict[str, Any]:
    return {"dsl": dsl, "json": parse_dsl(dsl)}


def show(dsl: str, scope: dict[str, Any] | None = None) -> str:
    message, errors = render_template([seg(dsl)], SCOPE if scope is None else scope)
    assert errors == [], errors
    return message


@pytest.mark.parametrize(
    ("dsl", "want"),
    [
        ("i", "-64"),
        ("i8", "-8"),
        ("u64", "18446744073709551615"),
        ("up", "0x7ffd1234"),
        ("f32", "0.1"),
        ("f64", "-2.25"),
        ("big", "1e+21"),
        ("nan", "NaN"),
        ("inf", "+Inf"),
        ("c", "(1+2i)"),
        ("t", "true"),
        ("f", "false"),
        ("s", "héllo world"),
        ("empty", ""),
        ("long", "abcdefgh..."),
        ("nilnode", "nil"),
        ("node.Val", "1"),
        ("node.Name", "first"),
        ("node.Next.Next", "{Val: 3, Name: third, Next: nil}"),
        ("pp.Next.Next.Val", "3"),
        ("nums", "[1, 2, 3, ...]"),
        ("names", "[ann, bob]"),
        ("bigs", "[1, 2, ...]"),
        ("nilslice", "[]"),
        ("arr", "[10, 20]"),
        ("m", "map[a: 1, b: 2]"),
        ("bigmap", "map[a: 1, ...]"),
        ("nilmap", "map[]"),
        ("err", "{Msg: boom, Code: 7}"),
        ("nilerr", "nil"),
        ("any5", "5"),
        ("deep", "{...}"),
        ("unavail", "{unavailable}"),
        ("secret", "{redacted}"),
        ("len(s)", "12"),
        ("i < 0", "true"),
        ("substring(s, 0, 5)", "héllo"),
        ("filter(nums, {@it > 1})", "[2, 3, 4]"),
        ("filter(m, {@value > 1})", "map[b: 2]"),
        ("null", "nil"),
        ("2.5", "2.5"),
        ('"lit"', "lit"),
    ],
)
def test_values(dsl: str, want: str) -> None:
    assert show(dsl) == want


def test_nested_pointers_render_their_pointees() -> None:
    assert show("node") == (
        "{Val: 1, Name: first, Next: {Val: 2, Name: second, Next: "
        "{Val: 3, Name: third, Next: nil}}}"
    )
    assert show("pp") == show("node")


def test_struct_cut_after_five_fields() -> None:
    six = struct("main.Six", **{f"F{i}": num(i) for i in range(6)})
    assert show("x", {"x": six}) == "{F0: 0, F1: 1, F2: 2, F3: 3, F4: 4, ...}"
    five = struct("main.Five", **{f"F{i}": num(i) for i in range(5)})
    assert show("x", {"x": five}) == "{F0: 0, F1: 1, F2: 2, F3: 3, F4: 4}"
    counted = CV(type="main.W", fields={"A": num(1)}, notCapturedReason="fieldCount")
    assert show("x", {"x": counted}) == "{A: 1, ...}"
    assert show("x", {"x": struct("main.E")}) == "{}"


def test_collections_cut_after_three_items() -> None:
    three = slice_("int", num(1), num(2), num(3))
    assert show("x", {"x": three}) == "[1, 2, 3]"
    assert show("x", {"x": slice_("int")}) == "[]"
    four = map_("map[int]bool", [(num(i), boolean(i % 2 == 0)) for i in range(4)])
    assert show("x", {"x": four}) == "map[0: true, 1: false, 2: true, ...]"
    nested = slice_("[]string", slice_("string", text("a")), nil("[]string"))
    assert show("x", {"x": nested}) == "[[a], []]"
    assert show("x", {"x": array("int", *(num(i) for i in range(5)))}) == "[0, 1, 2, ...]"


def test_other_kinds() -> None:
    scope = {
        "ch": CV(type="chan int", address="0xc0000a0000", len="1", cap="4"),
        "fn": CV(type="func()", value="main.handler"),
        "fnx": CV(type="func(int)", notCapturedReason="unimplemented"),
        "chx": CV(type="chan int", notCapturedReason="unimplemented"),
        "when": CV(type="time.Time", value="2025-06-24T18:20:42.826Z"),
        "cyc": CV(type="*main.Node", address="0x1", notCapturedReason="circular reference"),
        "mti": CV(type="main.Hidden", notCapturedReason="missing type information"),
        "uptr": CV(type="unsafe.Pointer", address="0xc000012345"),
        "ip": ptr(num(42)),
        "ips": ptr(slice_("int", num(1))),
        "ifp": iface(ptr(text("x")), "fmt.Stringer"),
        "rt": CV(type="", fields={"q": num(3), "err": nil("error")}),
        "bytes": slice_("uint8", num(104, "uint8"), num(105, "uint8")),
    }
    assert show("ch", scope) == "{chan}"
    assert show("chx", scope) == "{chan}"
    assert show("fn", scope) == "main.handler"
    assert show("fnx", scope) == "{func}"
    assert show("when", scope) == "2025-06-24T18:20:42.826Z"
    assert show("cyc", scope) == "{cycle}"
    assert show("mti", scope) == "{interface: unknown type main.Hidden}"
    assert show("uptr", scope) == "0xc000012345"
    assert show("ip", scope) == "42"
    assert show("ips", scope) == "[1]"
    assert show("ifp", scope) == "x"
    assert show("rt", scope) == "{q: 3, err: nil}"
    assert show("bytes", scope) == "[104, 105]"


def test_duration_has_six_decimals() -> None:
    scope = build_scope({}, None, None, duration_ns=1_834_000)
    assert show("@duration", scope) == "1.834000"


def test_failed_segments_write_error_and_report_it() -> None:
    segments = [
        {"str": "node "},
        seg("nilnode.Val"),
        {"str": " then "},
        seg("nums[9]"),
        {"str": " ok "},
        seg("node.Val"),
    ]
    message, errors = render_template(segments, SCOPE)
    assert message == (
        "node {error: nil pointer dereference} then {error: index out of bounds} ok 1"
    )
    assert errors == [
        EvaluationError(expr="nilnode.Val", message="nil pointer dereference"),
        EvaluationError(expr="nums[9]", message="index out of bounds"),
    ]


def test_segment_without_dsl_uses_the_rendered_ast() -> None:
    message, errors = render_template([{"json": {"ref": "missing"}}], {})
    assert message == "{error: cannot find symbol: missing}"
    assert errors == [EvaluationError(expr="missing", message="cannot find symbol: missing")]


def test_probe_segments_structs_and_template_text() -> None:
    segments = msgspec.convert(
        [
            {"str": "divide "},
            {"dsl": "a", "json": {"ref": "a"}},
            {"str": " by "},
            {"dsl": "b", "json": {"ref": "b"}},
        ],
        list[Segment],
    )
    scope = {"a": num(7), "b": num(0)}
    assert compile_template(segments).render(scope) == ("divide 7 by 0", [])
    from_text = compile_template(None, "divide {a} by {b}: {a == 7 && b != 0}")
    assert from_text.render(scope) == ("divide 7 by 0: false", [])
    assert compile_template(None, None).render(scope) == ("", [])
    assert compile_template([{"dsl": "len(a)"}]).render(scope)[0] == (
        "{error: len is not defined on int}"
    )
    with pytest.raises(ExpressionError, match="segments\\[0\\]"):
        compile_template([{"json": {"nope": 1}}])
    with pytest.raises(ExpressionError, match="neither str, json nor dsl"):
        compile_template([{}])


def test_split_template() -> None:
    assert split_template("a {x.y} b {len(s)}") == [
        {"str": "a "},
        {"dsl": "x.y", "json": {"getmember": [{"ref": "x"}, "y"]}},
        {"str": " b "},
        {"dsl": "len(s)", "json": {"len": {"ref": "s"}}},
    ]
    assert split_template("no braces") == [{"str": "no braces"}]
    assert split_template("open { only") == [{"str": "open { only"}]
    assert split_template('{contains(s, "}")}!') == [
        {"dsl": 'contains(s, "}")', "json": {"contains": [{"ref": "s"}, "}"]}},
        {"str": "!"},
    ]


def test_message_is_cut_at_8192_bytes() -> None:
    big = text("é" * 5000)  # 10000 bytes
    message, _ = render_template([seg("x"), {"str": "tail"}], {"x": big})
    assert len(message.encode()) <= 8192
    assert message.startswith("éé") and "tail" not in message


def test_format_value_plain() -> None:
    assert format_value(NODE1).startswith("{Val: 1, Name: first, Next: {")
    assert format_value(3) == "3"
    assert format_value(0.5) == "0.5"
    assert format_value(1e-7) == "1e-07"
    assert format_value(complex(1, -2)) == "(1-2i)"
    assert format_value(None) == "nil"
    assert format_value(cut("ab", 10)) == "ab..."
    assert format_value(gone("x", "weird")) == "{weird}"
