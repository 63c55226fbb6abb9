"""Redaction (snapshot-format.md § Redaction): the default list, normalisation, the
three environment variables, and redacted variables, fields and types in snapshots."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from decode_helpers import (
    BYTES,
    CT,
    T_INT,
    T_MIXED,
    T_POINT,
    T_PPOINT,
    T_SLICE_POINT,
    T_STRING,
    Blk,
    Var,
    World,
    args,
    decode_all,
    decode_one,
    elem_sizes,
    i64,
    make_world,
    pack_event,
    slice_header,
    string_header,
    u64,
)

from stages import redaction as red
from stages.redaction import (
    DEFAULT_IDENTIFIERS,
    Redaction,
    is_redacted_ident,
    is_redacted_type,
    normalise,
)

S = 0xC000010000
P = 0xC000020000

# ------------------------------------------------------------------------ policy


def test_default_list_has_the_85_names() -> None:
    assert len(DEFAULT_IDENTIFIERS) == 85
    assert {"2fa", "password", "xsrftoken", "serviceaccountcredentials"} <= DEFAULT_IDENTIFIERS
    assert all(n == normalise(n) for n in DEFAULT_IDENTIFIERS)


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("X-Api_Key", "xapikey"),
        ("$password", "password"),
        ("@Token", "token"),
        ("pass_word", "password"),
        ("Session-ID", "sessionid"),
        ("normal", "normal"),
    ],
)
def test_normalise(name: str, normal: str) -> None:
    assert normalise(name) == normal


@pytest.mark.parametrize(
    ("name", "redacted"),
    [
        ("password", True),
        ("Password", True),
        ("api_key", True),
        ("X_API_KEY", True),
        ("accessToken", True),
        ("sessionId", True),
        ("user", False),
        ("passwords", False),  # whole names only
        ("tokenizer", False),
    ],
)
def test_default_identifiers(name: str, redacted: bool) -> None:
    assert Redaction().ident(name) is redacted


def test_environment_adds_and_removes_identifiers() -> None:
    r = Redaction.from_env(
        {
            red.ENV_REDACTED_IDENTIFIERS: " Customer_Name , ,iban",
            red.ENV_EXCLUDED_IDENTIFIERS: "Session,pin",
        }
    )
    assert r.ident("customerName") and r.ident("IBAN")
    assert not r.ident("session") and not r.ident("PIN")
    assert r.ident("password")
    assert not r.type("main.Point")


def test_environment_redacts_types_exactly_or_by_prefix() -> None:
    r = Redaction.from_env({red.ENV_REDACTED_TYPES: "main.Point, github.com/org/vault.*"})
    assert r.any_types
    assert r.type("main.Point")
    assert not r.type("main.Points") and not r.type("*main.Point")
    assert r.type("github.com/org/vault.Key") and r.type("github.com/org/vault.sub.T")
    assert not r.type("github.com/org/other.Key")
    assert not Redaction().any_types


def test_module_functions_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(red.ENV_REDACTED_IDENTIFIERS, raising=False)
    monkeypatch.delenv(red.ENV_EXCLUDED_IDENTIFIERS, raising=False)
    monkeypatch.delenv(red.ENV_REDACTED_TYPES, raising=False)
    assert is_redacted_ident("Password") and not is_redacted_ident("name")
    assert not is_redacted_type("main.Point")
    monkeypatch.setenv(red.ENV_REDACTED_IDENTIFIERS, "name")
    monkeypatch.setenv(red.ENV_EXCLUDED_IDENTIFIERS, "password")
    monkeypatch.setenv(red.ENV_REDACTED_TYPES, "main.*")
    assert is_redacted_ident("Name") and not is_redacted_ident("Password")
    assert is_redacted_type("main.Point")


# ------------------------------------------------------------------- in snapshots


def decode_with(world: World, root: bytes, blocks: list[Blk], r: Redaction) -> dict[str, Any]:
    event = pack_event(root, blocks, elem_sizes=elem_sizes(world))
    (snap,) = decode_all(world, [event], redaction=r)
    return snap


def test_redacted_variables_and_message() -> None:
    world = make_world(
        [Var("user", T_STRING), Var("password", T_STRING), Var("pin", T_INT, role="local")]
    )
    root = world.root(user=string_header(S, 2), password=string_header(S + 8, 6), pin=i64(1234))
    snap = decode_one(world, root, [Blk(S, BYTES, b"al"), Blk(S + 8, BYTES, b"hunter")])
    assert args(snap) == {
        "user": {"type": "string", "value": "al"},
        "password": {"type": "string", "notCapturedReason": "redactedIdent"},
    }
    assert snap["debugger"]["snapshot"]["captures"]["entry"]["locals"] == {
        "pin": {"type": "int", "notCapturedReason": "redactedIdent"}
    }
    assert snap["message"] == 'main.f(user="al", password=<redactedIdent>)'
    assert "hunter" not in str(snap)


def test_redacted_struct_fields() -> None:
    world = make_world([Var("m", T_MIXED)])
    mixed = struct.pack("<H?xf", 7, True, 1.5) + string_header(S, 3) + struct.pack("<d", 2.0)
    r = Redaction([*DEFAULT_IDENTIFIERS, "label"])
    snap = decode_with(world, world.root(m=mixed), [Blk(S, BYTES, b"abc")], r)
    fields = args(snap)["m"]["fields"]
    assert fields["Label"] == {"type": "string", "notCapturedReason": "redactedIdent"}
    assert fields["ID"] == {"type": "uint16", "value": "7"}
    assert "Label: <redactedIdent>" in snap["message"]
    assert "abc" not in str(snap)


def test_redacted_types_everywhere_they_appear() -> None:
    world = make_world([Var("p", T_POINT), Var("pp", T_PPOINT), Var("ps", T_SLICE_POINT)])
    point = struct.pack("<ii", 3, 4)
    root = world.root(p=point, pp=u64(P), ps=slice_header(S, 2))
    blocks = [Blk(P, CT[30], point), Blk(S, CT[30], point * 2, count=2)]
    r = Redaction(types=["main.Point"])
    snap = decode_with(world, root, blocks, r)
    a = args(snap)
    redacted = {"type": "main.Point", "notCapturedReason": "redactedType"}
    assert a["p"] == redacted
    # The pointer shows where it points, not what.
    assert a["pp"] == {
        "type": "*main.Point",
        "address": hex(P),
        "notCapturedReason": "redactedType",
    }
    assert a["ps"]["elements"] == [redacted, redacted]
    assert (
        snap["message"]
        == "main.f(p=<redactedType>, pp=<redactedType>, ps=[<redactedType>, <redactedType>])"
    )


def test_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(red.ENV_REDACTED_IDENTIFIERS, "user")
    monkeypatch.setenv(red.ENV_EXCLUDED_IDENTIFIERS, "password")
    world = make_world([Var("user", T_INT), Var("password", T_INT)])
    snap = decode_one(world, world.root(user=i64(1), password=i64(2)))
    assert args(snap) == {
        "user": {"type": "int", "notCapturedReason": "redactedIdent"},
        "password": {"type": "int", "value": "2"},
    }
