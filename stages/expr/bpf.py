"""Conditions BPF can decide before copying anything, and their postfix form.

A condition can be decided in the uprobe, before the sampling budget is spent and
before any data is copied, when it only compares *scalar* variables (integers,
bools, the nil-ness of pointer-like values, the length of strings and slices)
with literals or with each other, combined with and/or/not. For such conditions
the BPF result equals the userspace evaluator's result on the same hit: no
operand can be missing or cut short, comparisons are exact on 64-bit values
(literals out of a variable's range are refused, not wrapped), and a signed
variable is never compared with an unsigned one. Anything else (strings'
contents, struct fields, floats, collections, ``@duration``...) is decided in
userspace after the capture.

``bpf_program(ast, scalar_vars)`` turns a decidable AST into a postfix program of
tuples, evaluated on a stack of 64-bit integers:

- ``("load", name, kind)``: push variable ``name`` of Go ``kind``; integers are
  sign- (signed kinds) or zero-extended; ``bool`` is 0/1; for the nil-able kinds
  (``pointer``, ``unsafe.Pointer``, ``map``, ``chan``, ``func``: the word itself;
  ``slice``: its data pointer; ``interface``: its type word) the word that is 0
  exactly when the value is nil;
- ``("len", name, kind)``: push the length word (offset 8) of a ``string`` or
  ``slice`` variable;
- ``("const", n)``: push the integer ``n`` (bools 0/1, null 0);
- ``("cmp", op, signed)``: pop b, pop a, push ``a op b`` (``op`` one of eq ne lt le
  gt ge), comparing as signed or unsigned 64-bit integers;
- ``("and",)``, ``("or",)``: pop two, push the logical result; ``("not",)``.

The result is the one value left on the stack: non-zero means the condition holds.
``scalar_vars`` maps each variable the probe point can read in full (every piece
has a location at the PC) to its Go kind; leave out any variable that may be
unavailable, or the two sides could disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BpfOp = tuple[Any, ...]

_SIGNED = {"int": 64, "int8": 8, "int16": 16, "int32": 32, "int64": 64}
_UNSIGNED = {"uint": 64, "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64, "uintptr": 64}
_NILABLE = frozenset({"pointer", "unsafe.Pointer", "map", "chan", "func", "slice", "interface"})
_LENGTHY = frozenset({"string", "slice"})
_COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})


class NotDecidable(ValueError):
    """The condition needs more than scalar variables: decide it in userspace."""


class _Operand:
    """A compiled operand: its class ("int" with range and signedness, "bool", "nil"
    for a nil-able variable, "null", "lit" for an integer literal, "boollit") and the
    ops that push it."""

    __slots__ = ("cls", "hi", "lo", "ops", "signed", "value")

    def __init__(
        self,
        cls: str,
        ops: list[BpfOp],
        *,
        lo: int = 0,
        hi: int = 0,
        signed: bool = False,
        value: int | bool | None = None,
    ) -> None:
        self.cls = cls
        self.ops = ops
        self.lo = lo
        self.hi = hi
        self.signed = signed
        self.value = value


def _operand(node: Any, scalar_vars: Mapping[str, str]) -> _Operand:
    if node is None:
        return _Operand("null", [("const", 0)])
    if isinstance(node, bool):
        return _Operand("boollit", [("const", int(node))], value=node)
    if isinstance(node, float) and node.is_integer() and abs(node) < 2**63:
        node = int(node)
    if isinstance(node, int):
        return _Operand("lit", [("const", node)], value=node)
    if isinstance(node, dict) and len(node) == 1:
        op, arg = next(iter(node.items()))
        if op == "ref" and isinstance(arg, str) and arg in scalar_vars:
            kind = scalar_vars[arg]
            if kind in _SIGNED:
                bits = _SIGNED[kind]
                return _Operand(
                    "int",
                    [("load", arg, kind)],
                    lo=-(2 ** (bits - 1)),
                    hi=2 ** (bits - 1) - 1,
                    signed=True,
                )
            if kind in _UNSIGNED:
                return _Operand("int", [("load", arg, kind)], lo=0, hi=2 ** _UNSIGNED[kind] - 1)
            if kind == "bool":
                return _Operand("bool", [("load", arg, kind)])
            if kind in _NILABLE:
                return _Operand("nil", [("load", arg, kind)])
        if op in ("len", "count"):
            inner = arg[0] if isinstance(arg, list) and len(arg) == 1 else arg
            if (
                isinstance(inner, dict)
                and set(inner) == {"ref"}
                and scalar_vars.get(inner["ref"]) in _LENGTHY
            ):
                name = inner["ref"]
                return _Operand(
                    "int", [("len", name, scalar_vars[name])], lo=0, hi=2**63 - 1, signed=True
                )
    raise NotDecidable(f"not decidable in BPF: {node!r}")


def _comparison(op: str, a: _Operand, b: _Operand) -> list[BpfOp]:
    if a.cls == "lit" and b.cls != "lit":
        flipped = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}.get(op, op)
        return _comparison(flipped, b, a)
    if a.cls == "int" and b.cls == "lit":
        assert isinstance(b.value, int)
        if not a.lo <= b.value <= a.hi:
            raise NotDecidable("literal out of the variable's range")
        return [*a.ops, *b.ops, ("cmp", op, a.signed)]
    if a.cls == "int" and b.cls == "int":
        if a.signed != b.signed:
            raise NotDecidable("signed compared with unsigned")
        return [*a.ops, *b.ops, ("cmp", op, a.signed)]
    if op in ("eq", "ne"):
        if {a.cls, b.cls} <= {"bool", "boollit"}:
            return [*a.ops, *b.ops, ("cmp", op, False)]
        if {a.cls, b.cls} == {"nil", "null"}:
            return [*a.ops, *b.ops, ("cmp", op, False)]
    if a.cls == "lit" and b.cls == "lit":
        assert isinstance(a.value, int) and isinstance(b.value, int)
        x, y = a.value, b.value
        result = {
            "eq": x == y,
            "ne": x != y,
            "lt": x < y,
            "le": x <= y,
            "gt": x > y,
            "ge": x >= y,
        }[op]
        return [("const", int(result))]
    raise NotDecidable(f"cannot compare {a.cls} with {b.cls} in BPF")


def _boolean(node: Any, scalar_vars: Mapping[str, str]) -> list[BpfOp]:
    if isinstance(node, bool):
        return [("const", int(node))]
    if not isinstance(node, dict) or len(node) != 1:
        raise NotDecidable(f"not a condition BPF can decide: {node!r}")
    op, arg = next(iter(node.items()))
    if op in _COMPARISONS and isinstance(arg, list) and len(arg) == 2:
        return _comparison(op, _operand(arg[0], scalar_vars), _operand(arg[1], scalar_vars))
    if op in ("and", "or") and isinstance(arg, list) and len(arg) >= 2:
        out = _boolean(arg[0], scalar_vars)
        for part in arg[1:]:
            out += [*_boolean(part, scalar_vars), (op,)]
        return out
    if op == "not":
        inner = arg[0] if isinstance(arg, list) and len(arg) == 1 else arg
        return [*_boolean(inner, scalar_vars), ("not",)]
    if op == "ref":
        operand = _operand(node, scalar_vars)
        if operand.cls == "bool":
            return operand.ops
    raise NotDecidable(f"not a condition BPF can decide: {node!r}")


def bpf_program(ast: Any, scalar_vars: Mapping[str, str]) -> list[BpfOp]:
    """The postfix program deciding ``ast`` in BPF; raises ``NotDecidable``."""
    return _boolean(ast, scalar_vars)


def bpf_decidable(ast: Any, scalar_vars: Mapping[str, str]) -> bool:
    """Whether BPF can decide ``ast`` from the scalar variables ``scalar_vars``
    (name -> Go kind) with the same result as the userspace evaluator."""
    try:
        bpf_program(ast, scalar_vars)
    except NotDecidable:
        return False
    return True


def run_bpf_program(
    program: list[BpfOp], values: Mapping[str, int], lengths: Mapping[str, int] | None = None
) -> bool:
    """Evaluate ``program`` in Python (a reference for tests and for the BPF side).

    ``values`` maps each ``load``ed variable to its raw 64-bit word (unsigned);
    ``lengths`` each ``len`` variable to its length word.
    """
    stack: list[int] = []
    mask = 2**64 - 1
    for op in program:
        name = op[0]
        if name == "load":
            raw = values[op[1]] & mask
            kind = op[2]
            if kind in _SIGNED:
                bits = _SIGNED[kind]
                raw &= 2**bits - 1
                if raw >= 2 ** (bits - 1):
                    raw -= 2**bits
            elif kind in _UNSIGNED:
                raw &= 2 ** _UNSIGNED[kind] - 1
            elif kind == "bool":
                raw = 1 if raw & 0xFF else 0
            stack.append(raw)
        elif name == "len":
            stack.append((lengths or {})[op[1]])
        elif name == "const":
            stack.append(int(op[1]))
        elif name == "cmp":
            b, a = stack.pop(), stack.pop()
            if not op[2]:
                a, b = a & mask, b & mask
            stack.append(
                int(
                    {
                        "eq": a == b,
                        "ne": a != b,
                        "lt": a < b,
                        "le": a <= b,
                        "gt": a > b,
                        "ge": a >= b,
                    }[op[1]]
                )
            )
        elif name in ("and", "or"):
            b, a = stack.pop(), stack.pop()
            stack.append(int(bool(a) and bool(b)) if name == "and" else int(bool(a) or bool(b)))
        elif name == "not":
            stack.append(int(not stack.pop()))
        else:
            raise ValueError(f"unknown BPF op {op!r}")
    if len(stack) != 1:
        raise ValueError(f"malformed BPF program: stack {stack}")
    return bool(stack[0])
