"""Capture expressions and the limits they apply to their values."""

from __future__ import annotations

import msgspec
import pytest
from expr_cases import NODE1, SCOPE, iface, map_, nil, num, ptr, slice_, struct, text

from stages.expr import (
    ExpressionError,
    ProbeExpressions,
    build_scope,
    compile_capture_expressions,
    evaluate_capture_expressions,
    probe_expression_issue,
    relimit,
    to_captured,
)
from stages.ir import ProbeIssue
from stages.snapshot import CapturedValue as CV
from stages.snapshot import EvaluationError
from stages.spec import Capture, CaptureExpression, Probe


def ce(name: str, dsl: str, **limits: int) -> CaptureExpression:
    raw: dict[str, object] = {"name": name, "expr": {"dsl": dsl}}
    if limits:
        raw["capture"] = limits
    return msgspec.convert(raw, CaptureExpression)


def test_values_and_errors() -> None:
    values, errors = evaluate_capture_expressions(
        [
            ce("first", "node.Name"),
            ce("second", "node.Next.Val"),
            ce("bad", "nilnode.Val"),
            ce("n", "len(nums)"),
            ce("ok", "any(nums, {@it > 3})"),
        ],
        SCOPE,
    )
    assert values == {
        "first": text("first"),
        "second": num(2),
        "n": CV(type="int", value="4"),
        "ok": CV(type="bool", value="true"),
    }
    assert errors == [EvaluationError(expr="nilnode.Val", message="nil pointer dereference")]


def test_string_length_limit() -> None:
    values, _ = evaluate_capture_expressions([ce("s", "s", maxLength=3)], SCOPE)
    assert values["s"] == CV(
        type="string", value="hé", size="12", truncated=True, notCapturedReason="length"
    )  # 3 bytes would split the é: the whole character is dropped
    values, _ = evaluate_capture_expressions([ce("s", "long", maxLength=4)], SCOPE)
    assert values["s"] == CV(
        type="string", value="abcd", size="300", truncated=True, notCapturedReason="length"
    )


def test_collection_and_field_limits() -> None:
    values, _ = evaluate_capture_expressions(
        [
            ce("nums", "nums", maxCollectionSize=2),
            ce("m", "m", maxCollectionSize=1),
            ce("node", "node.Next.Next", maxFieldCount=2),
            ce("small", "nums", maxCollectionSize=10),
        ],
        SCOPE,
    )
    assert values["nums"] == CV(
        type="[]int",
        size="4",
        elements=[num(1), num(2)],
        truncated=True,
        notCapturedReason="collectionSize",
    )
    assert values["m"].entries == [(text("a"), num(1))]
    assert values["m"].size == "2" and values["m"].notCapturedReason == "collectionSize"
    node = values["node"]
    assert node.fields is not None and list(node.fields) == ["Val", "Name"]
    assert node.notCapturedReason == "fieldCount" and node.address == "0xc000030000"
    assert values["small"] == SCOPE["nums"]


def test_reference_depth() -> None:
    limits = Capture(max_reference_depth=1)
    out = relimit(SCOPE["node"], limits)
    assert out.fields is not None
    assert out.fields["Val"] == num(1)
    nxt = out.fields["Next"]
    assert nxt == CV(type="*main.Node", address="0xc000020000", notCapturedReason="depth")
    zero = relimit(SCOPE["node"], Capture(max_reference_depth=0))
    assert zero == CV(type="*main.Node", address="0xc000010000", notCapturedReason="depth")
    # A struct value (no hop) keeps its fields; its pointer field is the first hop.
    plain = relimit(NODE1, Capture(max_reference_depth=1))
    assert plain.fields is not None and plain.fields["Next"].fields is not None
    inner = plain.fields["Next"].fields
    assert inner is not None and inner["Next"].notCapturedReason == "depth"
    # Interfaces hop too.
    e = relimit(iface(ptr(struct("main.E", A=num(1))), "error"), Capture(max_reference_depth=1))
    assert e.fields is not None and e.fields["data"].notCapturedReason == "depth"
    # Pointer to pointer: the nested pointee is one more hop.
    pp = relimit(SCOPE["pp"], Capture(max_reference_depth=1))
    assert pp.fields is not None and pp.fields["*"].notCapturedReason == "depth"


def test_relimit_keeps_what_is_already_cut_and_nil() -> None:
    assert relimit(nil("*main.Node"), Capture(max_reference_depth=0)) == nil("*main.Node")
    gone = CV(type="int", notCapturedReason="unavailable")
    assert relimit(gone, Capture()) is gone
    big = slice_("int", num(1), num(2), size=50)
    out = relimit(big, Capture(max_collection_size=1))
    assert out.size == "50" and out.elements == [num(1)]
    m = map_("map[string][]int", [(text("k"), slice_("int", num(1), num(2), num(3)))])
    out = relimit(m, Capture(max_collection_size=2))
    assert out.entries is not None and out.entries[0][1].elements == [num(1), num(2)]


def test_to_captured() -> None:
    assert to_captured(True) == CV(type="bool", value="true")
    assert to_captured(7) == CV(type="int", value="7")
    assert to_captured(1e21) == CV(type="float64", value="1e+21")
    assert to_captured("x") == CV(type="string", value="x")
    assert to_captured(None) == CV(type="nil", isNull=True)
    assert to_captured(complex(1, 2)) == CV(type="complex128", value="(1+2i)")
    d = build_scope({}, duration_ns=1200)["@duration"]
    assert to_captured(d) == CV(type="float64", value="0.0012")


def test_compile_errors_and_duplicate_names() -> None:
    with pytest.raises(ExpressionError, match="name 'a' used twice"):
        compile_capture_expressions([ce("a", "x"), ce("a", "y")])
    bad = msgspec.convert({"name": "b", "expr": {"json": {"frob": 1}}}, CaptureExpression)
    with pytest.raises(ExpressionError, match="captureExpressions\\[0\\] \\(b\\)"):
        compile_capture_expressions([bad])


def _probe(**extra: object) -> Probe:
    raw: dict[str, object] = {"id": "p1", "where": {"methodName": "main.f"}, **extra}
    return msgspec.convert(raw, Probe)


def test_probe_expressions_bundle() -> None:
    probe = _probe(
        captureSnapshot=True,
        capture={"maxLength": 2},
        when={"dsl": "a > 1", "json": {"gt": [{"ref": "a"}, 1]}},
        segments=[{"str": "a="}, {"dsl": "a", "json": {"ref": "a"}}],
        captureExpressions=[
            {"name": "s", "expr": {"dsl": "s", "json": {"ref": "s"}}},
            {"name": "t", "expr": {"dsl": "s"}, "capture": {"maxLength": 10}},
        ],
    )
    px = ProbeExpressions(probe)
    scope = {"a": num(2), "s": text("hello")}
    assert px.test(scope) is True
    assert px.decide(scope) == ("emit", None)
    assert px.decide({"a": num(0)}) == ("skip", None)
    decision, error = px.decide({})
    assert decision == "error"
    assert error == EvaluationError(expr="a > 1", message="cannot find symbol: a")
    assert px.message(scope) == ("a=2", [])
    values, errors = px.capture_expressions(scope)
    assert values["s"].value == "he"  # the probe's maxLength
    assert values["t"].value == "hello"
    assert errors == []


def test_named_results_are_in_scope_at_exit() -> None:
    """At the exit, a named result is a name of its own in the condition, the
    template and the capture expressions, besides being a field of ``@return``;
    an unnamed one (``~r0``) and blank ``_`` only through ``@return``."""
    probe = _probe(
        captureSnapshot=True,
        evaluateAt="EXIT",
        when={"dsl": "quotient > 1 && err == null"},
        segments=[
            {"str": "q="},
            {"dsl": "quotient", "json": {"ref": "quotient"}},
            {"str": " err="},
            {"dsl": "err", "json": {"ref": "err"}},
        ],
        captureExpressions=[
            {"name": "q", "expr": {"dsl": "quotient"}},
            {"name": "r", "expr": {"dsl": "@return.quotient"}},
        ],
    )
    px = ProbeExpressions(probe)
    scope = build_scope(
        {"a": num(17)}, None, {"quotient": num(3), "err": nil("error"), "~r2": num(9)}
    )
    assert px.decide(scope) == ("emit", None)
    assert px.message(scope) == ("q=3 err=nil", [])
    values, errors = px.capture_expressions(scope)
    assert (values["q"].value, values["r"].value, errors) == ("3", "3", [])
    assert "~r2" not in scope
    assert px.decide(build_scope({}, None, {"quotient": num(1), "err": nil("error")})) == (
        "skip",
        None,
    )
    one = build_scope({}, None, {"err": nil("error")})
    assert one["err"] is one["@return"]


def test_probe_without_expressions_and_dsl_only() -> None:
    bare = ProbeExpressions(_probe())
    assert bare.test({}) is True and bare.message({}) is None
    assert bare.capture_expressions({}) == ({}, [])
    dsl_only = ProbeExpressions(_probe(when={"dsl": "x == 1"}, template="x is {x}"))
    assert dsl_only.decide({"x": num(1)}) == ("emit", None)
    assert dsl_only.message({"x": num(1)}) == ("x is 1", [])


def test_probe_expression_issue() -> None:
    assert probe_expression_issue(_probe(when={"json": {"eq": [1]}})) == ProbeIssue(
        probe_id="p1", kind="invalid_expression", message="when: eq: expects 2 operands, got [1]"
    )
    assert probe_expression_issue(_probe(when={"dsl": "a =="})) is not None
    assert probe_expression_issue(_probe(when={"dsl": "a == 1"})) is None
