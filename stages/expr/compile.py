"""Compiling expression ASTs (the ``json`` of probe-spec.md) into closure trees.

``compile_expression(ast, dsl)`` checks the AST once and returns a
``CompiledExpression``; evaluating it per hit is a walk of nested closures with no
dispatch on dicts. A malformed AST (unknown operator, wrong arity, bad regex)
raises ``ExpressionError`` at compile time: that is a per-probe problem for the
caller to report. Runtime problems are returned as ``EvaluationError`` data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ..errors import GodiError
from ..snapshot import CapturedValue, EvaluationError
from . import access as A
from . import values as V
from .values import EvalFailure, Kinds, Partial, Untyped, Value

Env = dict[str, Any]
"""The scope an expression sees: variable name -> value (plus ``@it``/``@key``/``@value``)."""
Fn = Callable[[Env], Any]


class ExpressionError(GodiError):
    """An expression AST is malformed: unknown operator, wrong operands, bad regex."""

    user_error = True


_COMPARISONS = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_UNARY = ("not", "len", "count", "isEmpty", "isDefined", "isUndefined")
_CALLS = ("contains", "startsWith", "endsWith", "matches", "substring", "instanceof")
_PREDICATES = {"any": "any", "hasAny": "any", "all": "all", "hasAll": "all", "filter": "filter"}
_BINARY_LOGIC = {"and": " && ", "or": " || "}

OPERATORS = frozenset(
    {
        "ref",
        "getmember",
        "index",
        *_COMPARISONS,
        *_BINARY_LOGIC,
        *_UNARY,
        *_CALLS,
        *_PREDICATES,
    }
)
"""Every operator of the AST this evaluator understands."""


# ---------------------------------------------------------------------- rendering


def render_ast(node: Any) -> str:
    """The AST as DSL text (``a.b[0] == "x" && len(s) > 2``), for messages."""
    return _render(node, 0)


def _literal_text(node: Any) -> str:
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, str):
        return json.dumps(node, ensure_ascii=False)
    return repr(node)


def _render(node: Any, prec: int) -> str:
    if not isinstance(node, dict) or len(node) != 1:
        if isinstance(node, dict | list):
            return json.dumps(node, default=repr)
        return _literal_text(node)
    op, arg = next(iter(node.items()))
    args = arg if isinstance(arg, list) else [arg]
    if op == "ref" and isinstance(arg, str):
        return arg
    if op == "getmember" and len(args) == 2:
        return f"{_render(args[0], 9)}.{args[1]}"
    if op == "index" and len(args) == 2:
        return f"{_render(args[0], 9)}[{_render(args[1], 0)}]"
    if op in _COMPARISONS and len(args) == 2:
        text = f"{_render(args[0], 4)} {_COMPARISONS[op]} {_render(args[1], 4)}"
        return f"({text})" if prec > 3 else text
    if op in _BINARY_LOGIC:
        mine = 1 if op == "or" else 2
        text = _BINARY_LOGIC[op].join(_render(a, mine + 1) for a in args)
        return f"({text})" if prec > mine else text
    if op == "not":
        return f"!{_render(args[0] if args else None, 8)}"
    if op in _PREDICATES and len(args) == 2:
        return f"{op}({_render(args[0], 0)}, {{{_render(args[1], 0)}}})"
    return f"{op}({', '.join(_render(a, 0) for a in args)})"


# ------------------------------------------------------------------------ helpers


def _truth(v: Value, kinds: Kinds) -> bool:
    s = V.scalar(v, kinds)
    if isinstance(s, bool):
        return s
    if isinstance(s, Untyped) and s in ("true", "false"):
        return s == "true"
    raise EvalFailure(f"expected a boolean, got {V.describe(s)}")


def _string(v: Value, kinds: Kinds, what: str) -> str:
    s = V.scalar(V.through(v, kinds), kinds)
    if isinstance(s, str):
        return s
    if s is None:
        raise EvalFailure(f"{what}: null is not a string")
    raise EvalFailure(f"{what}: {V.describe(s)} is not a string")


def _int(v: Value, kinds: Kinds, what: str) -> int:
    try:
        return A.as_index(v, kinds)
    except EvalFailure:
        raise EvalFailure(f"{what}: expected an integer, got {V.describe(v)}") from None


_MISSING = {
    "@return": "@return is not available here (no return value captured)",
    "@duration": "@duration is not available here (only at exit)",
    "@it": "@it is only defined inside any/all/filter",
    "@key": "@key is only defined inside any/all/filter on a map",
    "@value": "@value is only defined inside any/all/filter on a map",
}

_LITERAL_TYPES = {bool: "bool", int: "int", float: "float64", str: "string"}


class _Compiler:
    """Turns AST nodes into closures; ``kinds`` names the Go kind of type names."""

    def __init__(self, kinds: Kinds) -> None:
        self.kinds = kinds

    def fail(self, path: str, message: str) -> ExpressionError:
        return ExpressionError(f"{path}: {message}" if path else message)

    def node(self, node: Any, path: str) -> Fn:
        if node is None or isinstance(node, bool | int | float | str):
            value = node
            return lambda env: value
        if not isinstance(node, dict):
            raise self.fail(path, f"expected an expression, got {json.dumps(node, default=repr)}")
        if len(node) != 1:
            raise self.fail(path, f"an expression has exactly one operator, got {sorted(node)}")
        op, arg = next(iter(node.items()))
        where = f"{path}.{op}" if path else op
        if op == "ref":
            return self.ref(arg, where)
        if op == "getmember":
            return self.getmember(arg, where)
        if op == "index":
            return self.index(arg, where)
        if op in _COMPARISONS:
            return self.comparison(op, arg, where)
        if op in _BINARY_LOGIC:
            return self.logic(op, arg, where)
        if op in _UNARY:
            return self.unary(op, arg, where)
        if op in _PREDICATES:
            return self.predicate(_PREDICATES[op], arg, where)
        if op in _CALLS:
            return self.call(op, arg, where)
        raise self.fail(path, f"unknown operator {op!r}")

    def args(self, arg: Any, n: int, path: str) -> list[Any]:
        if not isinstance(arg, list) or len(arg) != n:
            raise self.fail(path, f"expects {n} operands, got {json.dumps(arg, default=repr)}")
        return arg

    def operands(self, arg: Any, n: int, path: str) -> list[Fn]:
        return [self.node(a, f"{path}[{i}]") for i, a in enumerate(self.args(arg, n, path))]

    # ---------------------------------------------------------------- operators

    def ref(self, name: Any, path: str) -> Fn:
        if not isinstance(name, str) or not name:
            raise self.fail(path, "ref takes a non-empty variable name")
        missing = _MISSING.get(name, f"cannot find symbol: {name}")

        def ref(env: Env) -> Value:
            try:
                return env[name]
            except KeyError:
                raise EvalFailure(missing) from None

        return ref

    def getmember(self, arg: Any, path: str) -> Fn:
        base_ast, name = self.args(arg, 2, path)
        if not isinstance(name, str) or not name:
            raise self.fail(path, "getmember takes [expression, field name]")
        base = self.node(base_ast, f"{path}[0]")
        kinds = self.kinds
        member = A.member
        return lambda env: member(base(env), name, kinds)

    def index(self, arg: Any, path: str) -> Fn:
        base, key = self.operands(arg, 2, path)
        kinds = self.kinds
        index = A.index
        return lambda env: index(base(env), key(env), kinds)

    def comparison(self, op: str, arg: Any, path: str) -> Fn:
        a, b = self.operands(arg, 2, path)
        kinds = self.kinds
        equal, order = V.equal, V.order
        if op == "eq":
            return lambda env: equal(a(env), b(env), kinds)
        if op == "ne":
            return lambda env: not equal(a(env), b(env), kinds)
        test: Callable[[int], bool] = {
            "lt": lambda r: r < 0,
            "le": lambda r: r <= 0,
            "gt": lambda r: r > 0,
            "ge": lambda r: r >= 0,
        }[op]

        def compare(env: Env) -> bool:
            r = order(a(env), b(env), kinds)
            return r is not None and test(r)

        return compare

    def logic(self, op: str, arg: Any, path: str) -> Fn:
        if not isinstance(arg, list) or len(arg) < 2:
            got = json.dumps(arg, default=repr)
            raise self.fail(path, f"expects at least 2 operands, got {got}")
        parts = [self.node(a, f"{path}[{i}]") for i, a in enumerate(arg)]
        kinds = self.kinds
        if op == "and":

            def all_(env: Env) -> bool:
                return all(_truth(p(env), kinds) for p in parts)

            return all_

        def any_(env: Env) -> bool:
            return any(_truth(p(env), kinds) for p in parts)

        return any_

    def unary(self, op: str, arg: Any, path: str) -> Fn:
        if isinstance(arg, list):
            arg = self.args(arg, 1, path)[0]
            path = f"{path}[0]"
        x = self.node(arg, path)
        kinds = self.kinds
        length = A.length
        if op == "not":
            return lambda env: not _truth(x(env), kinds)
        if op in ("len", "count"):
            return lambda env: length(x(env), kinds)
        if op == "isEmpty":
            return lambda env: length(x(env), kinds) == 0
        defined = op == "isDefined"

        def is_defined(env: Env) -> bool:
            try:
                x(env)
            except EvalFailure:
                return not defined
            return defined

        return is_defined

    def predicate(self, kind: str, arg: Any, path: str) -> Fn:
        coll, pred = self.operands(arg, 2, path)
        kinds = self.kinds
        walk, through = A.walk, V.through

        def items(env: Env) -> tuple[str, list[A.Item], bool, Env]:
            shape, found, complete = walk(coll(env), kinds)
            return shape, found, complete, dict(env)

        def bind(inner: Env, shape: str, it: Value, value: Value) -> None:
            inner["@it"] = it
            if shape == "map":
                inner["@key"] = it
                inner["@value"] = value

        if kind == "any":

            def any_(env: Env) -> bool:
                shape, found, complete, inner = items(env)
                for it, value in found:
                    bind(inner, shape, it, value)
                    if _truth(pred(inner), kinds):
                        return True
                if not complete:
                    raise EvalFailure("collection not fully captured (collectionSize)")
                return False

            return any_

        if kind == "all":

            def all_(env: Env) -> bool:
                shape, found, complete, inner = items(env)
                for it, value in found:
                    bind(inner, shape, it, value)
                    if not _truth(pred(inner), kinds):
                        return False
                if not complete:
                    raise EvalFailure("collection not fully captured (collectionSize)")
                return True

            return all_

        def filter_(env: Env) -> CapturedValue:
            source = through(coll(env), kinds)
            shape, found, complete = walk(source, kinds)
            inner = dict(env)
            kept: list[A.Item] = []
            for it, value in found:
                bind(inner, shape, it, value)
                if _truth(pred(inner), kinds):
                    kept.append((it, value))
            if not isinstance(source, CapturedValue):
                raise EvalFailure(f"not a collection: {V.describe(source)}")
            common: dict[str, Any] = {
                "isNull": None,
                "size": str(len(kept)) if complete else None,
                "truncated": None if complete else True,
                "notCapturedReason": None if complete else "collectionSize",
            }
            if shape == "map":
                return msgspec.structs.replace(source, entries=kept, **common)
            return msgspec.structs.replace(source, elements=[it for it, _ in kept], **common)

        return filter_

    def call(self, op: str, arg: Any, path: str) -> Fn:
        kinds = self.kinds
        if op == "substring":
            s, start, end = self.operands(arg, 3, path)

            def substring(env: Env) -> str:
                text = _string(s(env), kinds, "substring")
                i = _int(start(env), kinds, "substring")
                j = _int(end(env), kinds, "substring")
                if isinstance(text, Partial) and j > len(text):
                    raise EvalFailure("string not fully captured (length)")
                if not 0 <= i <= j <= len(text):
                    raise EvalFailure(
                        f"substring: range [{i}, {j}) out of bounds (length {len(text)})"
                    )
                return str(text)[i:j]

            return substring
        a_ast, b_ast = self.args(arg, 2, path)
        a = self.node(a_ast, f"{path}[0]")
        if op == "instanceof":
            if not isinstance(b_ast, str):
                raise self.fail(path, "instanceof takes [expression, type name string]")
            return self.instanceof(a, b_ast)
        if op == "matches" and isinstance(b_ast, str):
            try:
                pattern = re.compile(b_ast)
            except re.error as e:
                raise self.fail(path, f"bad regular expression {b_ast!r}: {e}") from e
            return self.matches(a, lambda env: pattern)
        b = self.node(b_ast, f"{path}[1]")
        if op == "matches":

            def dynamic(env: Env) -> re.Pattern[str]:
                text = _string(b(env), kinds, "matches")
                try:
                    return _regex(text)
                except re.error as e:
                    raise EvalFailure(f"bad regular expression {text!r}: {e}") from e

            return self.matches(a, dynamic)
        if op == "startsWith":

            def starts(env: Env) -> bool:
                s, p = _string(a(env), kinds, op), _string(b(env), kinds, op)
                if isinstance(p, Partial):
                    raise EvalFailure("string not fully captured (length)")
                if isinstance(s, Partial) and len(p) > len(s):
                    if not p.startswith(s):
                        return False
                    raise EvalFailure("string not fully captured (length)")
                return s.startswith(p)

            return starts
        if op == "endsWith":

            def ends(env: Env) -> bool:
                s, p = _string(a(env), kinds, op), _string(b(env), kinds, op)
                if isinstance(s, Partial) or isinstance(p, Partial):
                    raise EvalFailure("string not fully captured (length)")
                return s.endswith(p)

            return ends
        return self.contains(a, b)

    def matches(self, a: Fn, pattern: Callable[[Env], re.Pattern[str]]) -> Fn:
        kinds = self.kinds

        def matches(env: Env) -> bool:
            s = _string(a(env), kinds, "matches")
            if isinstance(s, Partial):
                raise EvalFailure("string not fully captured (length)")
            return pattern(env).search(s) is not None

        return matches

    def contains(self, a: Fn, b: Fn) -> Fn:
        kinds = self.kinds

        def contains(env: Env) -> bool:
            container = V.through(a(env), kinds)
            needle = b(env)
            s = V.scalar(container, kinds)
            if isinstance(s, str):
                sub = _string(needle, kinds, "contains")
                if isinstance(sub, Partial):
                    raise EvalFailure("string not fully captured (length)")
                if sub in s:
                    return True
                if isinstance(s, Partial):
                    raise EvalFailure("string not fully captured (length)")
                return False
            if s is None:
                if isinstance(container, CapturedValue) and V.kind_of(container, kinds) in (
                    "slice",
                    "map",
                ):
                    return False  # a nil slice or map contains nothing
                raise EvalFailure("contains: the collection is null")
            _, found, complete = A.walk(container, kinds)
            for it, _ in found:
                if V.equal(it, needle, kinds):
                    return True
            if not complete:
                raise EvalFailure("collection not fully captured (collectionSize)")
            return False

        return contains

    def instanceof(self, a: Fn, name: str) -> Fn:
        kinds = self.kinds

        def instanceof(env: Env) -> bool:
            x = a(env)
            if not isinstance(x, CapturedValue):
                lit = _LITERAL_TYPES.get(type(x))
                return lit is not None and (lit == name or (lit == "int" and name == "int64"))
            seen = 0
            while x is not None and seen < 16:
                seen += 1
                if x.isNull:
                    return False
                if x.type == name:
                    return True
                if V.kind_of(x, kinds) != "interface":
                    return False
                x = V.unwrap_interface(x)
            return False

        return instanceof


_regex_cache: dict[str, re.Pattern[str]] = {}


def _regex(text: str) -> re.Pattern[str]:
    pattern = _regex_cache.get(text)
    if pattern is None:
        if len(_regex_cache) > 256:
            _regex_cache.clear()
        pattern = _regex_cache[text] = re.compile(text)
    return pattern


# ------------------------------------------------------------------------- entry


class CompiledExpression:
    """An expression ready to evaluate: ``evaluate`` for a value, ``test`` for a
    condition. Neither raises for a runtime problem: they return ``EvaluationError``.
    """

    __slots__ = ("_fn", "ast", "kinds", "text")

    def __init__(self, ast: Any, text: str, fn: Fn, kinds: Kinds) -> None:
        self.ast = ast
        self.text = text
        self._fn = fn
        self.kinds = kinds

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r})"

    def error(self, message: str) -> EvaluationError:
        """An evaluation error of this expression."""
        return EvaluationError(expr=self.text, message=message)

    def evaluate(self, scope: Mapping[str, Any]) -> Value | EvaluationError:
        """The value of the expression in ``scope`` (a CapturedValue or a plain value)."""
        env = scope if isinstance(scope, dict) else dict(scope)
        try:
            return self._fn(env)
        except EvalFailure as e:
            return self.error(e.message)
        except RecursionError:
            return self.error("expression too deeply nested")
        except (ValueError, TypeError, OverflowError) as e:
            return self.error(f"cannot evaluate: {e}")

    def test(self, scope: Mapping[str, Any]) -> bool | EvaluationError:
        """The expression as a condition: True, False, or why it could not be decided."""
        env = scope if isinstance(scope, dict) else dict(scope)
        try:
            return _truth(self._fn(env), self.kinds)
        except EvalFailure as e:
            return self.error(e.message)
        except RecursionError:
            return self.error("expression too deeply nested")
        except (ValueError, TypeError, OverflowError) as e:
            return self.error(f"cannot evaluate: {e}")


def compile_expression(
    ast: Any, dsl: str | None = None, kinds: Kinds | None = None
) -> CompiledExpression:
    """Compile the AST ``ast`` (with its source text ``dsl``) once for many evaluations.

    ``kinds`` maps Go type names to kinds (see ``kinds_from_types``); without it,
    kinds are inferred. Raises ``ExpressionError`` when the AST is malformed.
    """
    k = kinds if kinds is not None else V.NO_KINDS
    fn = _Compiler(k).node(ast, "")
    return CompiledExpression(ast, dsl or render_ast(ast), fn, k)
