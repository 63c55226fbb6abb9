"""Probe expressions: conditions, log templates and capture expressions.

Evaluated in userspace on the decoded values of a hit (``CapturedValue`` trees, see
snapshot-format.md), against the expression AST of probe-spec.md. Each probe's
expressions are compiled once into closure trees (``ProbeExpressions``) and
evaluated per hit. Runtime problems never raise: they come back as
``EvaluationError(expr, message)`` data, ``expr`` being the expression's ``dsl``
text (or the AST rendered as DSL when there is none). Malformed ASTs raise
``ExpressionError`` at compile time, a per-probe issue (``invalid_expression``).

Parts: ``values`` (how a captured value is read and compared), ``access`` (``len``,
walking collections, indexing, fields), ``compile``
(AST -> closures), ``template`` (messages), ``capture`` (capture expressions and
their limits), ``dsl`` (parsing the source text when a probe file has no AST),
``bpf`` (conditions BPF can decide before copying), ``probe`` (per-probe bundle).

Semantics chosen, with their sources
------------------------------------
Conditions. True: the hit is emitted. False: nothing is emitted, nothing is
reported. An evaluation error (nil dereference, missing variable, value not
captured...): **a snapshot is emitted that carries the error in
``evaluationErrors`` and nothing else** -- no captures, no template message --
and the hit counts against the probe's sampling budget. That is what Datadog's
tracers do: dd-trace-java ``LogProbe.evaluate``/``commit`` samples "if the probe
has a condition and the condition is true or has error" and then commits a
snapshot holding only ``status.getErrors()``; dd-trace-py ``Signal._eval_condition``
sets ``COND_ERROR`` and the collector still enqueues the signal with its errors
(rate-limited separately there). ``ProbeExpressions.decide`` returns
``"emit" | "skip" | "error"``.

Errors' messages follow Datadog's Go agent where it has one
(``pkg/dyninst/decode``: ``nil pointer dereference``, ``index out of bounds``);
others are ours (``cannot find symbol: x``, ``... value not captured (depth)``).

Operators (probe-spec.md): ``ref``, ``getmember`` (through pointers, interfaces
and embedded structs), ``index`` (arrays, slices, maps by key, string bytes),
literals, ``eq ne gt ge lt le``, ``and or not`` (short-circuit), ``len count
isEmpty isDefined isUndefined``, ``contains startsWith endsWith matches substring``,
``any all filter`` (also ``hasAny``/``hasAll``), ``instanceof``.

- Comparisons: numbers compare exactly by value whatever their Go kind; strings
  bytewise; ``null`` equals nil pointers, slices, maps, interfaces and nothing
  else. ``==`` between unrelated types is false, not an error (dd-trace-java
  ``ComparisonOperator.EQ``); ordering them is an error. NaN is unordered and
  unequal. Pointers compare by address, structs and arrays field by field;
  slices and maps only with null (Go).
- A string captured only in part (``maxLength``) still decides what its prefix
  and size decide (``s == "x"`` when sizes differ, ``startsWith``, ``contains``
  when found); otherwise the operation is an error "not fully captured". The same
  for collections cut at ``maxCollectionSize``: ``any`` finds, ``all`` refutes,
  ``contains`` finds; ``filter`` returns the matches found, marked truncated.
- ``len`` is Go's: bytes of a string, elements, entries; a nil slice/map has 0.
- ``matches`` is a regular-expression *search* (Python ``re``, close to RE2 for
  common patterns); dd-trace-java uses ``String.matches`` (whole string): anchor
  with ``^...$`` for that.
- ``any/all/filter``: ``@it`` is the element; on maps ``@it`` and ``@key`` the
  key, ``@value`` the value (Datadog's Go agent ``exprlang.AnyExpr``).
- ``instanceof(x, "T")``: ``T`` is the Go type name as DWARF spells it; true for
  the static type of a non-nil value and for an interface's dynamic type.

Templates (``template``): Datadog's Go agent formatting, described in
``stages.expr.template``; failed segments write ``{error: <message>}`` (agent's
``writeBoundedError(..., "error", msg)``) and add an ``EvaluationError``.

Kinds. A ``CapturedValue`` carries the Go type *name* only; ``kinds_from_types``
builds name -> kind from the IR so that named types (``type Celsius float64``)
compare as their kind. Without it kinds are guessed from the name and members.
"""

from __future__ import annotations

from .bpf import BpfOp, NotDecidable, bpf_decidable, bpf_program, run_bpf_program
from .capture import (
    CompiledCaptures,
    compile_capture_expressions,
    evaluate_capture_expressions,
    relimit,
    to_captured,
)
from .compile import CompiledExpression, ExpressionError, compile_expression, render_ast
from .dsl import parse_dsl, split_template
from .probe import Decision, ProbeExpressions, build_scope, probe_expression_issue
from .template import CompiledTemplate, compile_template, format_value, render_template
from .values import Duration, Kinds, kinds_from_types

__all__ = [
    "BpfOp",
    "CompiledCaptures",
    "CompiledExpression",
    "CompiledTemplate",
    "Decision",
    "Duration",
    "ExpressionError",
    "Kinds",
    "NotDecidable",
    "ProbeExpressions",
    "bpf_decidable",
    "bpf_program",
    "build_scope",
    "compile_capture_expressions",
    "compile_expression",
    "compile_template",
    "evaluate_capture_expressions",
    "format_value",
    "kinds_from_types",
    "parse_dsl",
    "probe_expression_issue",
    "relimit",
    "render_ast",
    "render_template",
    "run_bpf_program",
    "split_template",
    "to_captured",
]
