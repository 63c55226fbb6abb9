"""Everything a probe evaluates per hit, compiled once: condition, template,
capture expressions; and the scope they are evaluated in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ..ir import ProbeIssue
from ..snapshot import CapturedValue, EvaluationError
from ..spec import Probe
from . import values as V
from .capture import CompiledCaptures, compile_capture_expressions
from .compile import CompiledExpression, ExpressionError, compile_expression
from .template import CompiledTemplate, compile_template
from .values import Duration, Kinds

Decision = Literal["emit", "skip", "error"]
"""What to do with a hit after its condition: emit the snapshot, drop it silently,
or emit a snapshot carrying only the condition's evaluation error."""


def build_scope(
    arguments: Mapping[str, CapturedValue],
    locals_: Mapping[str, CapturedValue] | None = None,
    results: Mapping[str, CapturedValue] | None = None,
    duration_ns: int | None = None,
) -> dict[str, Any]:
    """The scope of one hit: arguments, then locals (an inner name wins), named
    results by their names (as a debugger and Datadog see them at the exit),
    ``@return`` (the result, or for several results one value with a field per
    result, as the snapshot shows them) and ``@duration`` (milliseconds).
    Unnamed results (``~r0``) are only reachable through ``@return``."""
    scope: dict[str, Any] = dict(arguments)
    if locals_:
        scope.update(locals_)
    if results:
        for name, value in results.items():
            if name[:1] not in ("@", "~") and name != "_":
                scope[name] = value
        if "@return" in results:
            scope["@return"] = results["@return"]
        elif len(results) == 1:
            scope["@return"] = next(iter(results.values()))
        else:
            scope["@return"] = CapturedValue(type="", fields=dict(results))
    if duration_ns is not None:
        scope["@duration"] = Duration(duration_ns / 1e6)
    return scope


class ProbeExpressions:
    """A probe's condition, template and capture expressions, compiled.

    Raises ``ExpressionError`` (naming the part) when one of them is malformed;
    ``probe_expression_issue`` turns that into a per-probe issue.
    """

    __slots__ = ("captures", "condition", "probe_id", "template")

    def __init__(self, probe: Probe, kinds: Kinds | None = None) -> None:
        k = kinds if kinds is not None else V.NO_KINDS
        self.probe_id = probe.id
        self.condition: CompiledExpression | None = None
        ast = condition_ast(probe)
        if ast is not None:
            assert probe.when is not None
            try:
                self.condition = compile_expression(ast, probe.when.dsl or None, k)
            except ExpressionError as e:
                raise ExpressionError(f"when: {e}") from e
        self.template: CompiledTemplate | None = None
        if probe.segments is not None or probe.template is not None:
            self.template = compile_template(probe.segments, probe.template, k)
        self.captures: CompiledCaptures | None = None
        if probe.capture_expressions:
            self.captures = compile_capture_expressions(probe.capture_expressions, probe.limits, k)

    def test(self, scope: Mapping[str, Any]) -> bool | EvaluationError:
        """The condition on this hit (True without a condition)."""
        if self.condition is None:
            return True
        return self.condition.test(scope)

    def decide(self, scope: Mapping[str, Any]) -> tuple[Decision, EvaluationError | None]:
        """``("emit", None)``, ``("skip", None)`` or ``("error", the error)``."""
        result = self.test(scope)
        if isinstance(result, EvaluationError):
            return "error", result
        return ("emit" if result else "skip"), None

    def message(self, scope: Mapping[str, Any]) -> tuple[str, list[EvaluationError]] | None:
        """The rendered template and its errors; None when the probe has no template."""
        if self.template is None:
            return None
        return self.template.render(scope)

    def capture_expressions(
        self, scope: Mapping[str, Any]
    ) -> tuple[dict[str, CapturedValue], list[EvaluationError]]:
        """The capture expressions' values and errors ({} and [] without any)."""
        if self.captures is None:
            return {}, []
        return self.captures.evaluate(scope)


def condition_ast(probe: Probe) -> Any:
    """The AST of the probe's condition (its JSON form, else its DSL parsed); None
    without one. Raises ``ExpressionError`` when the DSL does not parse."""
    from .dsl import parse_dsl

    when = probe.when
    if when is None or (when.json is None and not when.dsl):
        return None
    return when.json if when.json is not None else parse_dsl(when.dsl)


def probe_expression_issue(probe: Probe, kinds: Kinds | None = None) -> ProbeIssue | None:
    """A ``invalid_expression`` issue when the probe's expressions do not compile."""
    try:
        ProbeExpressions(probe, kinds)
    except ExpressionError as e:
        return ProbeIssue(probe_id=probe.id, kind="invalid_expression", message=str(e))
    return None
