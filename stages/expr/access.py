"""Reaching into captured values: ``len``, walking collections, ``x[k]``, ``x.f``.

Built on ``values``; every problem raises ``EvalFailure`` like there.
"""

from __future__ import annotations

import json

from ..snapshot import CapturedValue
from .values import (
    NIL_DEREF,
    OUT_OF_BOUNDS,
    PARTIAL_REASONS,
    EvalFailure,
    Kinds,
    Partial,
    Untyped,
    Value,
    byte_len,
    check_captured,
    deref,
    describe,
    equal,
    kind_of,
    not_captured,
    scalar,
    through,
    untyped_number,
    unwrap_interface,
)


def length(v: Value, kinds: Kinds) -> int:
    """Go's ``len``: bytes of a string, elements of an array/slice, entries of a map."""
    if isinstance(v, str):
        return byte_len(v)
    if not isinstance(v, CapturedValue):
        raise EvalFailure(f"len is not defined on {describe(v)}")
    for _ in range(64):
        k = kind_of(v, kinds)
        if v.isNull:
            if k in ("slice", "map", "chan"):
                return 0
            if k == "interface":
                raise EvalFailure(f"len is not defined on null {v.type}")
            raise EvalFailure(NIL_DEREF)
        if k == "interface":
            v = unwrap_interface(v)
            continue
        if k == "pointer":
            v = deref(v)
            continue
        break
    reason = v.notCapturedReason
    if k == "string":
        if v.size is not None:
            return int(v.size)
        if reason is not None and reason not in PARTIAL_REASONS:
            raise not_captured(v)
        return byte_len(v.value or "")
    if k == "chan" and v.len is not None:
        return int(v.len)
    if v.elements is not None or v.entries is not None or k in ("slice", "array", "map"):
        if v.size is not None:
            return int(v.size)
        if (reason is not None and reason not in PARTIAL_REASONS) or v.truncated:
            raise EvalFailure(f"{v.type} value not captured ({reason or 'collectionSize'})")
        return len(v.elements if v.elements is not None else v.entries or [])
    if reason is not None and reason not in PARTIAL_REASONS:
        raise not_captured(v)
    raise EvalFailure(f"len is not defined on {v.type}")


Item = tuple[Value, Value]
"""One step of a walk over a collection: (``@it``/``@key``, ``@value``)."""


def walk(v: Value, kinds: Kinds) -> tuple[str, list[Item], bool]:
    """The elements of an array/slice (``("list", [(elem, None)...], complete)``) or
    the entries of a map (``("map", [(key, value)...], complete)``).

    ``complete`` is false when the capture holds fewer items than the collection.
    """
    v = through(v, kinds)
    if v is None or not isinstance(v, CapturedValue):
        raise EvalFailure(f"not a collection: {describe(v)}")
    k = kind_of(v, kinds)
    if v.isNull and k in ("slice", "map"):
        return ("map" if k == "map" else "list", [], True)
    reason = v.notCapturedReason
    if reason is not None and reason not in PARTIAL_REASONS:
        raise not_captured(v)
    if v.entries is not None:
        items: list[Item] = [(key, val) for key, val in v.entries]
        total = int(v.size) if v.size is not None else len(items)
        return "map", items, total <= len(items) and not v.truncated
    if v.elements is not None:
        elems = [(e, None) for e in v.elements]
        total = int(v.size) if v.size is not None else len(elems)
        return "list", elems, total <= len(elems) and not v.truncated
    raise EvalFailure(f"not a collection: {v.type}")


def index(v: Value, key: Value, kinds: Kinds) -> Value:
    """``v[key]`` for arrays, slices, maps (by key) and strings (a byte)."""
    if isinstance(v, str):
        i = as_index(key, kinds)
        data = v.encode()
        if 0 <= i < len(data):
            return data[i]
        if isinstance(v, Partial) and (v.size is None or i < v.size):
            raise EvalFailure("string not fully captured (length)")
        raise EvalFailure(OUT_OF_BOUNDS)
    v = through(v, kinds)
    if not isinstance(v, CapturedValue):
        raise EvalFailure(f"cannot index {describe(v)}")
    k = kind_of(v, kinds)
    if k == "string":
        s = scalar(v, kinds)
        return index(s, key, kinds)
    if k == "map" or v.entries is not None:
        if v.isNull:
            raise EvalFailure(f"key {render_key(key, kinds)} not found: nil map")
        _, items, complete = walk(v, kinds)
        for item_key, item_value in items:
            if equal(item_key, key, kinds):
                return item_value
        if not complete:
            raise EvalFailure(f"key {render_key(key, kinds)} not captured (collectionSize)")
        raise EvalFailure(f"key {render_key(key, kinds)} not found")
    if k in ("slice", "array") or v.elements is not None:
        i = as_index(key, kinds)
        if v.isNull:
            raise EvalFailure(OUT_OF_BOUNDS)
        reason = v.notCapturedReason
        if reason is not None and reason not in PARTIAL_REASONS:
            raise not_captured(v)
        elements = v.elements or []
        size = int(v.size) if v.size is not None else len(elements)
        if i < 0 or i >= size:
            raise EvalFailure(OUT_OF_BOUNDS)
        if i >= len(elements):
            raise EvalFailure(f"element {i} of {v.type} not captured (collectionSize)")
        return elements[i]
    raise EvalFailure(f"cannot index {v.type}")


def as_index(key: Value, kinds: Kinds) -> int:
    """``key`` as a collection index (an integer)."""
    k = scalar(key, kinds)
    if isinstance(k, Untyped):
        n = untyped_number(k)
        k = n if n is not None else k
    if isinstance(k, float) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int):
        raise EvalFailure(f"index must be an integer, not {describe(k)}")
    return k


def render_key(key: Value, kinds: Kinds) -> str:
    """A map key as Go source would spell it, for messages."""
    k = scalar(key, kinds)
    if isinstance(k, str) and not isinstance(k, Untyped):
        return json.dumps(str(k), ensure_ascii=False)
    if isinstance(k, bool):
        return "true" if k else "false"
    if k is None:
        return "nil"
    if isinstance(k, CapturedValue):
        return k.type
    return str(k)


def _embedded_name(type_name: str) -> str:
    """The field name Go gives an embedded field of this type (``*pkg.T`` -> ``T``)."""
    name = type_name.lstrip("*")
    name = name.split("[", 1)[0]
    return name.rsplit(".", 1)[-1]


def member(v: Value, name: str, kinds: Kinds) -> Value:
    """``v.name``: a struct field, looking through pointers and interfaces and into
    embedded structs (Go's promoted fields)."""
    for _ in range(64):
        if not isinstance(v, CapturedValue):
            break
        k = kind_of(v, kinds)
        if k == "interface":
            v = unwrap_interface(v)
            if v is None:
                raise EvalFailure(NIL_DEREF)
            continue
        if k != "pointer":
            break
        if v.isNull:
            raise EvalFailure(NIL_DEREF)
        check_captured(v)
        f = v.fields
        if f is not None and len(f) == 1 and "*" in f:
            v = f["*"]
            continue
        if f is None and v.value is None and v.elements is None and v.entries is None:
            raise EvalFailure(f"{v.type} pointee not captured")
        break  # the pointee is inlined: its fields are the pointer's
    if not isinstance(v, CapturedValue):
        raise EvalFailure(f"{describe(v)} has no field {name}")
    found = _field(v, name, kinds, 0)
    if found is not None:
        return found
    reason = v.notCapturedReason
    if reason is not None and reason not in PARTIAL_REASONS:
        raise not_captured(v)
    owner = v.type.removeprefix("*") or "struct"
    if reason == "fieldCount":
        raise EvalFailure(f"field {name} of {owner} not captured (fieldCount)")
    raise EvalFailure(f"{owner} has no field {name}")


def _field(v: CapturedValue, name: str, kinds: Kinds, depth: int) -> Value | None:
    fields = v.fields
    if fields is None:
        return None
    got = fields.get(name)
    if got is not None:
        return got
    if depth >= 4:
        return None
    for fname, fv in fields.items():
        if fname != _embedded_name(fv.type):
            continue
        try:
            inner = through(fv, kinds)
        except EvalFailure:
            continue
        if isinstance(inner, CapturedValue):
            found = _field(inner, name, kinds, depth + 1)
            if found is not None:
                return found
    return None
