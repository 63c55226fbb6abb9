"""Log templates: segments -> the snapshot's ``message``, formatted as Datadog's Go agent does.

A template is a list of segments, literal text (``{"str"}``) or an expression
(``{"dsl", "json"}``). Each expression is evaluated on the hit's scope and its value
written Go-like (``format_value``); a segment that fails writes
``{error: <message>}`` and adds an ``EvaluationError``. The rules follow
``pkg/dyninst/decode`` of Datadog's agent (``types.go`` ``formatValueFields``,
``marshal.go`` ``messageData``):

- numbers and bools as captured; floats Go's shortest ``%v`` spelling; strings bare
  (never quoted, nested or not), a string cut short gets ``...``;
- nil pointers and interfaces ``nil``; a nil slice ``[]`` (as the agent) and a nil
  map ``map[]`` (as Go's ``fmt``; the agent writes ``nil``);
- structs ``{A: 1, B: x}``, at most 5 fields, then ``, ...}`` (the agent's code
  writes a second ``}`` there, which is not copied);
- arrays and slices ``[1, 2, 3, ...]``, at most 3 items; maps ``map[k: v, ...]``,
  at most 3 entries (the agent writes ``key: value`` with a space);
- pointers and interfaces as their pointee / dynamic value; ``{chan}``, ``{func}``;
- values not captured: ``{...}`` (depth), a pointer not followed (depth)
  ``{pointer: not captured at 0x...}`` (as Datadog writes it), ``{unavailable}``,
  ``{redacted}``, ``{cycle}``; a zero-length array ``[]`` whatever was captured
  of it; ``@duration`` in milliseconds with six decimals;
- the whole message is cut at 8192 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..snapshot import CapturedValue, EvaluationError
from ..spec import Segment
from . import values as V
from .compile import CompiledExpression, ExpressionError, compile_expression
from .values import Duration, Kinds, Partial, Value

MAX_FIELDS = 5
MAX_ITEMS = 3
MAX_MESSAGE_BYTES = 8192
MAX_NESTING = 32

_REASON_TEXT = {
    "depth": "{...}",
    "unavailable": "{unavailable}",
    "redactedIdent": "{redacted}",
    "redactedType": "{redacted}",
    "circular reference": "{cycle}",
}


def _float(x: float) -> str:
    from ..decode.gofmt import format_float64

    return format_float64(x)


def _complex(x: complex) -> str:
    re_part, im = _float(x.real), _float(x.imag)
    if not im.startswith(("+", "-")):
        im = "+" + im
    return f"({re_part}{im}i)"


def format_value(v: Value, kinds: Kinds | None = None) -> str:
    """``v`` written as a template shows it (see the module docstring)."""
    return _format(v, kinds if kinds is not None else V.NO_KINDS, 0)


def _format(v: Value, kinds: Kinds, level: int) -> str:
    if not isinstance(v, CapturedValue):
        if v is None:
            return "nil"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, Duration):
            return f"{v:.6f}"
        if isinstance(v, float):
            return _float(v)
        if isinstance(v, complex):
            return _complex(v)
        if isinstance(v, Partial):
            return f"{v}..."
        return str(v)
    if level > MAX_NESTING:
        return "{...}"
    reason = v.notCapturedReason
    k = V.kind_of(v, kinds)
    if v.type.startswith("[0]"):
        return "[]"  # a zero-length array holds nothing that could be missing
    if reason == "depth" and k == "pointer" and v.address:
        return f"{{pointer: not captured at {v.address}}}"
    if reason is not None and reason not in V.PARTIAL_REASONS:
        if reason == "unimplemented":
            return "{chan}" if k == "chan" else "{func}" if k == "func" else "{unimplemented}"
        if reason == "missing type information":
            return f"{{interface: unknown type {v.type}}}"
        return _REASON_TEXT.get(reason, f"{{{reason}}}")
    if v.isNull:
        return "[]" if k == "slice" else "map[]" if k == "map" else "nil"
    if k == "interface":
        data = v.fields.get("data") if v.fields else None
        return _format(data, kinds, level + 1) if data is not None else "{unavailable}"
    if k == "pointer":
        f = v.fields
        if f is not None and len(f) == 1 and "*" in f:
            return _format(f["*"], kinds, level + 1)
        if v.value is None and v.fields is None and v.elements is None and v.entries is None:
            return v.address or "{unavailable}"
        name = v.type[1:] if v.type.startswith("*") else ""
        inner = CapturedValue(
            type=name,
            value=v.value,
            fields=v.fields,
            elements=v.elements,
            entries=v.entries,
            size=v.size,
            truncated=v.truncated,
            notCapturedReason=v.notCapturedReason,
        )
        return _format(inner, kinds, level + 1)
    if k == "chan":
        return "{chan}"
    if v.value is not None:
        if k == "string" and v.truncated:
            return f"{v.value}..."
        return v.value
    if v.entries is not None:
        return _map(v, kinds, level)
    if v.elements is not None:
        return _list(v, kinds, level)
    if v.fields is not None:
        return _struct(v, kinds, level)
    if k == "func":
        return "{func}"
    if k in ("unsafe.Pointer",) and v.address:
        return v.address
    return "{unavailable}"


def _more(v: CapturedValue, shown: int, available: int) -> bool:
    total = int(v.size) if v.size is not None else available
    return total > shown or bool(v.truncated) or v.notCapturedReason == "collectionSize"


def _list(v: CapturedValue, kinds: Kinds, level: int) -> str:
    elements = v.elements or []
    parts = [_format(e, kinds, level + 1) for e in elements[:MAX_ITEMS]]
    if _more(v, len(parts), len(elements)):
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


def _map(v: CapturedValue, kinds: Kinds, level: int) -> str:
    entries = v.entries or []
    parts = [
        f"{_format(key, kinds, level + 1)}: {_format(val, kinds, level + 1)}"
        for key, val in entries[:MAX_ITEMS]
    ]
    if _more(v, len(parts), len(entries)):
        parts.append("...")
    return "map[" + ", ".join(parts) + "]"


def _struct(v: CapturedValue, kinds: Kinds, level: int) -> str:
    fields = v.fields or {}
    parts = [
        f"{name}: {_format(fv, kinds, level + 1)}" for name, fv in list(fields.items())[:MAX_FIELDS]
    ]
    if len(fields) > MAX_FIELDS or v.notCapturedReason == "fieldCount":
        parts.append("...")
    return "{" + ", ".join(parts) + "}"


def _cut(message: str) -> str:
    data = message.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_MESSAGE_BYTES:
        return message
    return data[:MAX_MESSAGE_BYTES].decode("utf-8", "ignore")


# ----------------------------------------------------------------------- templates


def _segment_parts(seg: Segment | Mapping[str, Any]) -> tuple[str | None, str | None, Any]:
    if isinstance(seg, Segment):
        return seg.text, seg.dsl, seg.json
    return seg.get("str"), seg.get("dsl"), seg.get("json")


class CompiledTemplate:
    """A template compiled once per probe; ``render`` per hit."""

    __slots__ = ("kinds", "parts")

    def __init__(self, parts: list[str | CompiledExpression], kinds: Kinds) -> None:
        self.parts = parts
        self.kinds = kinds

    def render(self, scope: Mapping[str, Any]) -> tuple[str, list[EvaluationError]]:
        """The message for one hit and the evaluation errors of failed segments."""
        env = scope if isinstance(scope, dict) else dict(scope)
        out: list[str] = []
        errors: list[EvaluationError] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.evaluate(env)
            if isinstance(value, EvaluationError):
                errors.append(value)
                out.append(f"{{error: {value.message}}}")
            else:
                try:
                    out.append(_format(value, self.kinds, 0))
                except (V.EvalFailure, ValueError) as e:
                    err = part.error(str(e))
                    errors.append(err)
                    out.append(f"{{error: {err.message}}}")
        return _cut("".join(out)), errors


def compile_template(
    segments: Sequence[Segment | Mapping[str, Any]] | None,
    template: str | None = None,
    kinds: Kinds | None = None,
) -> CompiledTemplate:
    """Compile a probe's ``segments`` (or, without them, its ``template`` text).

    A segment with ``dsl`` but no ``json``, and a bare ``template``, are parsed
    with the DSL parser of ``stages.expr.dsl``. Raises ``ExpressionError`` when a
    segment is malformed.
    """
    from .dsl import parse_dsl, split_template

    k = kinds if kinds is not None else V.NO_KINDS
    parts: list[str | CompiledExpression] = []
    if segments is None:
        if template is None:
            return CompiledTemplate([], k)
        segments = split_template(template)
    for i, seg in enumerate(segments):
        text, dsl, ast = _segment_parts(seg)
        if text is not None:
            parts.append(text)
            continue
        if ast is None:
            if not dsl:
                raise ExpressionError(f"segments[{i}]: neither str, json nor dsl")
            ast = parse_dsl(dsl)
        try:
            parts.append(compile_expression(ast, dsl, k))
        except ExpressionError as e:
            raise ExpressionError(f"segments[{i}]: {e}") from e
    return CompiledTemplate(parts, k)


def render_template(
    segments: Sequence[Segment | Mapping[str, Any]],
    scope: Mapping[str, Any],
    kinds: Kinds | None = None,
) -> tuple[str, list[EvaluationError]]:
    """Render ``segments`` on ``scope`` once: ``(message, evaluation errors)``.

    Compiles on every call; per-probe code should ``compile_template`` once.
    Raises ``ExpressionError`` for a malformed segment.
    """
    return compile_template(segments, kinds=kinds).render(scope)
