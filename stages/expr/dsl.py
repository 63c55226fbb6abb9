"""A parser for the expression language's source text, for hand-written probe files.

Datadog's product sends every expression twice: its source (``dsl``) and its AST
(``json``); godi evaluates the AST. A person writing a probe file by hand can leave
out ``json`` (or ``segments``) and give only ``dsl`` (or ``template``): this module
turns the text into the same AST. Grammar (Datadog's documented syntax)::

    expr     := or
    or       := and ("||" and)*
    and      := compare ("&&" compare)*
    compare  := unary (("==" | "!=" | "<" | "<=" | ">" | ">=" | "instanceof") unary)?
    unary    := ("!" | "not") unary | postfix
    postfix  := primary ("." NAME | "[" expr "]")*
    primary  := NAME | "@"NAME | NUMBER | STRING | true | false | null
              | NAME "(" [arg ("," arg)*] ")" | "(" expr ")"
    arg      := expr | "{" expr "}"          (the predicate of any/all/filter)

``split_template("a {x.y} b")`` cuts a template into segments the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .compile import ExpressionError

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<name>@?[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!.,()\[\]{}])
    )""",
    re.VERBOSE,
)

_COMPARE = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_FUNCTIONS = {
    "len": 1,
    "count": 1,
    "isEmpty": 1,
    "isDefined": 1,
    "isUndefined": 1,
    "not": 1,
    "contains": 2,
    "startsWith": 2,
    "endsWith": 2,
    "matches": 2,
    "instanceof": 2,
    "substring": 3,
    "any": 2,
    "all": 2,
    "hasAny": 2,
    "hasAll": 2,
    "filter": 2,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"cannot parse {text!r} at column {pos + 1}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise ExpressionError(f"{self.text!r}: unexpected end")
        tok = self.toks[self.i]
        if want is not None and tok[1] != want:
            raise ExpressionError(f"{self.text!r}: expected {want!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        node = self.or_()
        if self.i != len(self.toks):
            raise ExpressionError(f"{self.text!r}: unexpected {self.toks[self.i][1]!r}")
        return node

    def or_(self) -> Any:
        parts = [self.and_()]
        while self.peek() == "||":
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else {"or": parts}

    def and_(self) -> Any:
        parts = [self.compare()]
        while self.peek() == "&&":
            self.take()
            parts.append(self.compare())
        return parts[0] if len(parts) == 1 else {"and": parts}

    def compare(self) -> Any:
        left = self.unary()
        op = self.peek()
        if op in _COMPARE:
            self.take()
            return {_COMPARE[op]: [left, self.unary()]}
        if op == "instanceof":
            self.take()
            return {"instanceof": [left, self.unary()]}
        return left

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return {"not": self.unary()}
        return self.postfix()

    def postfix(self) -> Any:
        node = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                kind, name = self.take()
                if kind != "name":
                    raise ExpressionError(f"{self.text!r}: expected a field name after '.'")
                node = {"getmember": [node, name]}
            else:
                key = self.or_()
                self.take("]")
                node = {"index": [node, key]}
        return node

    def primary(self) -> Any:
        kind, tok = self.take()
        if kind == "num":
            return json.loads(tok)
        if kind == "str":
            if tok.startswith("'"):
                tok = '"' + tok[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
            return json.loads(tok)
        if tok == "(":
            node = self.or_()
            self.take(")")
            return node
        if kind != "name":
            raise ExpressionError(f"{self.text!r}: unexpected {tok!r}")
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "null" or tok == "nil":
            return None
        if self.peek() == "(" and tok in _FUNCTIONS:
            self.take("(")
            args: list[Any] = []
            while self.peek() != ")":
                if args:
                    self.take(",")
                if self.peek() == "{":
                    self.take("{")
                    args.append(self.or_())
                    self.take("}")
                else:
                    args.append(self.or_())
            self.take(")")
            if len(args) != _FUNCTIONS[tok]:
                raise ExpressionError(
                    f"{self.text!r}: {tok} takes {_FUNCTIONS[tok]} arguments, got {len(args)}"
                )
            return {tok: args[0] if _FUNCTIONS[tok] == 1 else args}
        return {"ref": tok}


def parse_dsl(text: str) -> Any:
    """The AST of the expression ``text``; raises ``ExpressionError`` if it does not parse."""
    return _Parser(text).parse()


def split_template(template: str) -> list[dict[str, Any]]:
    """Cut ``"divide {a} by {b}"`` into segments (``{"str"}`` and ``{"dsl", "json"}``)."""
    segments: list[dict[str, Any]] = []
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            segments.append({"str": template[pos:]})
            break
        end = _closing(template, start)
        if end < 0:
            segments.append({"str": template[pos:]})
            break
        if start > pos:
            segments.append({"str": template[pos:start]})
        dsl = template[start + 1 : end].strip()
        segments.append({"dsl": dsl, "json": parse_dsl(dsl)})
        pos = end + 1
    return segments


def _closing(text: str, start: int) -> int:
    """The index of the ``}`` closing the ``{`` at ``start`` (nested braces and strings
    skipped), or -1."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1
