"""Capture expressions: named expressions captured with their own limits.

``captureExpressions: [{name, expr: {dsl, json}, capture: {...}}]`` -- each is
evaluated on the hit's scope and its value rendered as a ``CapturedValue``, then
cut again to the expression's own ``capture`` limits (or the probe's): strings to
``maxLength`` bytes, collections to ``maxCollectionSize`` items, structs to
``maxFieldCount`` fields, pointer and interface hops to ``maxReferenceDepth``
(counted from the expression's value, as the snapshot counts from a variable).
An expression that fails is left out and reported as an ``EvaluationError``, as
Datadog's Go agent does. Cutting can only remove data: the BPF capture must have
copied at least what the largest limits ask for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from ..snapshot import CapturedValue, EvaluationError
from ..spec import DEFAULT_CAPTURE, Capture, CaptureExpression
from . import values as V
from .compile import CompiledExpression, ExpressionError, compile_expression
from .values import Duration, Kinds, Partial, Untyped, Value


def to_captured(v: Value) -> CapturedValue:
    """A plain evaluation result (bool, number, string, null) as a CapturedValue."""
    if isinstance(v, CapturedValue):
        return v
    if v is None:
        return CapturedValue(type="nil", isNull=True)
    if isinstance(v, bool):
        return CapturedValue(type="bool", value="true" if v else "false")
    if isinstance(v, int):
        return CapturedValue(type="int", value=str(v))
    if isinstance(v, float):
        from ..decode.gofmt import format_float64

        # Datadog's agent spells @duration with 'f' and no exponent: "0.0000012".
        text = format(Decimal(repr(float(v))), "f") if isinstance(v, Duration) else None
        text = text or format_float64(v)
        return CapturedValue(type="float64", value=text)
    if isinstance(v, complex):
        from .template import format_value

        return CapturedValue(type="complex128", value=format_value(v))
    if isinstance(v, Partial):
        return CapturedValue(
            type="string",
            value=str(v),
            size=str(v.size) if v.size is not None else None,
            truncated=True,
            notCapturedReason="length",
        )
    if isinstance(v, Untyped):
        return CapturedValue(type="", value=str(v))
    if isinstance(v, str):
        return CapturedValue(type="string", value=v)
    return CapturedValue(type=type(v).__name__, notCapturedReason="unimplemented")


def _cut_text(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")


def relimit(v: CapturedValue, limits: Capture, kinds: Kinds | None = None) -> CapturedValue:
    """``v`` cut down to ``limits``; parts already cut keep their own reason."""
    return _relimit(v, limits, kinds if kinds is not None else V.NO_KINDS, 0)


def _relimit(v: CapturedValue, lim: Capture, kinds: Kinds, depth: int) -> CapturedValue:
    if v.notCapturedReason is not None and v.notCapturedReason not in V.PARTIAL_REASONS:
        return v
    if v.isNull:
        return v
    k = V.kind_of(v, kinds)
    changes: dict[str, Any] = {}
    hop = k in ("pointer", "interface")
    if hop and (
        v.fields is not None
        or v.value is not None
        or v.elements is not None
        or v.entries is not None
    ):
        if depth + 1 > lim.max_reference_depth:
            return CapturedValue(type=v.type, address=v.address, notCapturedReason="depth")
        depth += 1
    if v.value is not None and k == "string":
        data_len = len(v.value.encode("utf-8", "surrogatepass"))
        if data_len > lim.max_length:
            full = int(v.size) if v.size is not None else data_len
            changes.update(
                value=_cut_text(v.value, lim.max_length),
                size=str(full),
                truncated=True,
                notCapturedReason="length",
            )
    if v.fields is not None:
        items = list(v.fields.items())
        nested = hop and len(items) == 1 and items[0][0] in ("*", "data")
        limit = len(items) if nested else lim.max_field_count
        fields = {name: _relimit(fv, lim, kinds, depth) for name, fv in items[:limit]}
        changes["fields"] = fields
        if len(items) > limit:
            changes["notCapturedReason"] = "fieldCount"
    if v.elements is not None:
        shown = v.elements[: lim.max_collection_size]
        changes["elements"] = [_relimit(e, lim, kinds, depth) for e in shown]
        if len(v.elements) > len(shown):
            changes.update(
                size=v.size or str(len(v.elements)),
                truncated=True,
                notCapturedReason="collectionSize",
            )
    if v.entries is not None:
        kept = v.entries[: lim.max_collection_size]
        changes["entries"] = [
            (_relimit(key, lim, kinds, depth), _relimit(val, lim, kinds, depth))
            for key, val in kept
        ]
        if len(v.entries) > len(kept):
            changes.update(
                size=v.size or str(len(v.entries)),
                truncated=True,
                notCapturedReason="collectionSize",
            )
    return msgspec.structs.replace(v, **changes) if changes else v


class CompiledCaptures:
    """A probe's capture expressions, compiled once; ``evaluate`` per hit."""

    __slots__ = ("items", "kinds")

    def __init__(self, items: list[tuple[str, CompiledExpression, Capture]], kinds: Kinds) -> None:
        self.items = items
        self.kinds = kinds

    def evaluate(
        self, scope: Mapping[str, Any]
    ) -> tuple[dict[str, CapturedValue], list[EvaluationError]]:
        """``(name -> captured value, evaluation errors)`` for one hit."""
        env = scope if isinstance(scope, dict) else dict(scope)
        out: dict[str, CapturedValue] = {}
        errors: list[EvaluationError] = []
        for name, expr, limits in self.items:
            value = expr.evaluate(env)
            if isinstance(value, EvaluationError):
                errors.append(value)
                continue
            out[name] = relimit(to_captured(value), limits, self.kinds)
        return out, errors


def compile_capture_expressions(
    exprs: Sequence[CaptureExpression],
    default_limits: Capture = DEFAULT_CAPTURE,
    kinds: Kinds | None = None,
) -> CompiledCaptures:
    """Compile capture expressions; ``default_limits`` apply where one has no ``capture``.

    Raises ``ExpressionError`` for a malformed expression or a repeated name.
    """
    from .dsl import parse_dsl

    k = kinds if kinds is not None else V.NO_KINDS
    items: list[tuple[str, CompiledExpression, Capture]] = []
    seen: set[str] = set()
    for i, ce in enumerate(exprs):
        if ce.name in seen:
            raise ExpressionError(f"captureExpressions[{i}]: name {ce.name!r} used twice")
        seen.add(ce.name)
        ast = ce.expr.json
        if ast is None and ce.expr.dsl:
            ast = parse_dsl(ce.expr.dsl)
        try:
            compiled = compile_expression(ast, ce.expr.dsl or None, k)
        except ExpressionError as e:
            raise ExpressionError(f"captureExpressions[{i}] ({ce.name}): {e}") from e
        items.append((ce.name, compiled, ce.capture or default_limits))
    return CompiledCaptures(items, k)


def evaluate_capture_expressions(
    exprs: Sequence[CaptureExpression],
    scope: Mapping[str, Any],
    default_limits: Capture = DEFAULT_CAPTURE,
    kinds: Kinds | None = None,
) -> tuple[dict[str, CapturedValue], list[EvaluationError]]:
    """Evaluate capture expressions once (compiling them on every call).

    Raises ``ExpressionError`` for a malformed expression.
    """
    return compile_capture_expressions(exprs, default_limits, kinds).evaluate(scope)
