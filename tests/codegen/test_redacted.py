"""Redacted bytes inline in values: where they are, and the walker's zero slots.

``codegen.redacted`` lists, per IR type, the byte ranges that hold a field named
like a secret or a value of a redacted type; ``captypes`` turns them into
SLOT_ZERO slots, first after a map's key guards, never cut. The live proof that
none of their bytes reaches the dump is tests/robust/test_secrets_live.py.
"""

from __future__ import annotations

import pytest

from stages.codegen.captypes import MAX_SLOTS, ZERO_CHUNK, CaptureTypes
from stages.codegen.redacted import MAX_RANGES, RedactedBytes, chunks, merge
from stages.codegen.roots import build_root
from stages.ir import (
    ArrayType,
    BaseType,
    CfaPiece,
    Field,
    LocationRange,
    Piece,
    PointerType,
    RegisterPiece,
    StringType,
    StructType,
    TypeIndex,
    Variable,
)
from stages.layout import SLOT_INLINE, SLOT_MORE, SLOT_POINTER, SLOT_STRING, SLOT_ZERO
from stages.redaction import Redaction

INT, U8, STR, INNER, VAULT, ARR, BIG, PTR, CARD, HUGE, TOKEN, BOXED = range(1, 13)


def _types() -> TypeIndex:
    return TypeIndex(
        [
            BaseType(id=INT, name="int", size=8, go_kind="int"),
            BaseType(id=U8, name="uint8", size=1, go_kind="uint8"),
            StringType(id=STR, name="string", size=16),
            StructType(
                id=INNER,
                name="main.Inner",
                size=24,
                fields=[
                    Field(name="N", offset=0, type=INT),
                    Field(name="pin", offset=8, type=INT),
                    Field(name="Note", offset=16, type=U8),
                ],
            ),
            StructType(
                id=VAULT,
                name="main.Vault",
                size=80,
                fields=[
                    Field(name="Owner", offset=0, type=STR),
                    Field(name="Password", offset=16, type=STR),
                    Field(name="In", offset=32, type=INNER),
                    Field(name="Card", offset=56, type=CARD),
                    Field(name="Next", offset=72, type=PTR),
                ],
            ),
            ArrayType(id=ARR, name="[3]main.Inner", size=72, elem=INNER, count=3),
            ArrayType(id=BIG, name="[1000]main.Inner", size=24000, elem=INNER, count=1000),
            PointerType(id=PTR, name="*main.Vault", size=8, elem=VAULT),
            StructType(
                id=CARD, name="main.Card", size=16, fields=[Field(name="N", offset=0, type=STR)]
            ),
            ArrayType(id=HUGE, name="[100000]uint8", size=100000, elem=U8, count=100000),
            StructType(
                id=TOKEN, name="main.Tok", size=8, fields=[Field(name="token", offset=0, type=PTR)]
            ),
            StructType(
                id=BOXED, name="main.Boxed", size=8, fields=[Field(name="v", offset=0, type=PTR)]
            ),
        ]
    )


POLICY = Redaction(types=["main.Card"])


def test_ranges_of_fields_named_like_secrets_and_redacted_types() -> None:
    r = RedactedBytes(_types(), POLICY)
    assert r.ranges(INT) == ()
    assert r.ranges(INNER) == ((8, 8),)
    # Password, In.pin, Card (the type): In.pin and Card do not touch.
    assert r.ranges(VAULT) == ((16, 16), (40, 8), (56, 16))
    assert r.ranges(ARR) == ((8, 8), (32, 8), (56, 8))
    assert r.ranges(CARD) == ((0, 16),)
    # Past MAX_RANGES: from the first redacted byte to the last.
    assert r.ranges(BIG) == ((8, 999 * 24 + 8),)
    assert r.at([(VAULT, 0), (INNER, 100)]) == [(16, 16), (40, 8), (56, 16), (108, 8)]
    assert MAX_RANGES < 1000


def test_merge_and_chunks() -> None:
    assert merge([(10, 5), (0, 10), (20, 0), (14, 4)]) == [(0, 18)]
    assert merge([(0, 1), (2, 1)]) == [(0, 1), (2, 1)]
    assert chunks([(0, 600), (1000, 8)], 256) == [(0, 256), (256, 256), (512, 88), (1000, 8)]


@pytest.fixture(autouse=True)
def _policy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DD_DYNAMIC_INSTRUMENTATION_REDACTED_IDENTIFIERS",
        "DD_DYNAMIC_INSTRUMENTATION_REDACTION_EXCLUDED_IDENTIFIERS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DD_DYNAMIC_INSTRUMENTATION_REDACTED_TYPES", "main.Card")


def test_walker_zero_slots_come_first_and_are_never_cut() -> None:
    ct = CaptureTypes(_types())
    idx = ct.index_of(VAULT)
    entry = ct.table()[idx]
    kinds = [s.kind for s in entry.slots]
    zeros = [(s.offset, s.shift) for s in entry.slots if s.kind == SLOT_ZERO]
    assert zeros == [(16, 16), (40, 8), (56, 16)]
    assert kinds[:3] == [SLOT_ZERO] * 3
    # Owner is followed, Password and Card (redacted) are not; Next is.
    assert [(s.offset, s.kind) for s in entry.slots[3:]] == [(0, SLOT_STRING), (72, SLOT_POINTER)]
    assert entry.size == 80

    idx = ct.index_of(BIG)
    big = ct.table()[idx]
    assert [(s.offset, s.shift) for s in big.slots] == chunks([(8, 999 * 24 + 8)], ZERO_CHUNK)
    assert all(s.shift <= ZERO_CHUNK for s in big.slots)
    idx = ct.index_of(INT)
    assert ct.table()[idx].slots == []


def test_a_type_with_more_zero_slots_than_slots_is_not_copied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DD_DYNAMIC_INSTRUMENTATION_REDACTED_TYPES", "[100000]uint8")
    ct = CaptureTypes(_types())
    idx = ct.index_of(HUGE)
    entry = ct.table()[idx]
    assert 100000 // ZERO_CHUNK > MAX_SLOTS
    assert entry.size == 0 and entry.slots == [] and entry.slots_truncated


def test_an_interface_holding_a_struct_of_one_redacted_pointer_does_not_follow_it() -> None:
    ct = CaptureTypes(_types())
    assert ct.runtime_type(0x1000, TOKEN).capture_type is None
    assert ct.runtime_type(0x2000, BOXED).capture_type == ct.index_of(VAULT)


F64, BADGE, POINT = 20, 21, 22


def _root_types() -> TypeIndex:
    return TypeIndex(
        [
            BaseType(id=INT, name="int", size=8, go_kind="int"),
            StringType(id=STR, name="string", size=16),
            BaseType(id=F64, name="float64", size=8, go_kind="float64"),
            StructType(
                id=BADGE,
                name="main.Badge",
                size=32,
                fields=[
                    Field(name="Owner", offset=0, type=STR),
                    Field(name="Pin", offset=16, type=INT),
                    Field(name="Count", offset=24, type=INT),
                ],
            ),
            StructType(
                id=POINT,
                name="main.Point",
                size=16,
                fields=[
                    Field(name="X", offset=0, type=F64),
                    Field(name="salt", offset=8, type=F64),
                ],
            ),
        ]
    )


def _var(name: str, type_id: int, pieces: list[Piece]) -> Variable:
    return Variable(
        name=name,
        type=type_id,
        role="param",
        locations=[LocationRange(low_pc=0, high_pc=100, pieces=pieces)],
    )


def test_root_pieces_wholly_redacted_are_not_read_and_the_bytes_are_zeroed() -> None:
    types = _root_types()
    badge = _var(
        "b",
        BADGE,
        [RegisterPiece(size=8, register=r) for r in (0, 3, 2, 5)],  # ax bx cx di
    )
    point = _var("p", POINT, [RegisterPiece(size=8, register=17 + x) for x in (0, 1)])
    stack = _var("s", BADGE, [CfaPiece(size=32, offset=8)])
    root = build_root(
        10,
        [(badge, "argument"), (point, "argument"), (stack, "argument")],
        types,
        RedactedBytes(types, Redaction()),
    )
    text = "\n".join(root.statements)
    assert "regs->cx" not in text  # b.Pin: never read
    assert "regs->ax" in text and "regs->bx" in text and "regs->di" in text
    assert "GODI_ROOT_ZERO(s, 16, 8); /* b: redacted */" in text
    # p.salt is in xmm1: not asked for; p.X in xmm0 is.
    assert root.vector_registers == 1
    # The stack piece covers plain bytes too: read whole, then its Pin zeroed.
    mem = next(i for i, s in enumerate(root.statements) if "GODI_ROOT_MEM(s, 48," in s)
    zero = root.statements.index("GODI_ROOT_ZERO(s, 64, 8); /* s: redacted */")
    assert mem < zero


def _element_types(secret: int) -> TypeIndex:
    """A struct of a ``[secret]uint8`` password and two strings, and a struct of 20
    Inner2 (a string and a pin each: 20 references, one SLOT_INLINE)."""
    inner2 = StructType(
        id=31,
        name="main.Inner2",
        size=24,
        fields=[Field(name="S", offset=0, type=STR), Field(name="pin", offset=16, type=INT)],
    )
    return TypeIndex(
        [
            BaseType(id=INT, name="int", size=8, go_kind="int"),
            BaseType(id=U8, name="uint8", size=1, go_kind="uint8"),
            StringType(id=STR, name="string", size=16),
            ArrayType(id=30, name=f"[{secret}]uint8", size=secret, elem=U8, count=secret),
            StructType(
                id=32,
                name="main.Sealed",
                size=secret + 32,
                fields=[
                    Field(name="password", offset=0, type=30),
                    Field(name="A", offset=secret, type=STR),
                    Field(name="B", offset=secret + 16, type=STR),
                ],
            ),
            inner2,
            ArrayType(id=33, name="[20]main.Inner2", size=480, elem=31, count=20),
            StructType(
                id=34, name="main.Rows", size=480, fields=[Field(name="R", offset=0, type=33)]
            ),
        ]
    )


def test_zero_slots_stay_in_the_first_entry_of_a_chain() -> None:
    """The walker zeroes an element while it scans its first entry (a SLOT_MORE
    entry is scanned later, after the block may have been sent): 127 zero slots
    leave room for the SLOT_MORE to the strings; 128 fill the entry, and the
    strings are not followed (truncated) rather than a zero slot chained on."""
    ct = CaptureTypes(_element_types(127 * ZERO_CHUNK))
    idx = ct.index_of(32)
    first = ct.table()[idx]
    assert [s.kind for s in first.slots] == [SLOT_ZERO] * 127 + [SLOT_MORE]
    more = ct.table()[first.slots[-1].target]
    assert [s.kind for s in more.slots] == [SLOT_STRING, SLOT_STRING]
    ct = CaptureTypes(_element_types(128 * ZERO_CHUNK))
    idx = ct.index_of(32)
    full = ct.table()[idx]
    assert [s.kind for s in full.slots] == [SLOT_ZERO] * MAX_SLOTS
    assert full.slots_truncated and full.size == 128 * ZERO_CHUNK + 32


def test_an_array_scanned_in_place_is_zeroed_by_its_element() -> None:
    """[20]Inner2 is one SLOT_INLINE (scanned in place later); the element's own
    zero slots, first, cover every pin of the array before that."""
    ct = CaptureTypes(_element_types(8))
    idx = ct.index_of(34)
    rows = ct.table()[idx]
    assert [(s.offset, s.kind) for s in rows.slots] == [
        *[(16 + 24 * i, SLOT_ZERO) for i in range(20)],
        (0, SLOT_INLINE),
    ]
