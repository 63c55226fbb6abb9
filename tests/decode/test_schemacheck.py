"""The C check of snapshots (``stages.schemacheck``) against the reference,
``jsonschema`` on ``schemas/snapshot.schema.json``.

Hypothesis mutates real valid snapshots (decoded from the dumps of
``tests/decode/fixtures``: captures of real Go programs) into invalid ones, in
the ways a renderer could go wrong: a value of the wrong type, a required key
missing, a key where none is allowed, a string outside an enum or a pattern,
a number that is or is not an integer, a tuple of the wrong length. The check
must reject exactly what jsonschema rejects, whatever the JSON spelling.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
import pytest
from fixture_cases import load_case
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stages.schemacheck import SchemaCheck, UnsupportedSchema
from stages.schemas import explain_snapshot, render, snapshot_check

CASES = ["example-go1.23.9", "example-go1.27.3", "robust-go1.27.3"]
SCHEMA = json.loads(render("snapshot.schema.json"))
REFERENCE = jsonschema.Draft202012Validator(SCHEMA)


@cache
def real_snapshots() -> list[Any]:
    """The snapshots of the fixture dumps, parsed (a few of each probe)."""
    out: list[Any] = []
    for name in CASES:
        seen: dict[str, int] = {}
        for raw in load_case(name).run().encoded():
            snap = json.loads(raw)
            probe = snap["debugger"]["snapshot"]["probe"]["id"]
            if seen.get(probe, 0) < 4:
                seen[probe] = seen.get(probe, 0) + 1
                out.append(snap)
    return out


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON tree: object members and array items."""
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


# Values a renderer could put in the wrong place: every JSON type, the strings a
# schema's enums and patterns tell apart, numbers integral or not.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, -0.0, 1e2, 2.5, 10**20 * 1.0]),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "0",
            "12",
            "12\n",
            "1\n2",
            "12a",
            "-1",
            "0x",
            "0x1f",
            "0X1F",
            "0xg",
            "0x1f\n",
            "go",
            "snapshot",
            "dd_debugger",
            "depth",
            "unavailable",
            "nope",
            "\u00e9",
            "\U0001f600",
            "\ud800",
        ]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["type", "value", "x", "size", "fields"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)
_keys = st.one_of(
    st.sampled_from(
        [
            "type",
            "value",
            "fields",
            "elements",
            "entries",
            "size",
            "truncated",
            "isNull",
            "address",
            "notCapturedReason",
            "len",
            "cap",
            "extra",
            "id",
            "@return",
        ]
    ),
    st.text(max_size=6),
)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A real snapshot with one to three mutations."""
    snap = json.loads(json.dumps(draw(st.sampled_from(real_snapshots()))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(snap)))
        node = _get(snap, path)
        how = draw(st.sampled_from(["replace", "delete", "add", "append", "pop"]))
        if how == "replace" and path:
            _get(snap, path[:-1])[path[-1]] = draw(_values)
        elif how == "delete" and isinstance(node, dict) and node:
            del node[draw(st.sampled_from(sorted(node)))]
        elif how == "add" and isinstance(node, dict):
            node[draw(_keys)] = draw(_values)
        elif how == "append" and isinstance(node, list):
            node.append(draw(st.sampled_from([*node, None, {"type": "int"}])) if node else {})
        elif how == "pop" and isinstance(node, list) and node:
            node.pop()
    return snap


def _text(instance: Any, ascii_only: bool) -> bytes:
    """``instance`` as JSON in UTF-8; a lone surrogate (which has no UTF-8) raises
    UnicodeEncodeError unless escaped (``ascii_only``)."""
    return json.dumps(instance, ensure_ascii=ascii_only).encode("utf-8")


def test_real_snapshots_pass_both() -> None:
    check = snapshot_check()
    snaps = real_snapshots()
    assert len(snaps) > 10
    for snap in snaps:
        assert REFERENCE.is_valid(snap)
        assert check(_text(snap, False)) is None
        assert check(_text(snap, True)) is None


# A valid snapshot but for a lone surrogate in a string: the text holds it escaped
# (its "UTF-8" would be bytes the check rightly rejects and json.loads, decoding
# with surrogatepass, accepts).
_LONE_SURROGATE = {**real_snapshots()[0], "service": "\ud800"}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
@example(_LONE_SURROGATE, False)
@example(_LONE_SURROGATE, True)
def test_check_rejects_what_jsonschema_rejects(snap: Any, ascii_only: bool) -> None:
    try:
        raw = _text(snap, ascii_only)
    except UnicodeEncodeError:
        raw = _text(snap, True)  # a lone surrogate is no UTF-8: only escaped
    reason = snapshot_check()(raw)
    expected = REFERENCE.is_valid(json.loads(raw))
    assert (reason is None) == expected, (reason, explain_snapshot(raw, reason or ""))


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"{",
        b'{"service":"x"',
        b'{"service":"x",}',
        b"[1,]",
        b"NaN",
        b'{"a":1} {}',
        b'"\x01"',
        b'"\xff"',
        b'"\xed\xa0\x80"',  # a surrogate in UTF-8
        b'"\\x"',
        b"01",
        b"1.",
        b"tru",
    ],
)
def test_text_that_is_not_json_fails(text: bytes) -> None:
    check = SchemaCheck(True)
    assert check.check(text) is not None


def test_json_that_is_json_passes_an_empty_schema() -> None:
    check = SchemaCheck({})
    for text in [b" 1 ", b'{"a":[1,2.5e3,null,true,false,"\\u00e9\\ud83d\\ude00"]}', b"-0"]:
        assert check.check(text) is None


def test_integers_as_jsonschema_counts_them() -> None:
    check = SchemaCheck({"type": "integer"})
    for text, ok in [
        (b"1", True),
        (b"1.0", True),
        (b"1e2", True),
        (b"1.5", False),
        (b"1e400", False),
    ]:
        assert (check.check(text) is None) is ok, text


def test_the_snapshot_schemas_compile() -> None:
    """The schemas decode's output is checked against compile (a tagged union, as
    in ir.schema.json, would not: its alternatives are all objects)."""
    for name in ["snapshot.schema.json", "snapshots.schema.json"]:
        SchemaCheck(json.loads(render(name)))
    with pytest.raises(UnsupportedSchema, match="anyOf"):
        SchemaCheck(json.loads(render("ir.schema.json")))


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 1},
        {"oneOf": [{"type": "string"}]},
        {"anyOf": [{"type": "string"}, {"type": "string", "pattern": "^a$"}]},
        {"type": "string", "pattern": "^[0-9]+0$"},
        {"type": "string", "pattern": "[0-9]+"},
        {"$ref": "https://example.com/x"},
    ],
)
def test_what_it_does_not_implement_is_refused(schema: Any) -> None:
    with pytest.raises(UnsupportedSchema):
        SchemaCheck(schema)


# One checker for every example: the values it found valid in the texts before
# are remembered (MEMO_SLOTS in _schemacheck.c), and a text repeating them in
# part is checked against that memory.
_SHARED = snapshot_check()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans(), st.integers(0, len(real_snapshots()) - 1))
def test_a_checker_that_remembers_rejects_what_jsonschema_rejects(
    snap: Any, ascii_only: bool, before: int
) -> None:
    """The texts a decode checks one after the other: a valid snapshot, then one
    that repeats much of it but may differ anywhere (a mutation of a real one)."""
    assert _SHARED(_text(real_snapshots()[before], ascii_only)) is None
    try:
        raw = _text(snap, ascii_only)
    except UnicodeEncodeError:
        raw = _text(snap, True)
    reason = _SHARED(raw)
    assert (reason is None) == REFERENCE.is_valid(json.loads(raw)), reason
    # the same text again (now mostly remembered, if valid): the same answer
    assert (_SHARED(raw) is None) == (reason is None)
    assert (_SHARED(bytearray(raw)) is None) == (reason is None)


def _nested(levels: int) -> bytes:
    return b"[" * levels + b'"' + b"x" * 100 + b'"' + b"]" * levels


def test_a_remembered_value_keeps_how_deep_it_nests() -> None:
    """A value found valid near the top is not taken as valid where its depth
    would pass the limit (1,000 levels), nor one cut short or followed by junk."""
    check = SchemaCheck({}).check
    deep = _nested(990)
    assert check(deep) is None
    assert check(b"[" * 5 + deep + b"]" * 5) is None  # 995 levels
    assert check(b"[" * 11 + deep + b"]" * 11) == "nested too deep at byte 1000"
    assert check(b"[" * 5 + deep + b"]" * 5) is None
    assert check(b"[" + deep + b",]") is not None
    assert check(b"[" + deep + b"]]") is not None
    assert check(b"[" + deep[:-1]) is not None
    assert check(b"[" + deep + b"," + deep + b"]") is None


def test_a_remembered_value_is_for_its_node() -> None:
    """The same text under another schema node is checked there."""
    check = SchemaCheck(
        {
            "type": "object",
            "properties": {
                "a": {"type": "array", "items": {"type": "string"}},
                "b": {"type": "array", "items": {"type": "integer"}},
            },
        }
    ).check
    strings = json.dumps(["s" * 20] * 10).encode()
    assert check(b'{"a":' + strings + b"}") is None
    assert check(b'{"b":' + strings + b"}") is not None
    assert check(b'{"a":' + strings + b',"b":' + strings + b"}") is not None
