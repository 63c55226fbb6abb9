"""Captured values as the expression language sees them.

The evaluator works on what decode produced: ``CapturedValue`` trees (see
snapshot-format.md) plus plain Python values for literals and results of
operations (``bool``, ``int``, ``float``, ``complex``, ``str``, ``None`` for null).
This module knows how to look at a ``CapturedValue``: which Go kind it is, how to
follow pointers and interfaces, how to read a scalar out of it, how to compare
two values (``access`` builds ``len``, indexing and fields on top).

Every runtime problem raises ``EvalFailure``; the compiled expression catches it at
its root and returns an ``EvaluationError`` instead, so callers never see it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from ..snapshot import CapturedValue

Kinds = Mapping[str, str]
"""Go type name -> kind (``int64``, ``string``, ``struct``, ``pointer``, ``slice``,
``array``, ``map``, ``interface``, ``chan``, ``func``, ``unsafe.Pointer``). Built
from the IR by ``kinds_from_types``; without it kinds are inferred from the type
name and the members a value has."""

NO_KINDS: Kinds = {}

NIL_DEREF = "nil pointer dereference"
"""Datadog's Go agent message for a nil pointer met while evaluating."""
OUT_OF_BOUNDS = "index out of bounds"
"""Datadog's Go agent message for an index past the end of a collection."""

INT_KINDS = frozenset(
    {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64"}
)
FLOAT_KINDS = frozenset({"float32", "float64"})
COMPLEX_KINDS = frozenset({"complex64", "complex128"})

# Reasons that cut a value short but leave a usable part of it.
PARTIAL_REASONS = frozenset({"length", "collectionSize", "fieldCount"})
REDACTED_REASONS = frozenset({"redactedIdent", "redactedType"})

_BUILTIN_KINDS: dict[str, str] = {
    **{k: k for k in INT_KINDS | FLOAT_KINDS | COMPLEX_KINDS},
    "bool": "bool",
    "uintptr": "uintptr",
    "byte": "uint8",
    "rune": "int32",
    "string": "string",
    "unsafe.Pointer": "unsafe.Pointer",
    "error": "interface",
    "any": "interface",
    "interface {}": "interface",
    "time.Time": "time",
    "time.Duration": "int64",
}


class EvalFailure(Exception):
    """An expression cannot be evaluated on these values; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Duration(float):
    """``@duration``: milliseconds. Rendered with six decimals, as Datadog's Go agent does."""


class Partial(str):
    """A string of which only a prefix was captured; ``size`` is the full byte length."""

    size: int | None

    def __new__(cls, prefix: str, size: int | None) -> Partial:
        s = super().__new__(cls, prefix)
        s.size = size
        return s


class Untyped(str):
    """The ``value`` of a scalar whose Go kind is unknown (a named type without IR).

    Compared with a number it is read as one, with a string as a string.
    """


Value = Any
"""What an expression evaluates to: a CapturedValue or a plain Python value."""


def kinds_from_types(types: list[Any]) -> dict[str, str]:
    """Go type name -> kind for every IR type (typedefs resolved to their target)."""
    from ..ir import (
        ArrayType,
        BaseType,
        ChanType,
        FuncType,
        InterfaceType,
        MapType,
        PointerType,
        SliceType,
        StringType,
        StructType,
        TypeIndex,
        UnsafePointerType,
    )

    names: list[tuple[type, str]] = [
        (StringType, "string"),
        (PointerType, "pointer"),
        (UnsafePointerType, "unsafe.Pointer"),
        (StructType, "struct"),
        (ArrayType, "array"),
        (SliceType, "slice"),
        (MapType, "map"),
        (ChanType, "chan"),
        (FuncType, "func"),
        (InterfaceType, "interface"),
    ]
    index = TypeIndex(types)
    out: dict[str, str] = {}
    for t in types:
        try:
            target = index.resolve(t.id)
        except KeyError:
            continue
        if isinstance(target, BaseType):
            kind: str | None = target.go_kind
        else:
            kind = next((k for cls, k in names if isinstance(target, cls)), None)
        if t.name == "time.Time":
            kind = "time"
        if kind is not None:
            out.setdefault(t.name, kind)
    return out


# ------------------------------------------------------------------------- kinds


def _looks_like_interface(v: CapturedValue) -> bool:
    f = v.fields
    return f is not None and len(f) == 1 and "data" in f and v.value is None


def kind_of(v: CapturedValue, kinds: Kinds) -> str:
    """The Go kind of ``v``: from ``kinds``, else its type name, else its members."""
    t = v.type
    k = kinds.get(t) or _BUILTIN_KINDS.get(t)
    if k is not None:
        return k
    if t.startswith("*"):
        return "pointer"
    if t.startswith("[]"):
        return "slice"
    if t.startswith("["):
        return "array"
    if t.startswith("map["):
        return "map"
    if t.startswith(("chan ", "chan<-", "<-chan")):
        return "chan"
    if t.startswith("func("):
        return "func"
    if t.startswith("interface {"):
        return "interface"
    if t.startswith("struct {"):
        return "struct"
    # A named type the IR was not asked about: judge by the members present.
    if v.entries is not None:
        return "map"
    if v.elements is not None:
        return "slice"
    if v.address is not None:
        return "pointer"
    if v.fields is not None:
        return "interface" if _looks_like_interface(v) else "struct"
    if v.value is not None:
        return "scalar"
    return "unknown"


def not_captured(v: CapturedValue) -> EvalFailure:
    """The failure for using a value that was not captured."""
    reason = v.notCapturedReason
    if reason in REDACTED_REASONS:
        return EvalFailure(f"{v.type} value is redacted ({reason})")
    return EvalFailure(f"{v.type} value not captured ({reason})")


def check_captured(v: CapturedValue) -> None:
    """Raise when ``v`` was not captured (partial values pass)."""
    reason = v.notCapturedReason
    if reason is not None and reason not in PARTIAL_REASONS:
        raise not_captured(v)


def deref(v: CapturedValue) -> CapturedValue:
    """The pointee of the pointer ``v``; raises on nil or when it was not captured."""
    if v.isNull:
        raise EvalFailure(NIL_DEREF)
    check_captured(v)
    f = v.fields
    if f is not None and len(f) == 1 and "*" in f:
        return f["*"]
    if v.value is None and v.fields is None and v.elements is None and v.entries is None:
        raise EvalFailure(f"{v.type} pointee not captured")
    name = v.type[1:] if v.type.startswith("*") else ""
    return msgspec.structs.replace(v, type=name, address=None)


def unwrap_interface(v: CapturedValue) -> CapturedValue | None:
    """The dynamic value of the interface ``v``; None for a nil interface."""
    if v.isNull:
        return None
    check_captured(v)
    data = v.fields.get("data") if v.fields else None
    if data is None:
        raise EvalFailure(f"{v.type} dynamic value not captured")
    return data


def through(v: Value, kinds: Kinds, *, pointers: bool = True) -> Value:
    """``v`` with interfaces (and, with ``pointers``, pointers) looked through.

    A nil interface becomes None; a nil pointer raises ``nil pointer dereference``.
    """
    for _ in range(64):
        if not isinstance(v, CapturedValue):
            return v
        k = kind_of(v, kinds)
        if k == "interface":
            v = unwrap_interface(v)
        elif k == "pointer" and pointers:
            v = deref(v)
        else:
            return v
    raise EvalFailure("too many indirections")


# ----------------------------------------------------------------------- scalars


def _parse_complex(text: str) -> complex:
    s = text.strip()
    if s.startswith("(") and s.endswith(")"):
        s = s[1:-1]
    return complex(s.replace("i", "j").replace("Inf", "inf").replace("NaN", "nan"))


def scalar(v: Value, kinds: Kinds) -> Value:
    """``v`` as a plain Python value when it is a scalar, else the CapturedValue.

    Null-like values (nil pointers, slices, maps, interfaces) become None.
    """
    if not isinstance(v, CapturedValue):
        return v
    for _ in range(64):
        if v.isNull:
            return None
        k = kind_of(v, kinds)
        if k != "interface":
            break
        v = unwrap_interface(v)
        if v is None:
            return None
    reason = v.notCapturedReason
    if reason is not None and reason not in PARTIAL_REASONS:
        raise not_captured(v)
    text = v.value
    if text is None:
        return v
    try:
        if k in INT_KINDS:
            return int(text)
        if k == "uintptr":
            return int(text, 0)
        if k in FLOAT_KINDS:
            return float(text)
        if k == "bool":
            return text == "true"
        if k in COMPLEX_KINDS:
            return _parse_complex(text)
    except ValueError as e:
        raise EvalFailure(f"malformed {v.type} value {text!r}") from e
    if k == "string":
        if v.truncated:
            return Partial(text, int(v.size) if v.size is not None else None)
        return text
    return Untyped(text)


def is_number(x: object) -> bool:
    """A Python number that is not a bool."""
    return isinstance(x, int | float | complex) and not isinstance(x, bool)


def untyped_number(u: Untyped) -> int | float | complex | None:
    """``u`` read as a number, or None."""
    for parse in (int, float, _parse_complex):
        try:
            return parse(u)
        except ValueError:
            continue
    return None


def describe(x: Value) -> str:
    """A short name of what ``x`` is, for messages."""
    if isinstance(x, CapturedValue):
        return x.type or "struct"
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "bool"
    if is_number(x):
        return "number"
    if isinstance(x, str):
        return "string"
    return type(x).__name__


def byte_len(s: str) -> int:
    """Go's ``len`` of a string: its UTF-8 byte count (the full size for a Partial)."""
    if isinstance(s, Partial):
        if s.size is None:
            raise EvalFailure("string not fully captured (length)")
        return s.size
    return len(s.encode("utf-8", "surrogatepass"))


# -------------------------------------------------------------------- comparison


def _str_order(a: str, b: str) -> int:
    """-1/0/1 comparing two strings of which either may be a Partial prefix."""
    pa, pb = isinstance(a, Partial), isinstance(b, Partial)
    if not pa and not pb:
        return (a > b) - (a < b)
    n = min(len(a), len(b))
    if a[:n] != b[:n]:
        return (a[:n] > b[:n]) - (a[:n] < b[:n])
    # One is a prefix of the other, as far as both were captured.
    if pa and not pb and len(b) <= len(a):
        return 1  # a is longer than what it shows, b is not
    if pb and not pa and len(a) <= len(b):
        return -1
    raise EvalFailure("string not fully captured (length)")


def _str_equal(a: str, b: str) -> bool:
    if not isinstance(a, Partial) and not isinstance(b, Partial):
        return a == b
    for p, other in ((a, b), (b, a)):
        if (
            isinstance(p, Partial)
            and not isinstance(other, Partial)
            and p.size is not None
            and p.size != byte_len(other)
        ):
            return False
    return _str_order(a, b) == 0


def _composite_equal(a: CapturedValue, b: CapturedValue, kinds: Kinds) -> bool:
    ka, kb = kind_of(a, kinds), kind_of(b, kinds)
    if ka in ("pointer", "unsafe.Pointer", "chan") or kb in ("pointer", "unsafe.Pointer", "chan"):
        if a.address is None or b.address is None:
            raise EvalFailure(f"cannot compare {a.type} with {b.type}: address not captured")
        return a.address == b.address
    if ka in ("slice", "map", "func") or kb in ("slice", "map", "func"):
        raise EvalFailure(
            f"{a.type if ka in ('slice', 'map', 'func') else b.type} can only be compared to null"
        )
    check_captured(a)
    check_captured(b)
    if a.notCapturedReason or b.notCapturedReason or a.truncated or b.truncated:
        raise EvalFailure(f"cannot compare {a.type} values: not fully captured")
    if a.fields is not None and b.fields is not None:
        if a.fields.keys() != b.fields.keys():
            return False
        return all(equal(a.fields[k], b.fields[k], kinds) for k in a.fields)
    if a.elements is not None and b.elements is not None:
        if len(a.elements) != len(b.elements):
            return False
        return all(equal(x, y, kinds) for x, y in zip(a.elements, b.elements, strict=True))
    return False


def equal(a: Value, b: Value, kinds: Kinds) -> bool:
    """Go's ``==`` on captured values, lenient like Datadog's tracers across types.

    Values of unrelated types are unequal (no error); null equals only null-like
    values; NaN equals nothing. Raises when the captured data cannot decide.
    """
    if a is None or b is None:
        # Comparing with null only needs to know whether the value is nil: a value
        # that was not captured for a reason other than "unavailable" (its dynamic
        # type unknown, too deep, redacted...) is known not to be nil.
        other = b if a is None else a
        if isinstance(other, CapturedValue) and not other.isNull:
            reason = other.notCapturedReason
            if reason is not None and reason != "unavailable":
                return False
    a = scalar(a, kinds)
    b = scalar(b, kinds)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Untyped) or isinstance(b, Untyped):
        return _untyped_equal(a, b, kinds)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return _str_equal(a, b)
    if isinstance(a, CapturedValue) and isinstance(b, CapturedValue):
        return _composite_equal(a, b, kinds)
    return False


def _untyped_equal(a: Value, b: Value, kinds: Kinds) -> bool:
    u, other = (a, b) if isinstance(a, Untyped) else (b, a)
    if isinstance(other, str):
        return _str_equal(str(u), other if isinstance(other, Partial) else str(other))
    if isinstance(other, bool):
        return str(u) == ("true" if other else "false")
    if is_number(other):
        n = untyped_number(u)
        return n is not None and bool(n == other)
    return False


def order(a: Value, b: Value, kinds: Kinds) -> int | None:
    """-1/0/1 for Go's ordered types (numbers, strings); None when unordered (NaN).

    Raises for values that have no order between them.
    """
    a = scalar(a, kinds)
    b = scalar(b, kinds)
    if isinstance(a, Untyped) and not isinstance(b, str):
        a = untyped_number(a) if is_number(b) else a
    if isinstance(b, Untyped) and not isinstance(a, str):
        b = untyped_number(b) if is_number(a) else b
    if is_number(a) and is_number(b):
        if isinstance(a, complex) or isinstance(b, complex):
            raise EvalFailure("complex numbers are not ordered")
        if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
            return None
        return (a > b) - (a < b)  # type: ignore[no-any-return]
    if isinstance(a, str) and isinstance(b, str):
        return _str_order(a, b)
    raise EvalFailure(f"cannot compare {describe(a)} with {describe(b)}")
