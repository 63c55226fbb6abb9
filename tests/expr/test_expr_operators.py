"""Every operator of the expression language on hand-built captured values."""

from __future__ import annotations

from typing import Any

import pytest
from expr_cases import (
    SCOPE,
    boolean,
    cond,
    err,
    ev,
    iface,
    nil,
    num,
    ptr,
    slice_,
    struct,
    text,
)

from stages.expr import (
    Duration,
    ExpressionError,
    build_scope,
    compile_expression,
    kinds_from_types,
    parse_dsl,
)
from stages.ir import BaseType, StructType, TypedefType
from stages.snapshot import CapturedValue as CV
from stages.snapshot import EvaluationError

# --------------------------------------------------------------- refs, literals


def test_ref_and_literals() -> None:
    assert ev("i") is SCOPE["i"]
    assert ev("42") == 42
    assert ev('"x"') == "x"
    assert ev("true") is True
    assert ev("null") is None
    assert compile_expression(2.5).evaluate({}) == 2.5


def test_missing_variables() -> None:
    assert err("nope") == "cannot find symbol: nope"
    assert err("nope == 1") == "cannot find symbol: nope"
    assert "@return is not available" in err("@return")
    assert "@duration is not available" in err("@duration > 1")
    assert "@it is only defined" in err("@it")


# -------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    "src",
    [
        "i == -64",
        "i8 == -8",
        "i16 == 300",
        "i32 == -70000",
        "i64 == -9223372036854775808",
        "u == 7",
        "u8 == 255",
        "u16 == 65535",
        "u32 == 4000000000",
        "u64 == 18446744073709551615",
        "up == 2147291700",
        "f32 == 0.1",
        "f64 == -2.25",
        "big == 1e21",
        "c == c",
        "t == true",
        "f == false",
        "f != true",
        's == "héllo world"',
        's != "hello world"',
        "i < u",
        "i32 < u32",
        "i64 < i",
        "u64 > u32",
        "f64 < 0",
        "f64 > i",
        "inf > 1e308",
        "i <= -64",
        "i >= -64",
        "u8 > 254.5",
        's < "i"',
        's > "h"',
        'empty < "a"',
        "nan != nan",
        "node == node",
        "arr == arr",
        '"a" == "a"',
        "1 < 2",
    ],
)
def test_comparisons_hold(src: str) -> None:
    assert cond(src) is True


@pytest.mark.parametrize(
    "src",
    [
        "i == 64",
        "u64 == -1",
        "nan == nan",
        "nan < 1",
        "nan >= 1",
        "t == 1",
        "s == 1",
        'i == "-64"',
        "node == pp",
        "f32 == 0.2",
    ],
)
def test_comparisons_fail(src: str) -> None:
    assert cond(src) is False


def test_ordering_unrelated_types_is_an_error() -> None:
    assert err("s < 1") == "cannot compare string with number"
    assert err("t < f") == "cannot compare bool with bool"
    assert err("node < 1") == "cannot compare *main.Node with number"
    assert err("c < c") == "complex numbers are not ordered"


def test_null_comparisons() -> None:
    for src in (
        "nilnode == null",
        "null == nilnode",
        "node != null",
        "nilslice == null",
        "nums != null",
        "nilmap == null",
        "m != null",
        "nilerr == null",
        "err != null",
        "i != null",
        "null == null",
    ):
        assert cond(src) is True, src


def test_slices_and_maps_compare_only_with_null() -> None:
    assert "can only be compared to null" in err("nums == nums")
    assert "can only be compared to null" in err("m != m")


def test_struct_equality_field_by_field() -> None:
    a = struct("main.P", X=num(1), Y=text("a"))
    b = struct("main.P", X=num(1), Y=text("a"))
    c = struct("main.P", X=num(2), Y=text("a"))
    assert cond("a == b", {"a": a, "b": b}) is True
    assert cond("a == c", {"a": a, "c": c}) is False


def test_partial_strings_decide_what_they_can() -> None:
    assert cond('long == "abc"') is False  # sizes differ
    assert cond('long != "abcdefgh"') is True  # captured 8 bytes of 300
    assert cond('long > "abc"') is True
    assert cond('long < "b"') is True
    assert err('long < "abcdefghz"') == "string not fully captured (length)"
    exact = "abcdefgh" + "x" * 292
    assert err(f'long == "{exact}"') == "string not fully captured (length)"


def test_interfaces_compare_by_dynamic_value() -> None:
    assert cond("any5 == 5") is True
    assert cond('anys == "x"') is True
    assert cond("any5 > 4") is True


def test_named_scalars_without_and_with_kinds() -> None:
    scope = {
        "temp": CV(type="main.Celsius", value="36.6"),
        "col": CV(type="main.Color", value="42"),
    }
    assert cond("temp > 30", scope) is True
    assert cond('temp == "36.6"', scope) is True
    assert cond('col == "42"', scope) is True
    assert cond("col == 42", scope) is True
    types = [
        BaseType(id=1, name="float64", size=8, go_kind="float64"),
        TypedefType(id=2, name="main.Celsius", size=8, target=1),
        StructType(id=3, name="main.P", size=0, fields=[]),
    ]
    kinds = kinds_from_types(types)
    assert kinds == {"float64": "float64", "main.Celsius": "float64", "main.P": "struct"}
    typed = compile_expression(parse_dsl('temp == "36.6"'), kinds=kinds)
    assert typed.test(scope) is False
    assert compile_expression(parse_dsl("temp > 36.5"), kinds=kinds).test(scope) is True


# --------------------------------------------------------------- members, index


def test_getmember_through_pointers_and_interfaces() -> None:
    assert cond("node.Val == 1") is True
    assert cond('node.Next.Next.Name == "third"') is True
    assert cond("node.Next.Next.Next == null") is True
    assert cond("pp.Val == 1") is True
    assert cond('err.Msg == "boom"') is True
    assert cond("err.Code == 7") is True


def test_nil_dereference_inside_a_condition() -> None:
    assert err("nilnode.Val == 1") == "nil pointer dereference"
    assert err("node.Next.Next.Next.Val == 3") == "nil pointer dereference"
    assert err("nilerr.Msg") == "nil pointer dereference"
    r = compile_expression(parse_dsl("nilnode.Val > 0"), "nilnode.Val > 0").test(SCOPE)
    assert r == EvaluationError(expr="nilnode.Val > 0", message="nil pointer dereference")


def test_missing_and_uncaptured_members() -> None:
    assert err("node.Missing") == "main.Node has no field Missing"
    assert err("deep.Val") == "*main.Node value not captured (depth)"
    assert err("i.X") == "int has no field X"
    wide = CV(type="main.W", fields={"A": num(1)}, notCapturedReason="fieldCount")
    assert err("w.Z", {"w": wide}) == "field Z of main.W not captured (fieldCount)"


def test_promoted_fields_of_embedded_structs() -> None:
    base = struct("main.Base", ID=num(9))
    outer = struct("main.Outer", Base=base, Name=text("o"))
    via_ptr = struct("main.Outer2", Base=ptr(base))
    assert cond("o.ID == 9", {"o": outer}) is True
    assert cond("o.Base.ID == 9", {"o": outer}) is True
    assert cond("o.ID == 9", {"o": via_ptr}) is True
    other = struct("main.Outer3", Inner=base)  # a named field: not promoted
    assert err("o.ID", {"o": other}) == "main.Outer3 has no field ID"


def test_index_slices_arrays_maps_strings() -> None:
    assert cond("nums[0] == 1 && nums[3] == 4") is True
    assert cond("arr[1] == 20") is True
    assert cond("bigs[1] == 2") is True
    assert cond('m["b"] == 2') is True
    assert cond('mi[2] == "two"') is True
    assert cond("s[0] == 104") is True
    assert cond('names[1] == "bob"') is True


def test_index_errors() -> None:
    assert err("nums[4]") == "index out of bounds"
    assert err("nums[-1]") == "index out of bounds"
    assert err("bigs[1000]") == "index out of bounds"
    assert err("nilslice[0]") == "index out of bounds"
    assert err("bigs[5]") == "element 5 of []int not captured (collectionSize)"
    assert err('m["z"]') == 'key "z" not found'
    assert err('bigmap["z"]') == 'key "z" not captured (collectionSize)'
    assert err('nilmap["a"]') == 'key "a" not found: nil map'
    assert err('nums["a"]') == "index must be an integer, not string"
    assert err("i[0]") == "cannot index int"
    assert err("s[99]") == "index out of bounds"


# ---------------------------------------------------------------------- logic


def test_and_or_not_short_circuit() -> None:
    assert cond("nilnode != null && nilnode.Val == 1") is False
    assert cond("nilnode == null || nilnode.Val == 1") is True
    assert err("nilnode.Val == 1 && false") == "nil pointer dereference"
    assert cond("!t") is False
    assert cond("not(f)") is True
    assert cond("t && t && !f") is True
    assert cond("f || f || t") is True
    assert err("i && t") == "expected a boolean, got number"
    assert err("!s") == "expected a boolean, got string"


def test_condition_must_be_boolean() -> None:
    r = cond("i")
    assert isinstance(r, EvaluationError) and r.message == "expected a boolean, got number"
    assert cond("t") is True


# ------------------------------------------------------------- len and friends


def test_len_count_isempty() -> None:
    for src in (
        "len(s) == 12",  # bytes: é is two
        "len(long) == 300",
        "len(nums) == 4",
        "len(bigs) == 1000",
        "len(m) == 2",
        "len(bigmap) == 50",
        "len(nilslice) == 0",
        "len(nilmap) == 0",
        "len(arr) == 2",
        "count(nums) == 4",
        "isEmpty(empty)",
        "!isEmpty(s)",
        "isEmpty(nilslice)",
        "len(node.Name) == 5",
        "len(err.Msg) == 4",
        'len("abc") == 3',
    ):
        assert cond(src) is True, src
    assert err("len(i)") == "len is not defined on int"
    assert err("len(nilnode)") == "nil pointer dereference"
    assert err("len(node)") == "len is not defined on main.Node"
    assert err("len(unavail)") == "int value not captured (unavailable)"


def test_is_defined() -> None:
    assert cond("isDefined(i)") is True
    assert cond("isDefined(nope)") is False
    assert cond("isDefined(nilnode.Val)") is False
    assert cond("isUndefined(nope)") is True


# ------------------------------------------------------------------ strings


def test_string_tests() -> None:
    for src in (
        'contains(s, "llo")',
        '!contains(s, "zz")',
        'contains(long, "cde")',
        'startsWith(s, "hé")',
        'endsWith(s, "world")',
        'startsWith(long, "abc")',
        '!startsWith(long, "abx")',
        'matches(s, "w.rld")',
        '!matches(s, "^world")',
        'matches(node.Name, "^fir")',
        'substring(s, 0, 5) == "héllo"',
        'substring(s, 6, 11) == "world"',
        'startsWith(err.Msg, "bo")',
    ):
        assert cond(src) is True, src


def test_string_test_errors() -> None:
    assert err('contains(long, "zzz")') == "string not fully captured (length)"
    assert err('startsWith(long, "abcdefghij")') == "string not fully captured (length)"
    assert err('endsWith(long, "x")') == "string not fully captured (length)"
    assert err('matches(long, "a")') == "string not fully captured (length)"
    assert err("substring(s, 3, 100)") == "substring: range [3, 100) out of bounds (length 11)"
    assert err('startsWith(i, "x")') == "startsWith: number is not a string"
    assert err('startsWith(nilnode, "x")') == "nil pointer dereference"
    assert err("matches(s, pat)", {**SCOPE, "pat": text("[")}).startswith("bad regular expression")
    with pytest.raises(ExpressionError, match="bad regular expression"):
        compile_expression({"matches": [{"ref": "s"}, "["]})


def test_contains_on_collections() -> None:
    for src in (
        'contains(names, "bob")',
        '!contains(names, "zed")',
        "contains(nums, 3)",
        "contains(bigs, 2)",
        'contains(m, "a")',
        '!contains(m, "q")',
        "contains(mi, 1)",
        "!contains(nilslice, 1)",
        '!contains(nilmap, "a")',
    ):
        assert cond(src) is True, src
    assert err("contains(bigs, 99)") == "collection not fully captured (collectionSize)"
    assert err('contains(bigmap, "q")') == "collection not fully captured (collectionSize)"


# ---------------------------------------------------------- any / all / filter


def test_any_all() -> None:
    for src in (
        "any(nums, {@it > 3})",
        "!any(nums, {@it > 10})",
        "all(nums, {@it > 0})",
        "!all(nums, {@it > 1})",
        "any(bigs, {@it == 2})",
        "!all(bigs, {@it == 1})",
        'any(m, {@key == "b" && @value == 2})',
        'any(m, {@it == "a"})',
        "all(m, {@value > 0})",
        "!any(nilslice, {@it > 0})",
        "all(nilslice, {@it > 0})",
        'any(names, {startsWith(@it, "b")})',
        "any(nums, {any(nums, {@it > 3})})",
        "hasAny(nums, {@it == 4})",
        "hasAll(nums, {@it < 5})",
    ):
        assert cond(src) is True, src
    assert err("any(bigs, {@it == 99})") == "collection not fully captured (collectionSize)"
    assert err("all(bigs, {@it > 0})") == "collection not fully captured (collectionSize)"
    assert err("any(i, {@it > 0})") == "not a collection: int"
    assert err("any(nums, {@it})") == "expected a boolean, got number"


def test_filter() -> None:
    assert cond("len(filter(nums, {@it > 2})) == 2") is True
    r = ev("filter(nums, {@it > 2})")
    assert isinstance(r, CV) and [e.value for e in r.elements or []] == ["3", "4"]
    assert r.size == "2" and r.type == "[]int"
    rm = ev("filter(m, {@value > 1})")
    assert isinstance(rm, CV) and rm.entries == [(text("b"), num(2))]
    partial = ev("filter(bigs, {@it > 1})")
    assert isinstance(partial, CV)
    assert partial.truncated and partial.size is None
    assert partial.notCapturedReason == "collectionSize"
    assert err("len(filter(bigs, {@it > 1}))") == "[]int value not captured (collectionSize)"


# ------------------------------------------------------------------ instanceof


def test_instanceof() -> None:
    for src in (
        'instanceof(node, "*main.Node")',
        'instanceof(err, "*main.MyErr")',
        'instanceof(err, "error")',
        '!instanceof(nilerr, "error")',
        'instanceof(any5, "int")',
        '!instanceof(i, "string")',
        'instanceof(s, "string")',
        'node instanceof "*main.Node"',
        '!instanceof(nilnode, "*main.Node")',
        'instanceof("x", "string")',
    ):
        assert cond(src) is True, src
    with pytest.raises(ExpressionError, match="instanceof takes"):
        compile_expression({"instanceof": [{"ref": "i"}, {"ref": "s"}]})


# --------------------------------------------------------- not captured values


def test_values_not_captured() -> None:
    assert err("unavail == 1") == "int value not captured (unavailable)"
    assert err('secret == "x"') == "string value is redacted (redactedIdent)"
    # Not captured, but known not to be nil: comparing with null still decides.
    assert cond("deep == null") is False
    assert cond("deep != null") is True
    assert err("bad == 1", {"bad": CV(type="int", value="abc")}) == "malformed int value 'abc'"


# ------------------------------------------------------------- special scope


def test_duration_and_return() -> None:
    scope = build_scope(
        {"a": num(7)},
        {"tmp": num(1)},
        {"q": num(3), "err": nil("error")},
        duration_ns=2_500_000,
    )
    assert isinstance(scope["@duration"], Duration)
    assert cond("@duration > 2 && @duration < 3", scope) is True
    assert cond("@return.q == 3 && @return.err == null", scope) is True
    one = build_scope({}, None, {"r0": num(5)})
    assert cond("@return == 5", one) is True
    assert cond("tmp == 1 && a == 7", scope) is True
    shadow = build_scope({"x": num(1)}, {"x": num(2)})
    assert cond("x == 2", shadow) is True


# --------------------------------------------------------------- compile errors


@pytest.mark.parametrize(
    ("ast", "message"),
    [
        ({"bogus": 1}, "unknown operator 'bogus'"),
        ({"eq": [1]}, "eq: expects 2 operands"),
        ({"eq": 1}, "eq: expects 2 operands"),
        ({"and": [True]}, "and: expects at least 2 operands"),
        ({"ref": ""}, "ref takes a non-empty variable name"),
        ({"ref": 3}, "ref takes a non-empty variable name"),
        ({"getmember": [{"ref": "a"}, 3]}, "getmember takes"),
        ({"a": 1, "b": 2}, "exactly one operator"),
        ([1, 2], "expected an expression"),
        ({"not": {"len": {"frob": 1}}}, "not.len: unknown operator 'frob'"),
        ({"substring": [{"ref": "s"}, 1]}, "substring: expects 3 operands"),
    ],
)
def test_compile_errors(ast: Any, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("[", r"\[").replace("(", r"\(")):
        compile_expression(ast)


def test_evaluation_never_raises_on_odd_data() -> None:
    odd = {
        "x": CV(type="main.T", fields={"data": CV(type="int", notCapturedReason="unavailable")}),
        "y": CV(type="float64", value="not-a-float"),
        "z": boolean(True),
    }
    for src in ("x == 1", "y > 1", "len(x)", "x.data.q", "any(x, {@it})", "z.q[0]"):
        assert isinstance(ev(src, odd), EvaluationError), src


def test_expr_text_is_the_dsl_or_the_rendered_ast() -> None:
    ast = {"and": [{"eq": [{"getmember": [{"ref": "p"}, "x"]}, 1]}, {"not": {"ref": "t"}}]}
    assert compile_expression(ast).text == "p.x == 1 && !t"
    assert compile_expression(ast, "p.x==1 && !t").text == "p.x==1 && !t"
    r = compile_expression(ast).test({"p": nil("*main.P"), "t": boolean(False)})
    assert r == EvaluationError(expr="p.x == 1 && !t", message="nil pointer dereference")


def test_pointer_to_slice_and_iface_of_slice() -> None:
    nums = slice_("int", num(1), num(2))
    scope = {"ps": ptr(nums), "is": iface(nums)}
    assert cond("len(ps) == 2 && ps[1] == 2 && any(ps, {@it == 1})", scope) is True
    assert cond("len(is) == 2 && is[0] == 1", scope) is True
