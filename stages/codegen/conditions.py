"""Probe conditions that BPF decides on the root area, before anything else is copied.

``stages.expr.bpf`` says which conditions BPF can decide with exactly the result
decode's evaluator would give, as a postfix program over scalar variables. Here
that program becomes a C expression over the probe's root area. Only variables
read whole from registers at the probe address take part: a read of memory may
fail, and decode then shows the variable unavailable, which is not the same as
false.

A decided probe's hits that do not meet the condition are counted
(``condition_false``) and dropped in BPF; those that do are sampled after it, so
the rate limit is spent on them alone. Decode still evaluates the condition (it
holds on every hit that reaches it).
"""

from __future__ import annotations

from typing import Any

from ..expr.bpf import BpfOp, NotDecidable, bpf_program
from ..ir import TypeIndex
from ..layout import VariableLayout

_C_TYPES = {
    "int": "__s64",
    "int8": "__s8",
    "int16": "__s16",
    "int32": "__s32",
    "int64": "__s64",
    "uint": "__u64",
    "uint8": "__u8",
    "uint16": "__u16",
    "uint32": "__u32",
    "uint64": "__u64",
    "uintptr": "__u64",
}
_SIZES = {
    **{k: 8 for k in ("int", "int64", "uint", "uint64", "uintptr")},
    **{k: 4 for k in ("int32", "uint32")},
    **{k: 2 for k in ("int16", "uint16")},
    **{k: 1 for k in ("int8", "uint8", "bool")},
    **{k: 8 for k in ("pointer", "unsafe.Pointer", "map", "chan", "func")},
    "interface": 16,
    "string": 16,
    "slice": 24,
}
"""The size of a value of each kind a condition can read in BPF (64-bit Go). Kinds
that are not integers or bools load their first word, 0 exactly when the value is
nil; strings and slices also give their length word."""
_C_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_MASK = (1 << 64) - 1


def scalar_variables(
    variables: list[VariableLayout], types: TypeIndex, kinds: dict[str, str]
) -> dict[str, tuple[str, int]]:
    """The variables a condition may read in BPF: name -> (Go kind, root offset).

    A variable qualifies when all its bytes come from registers and its kind has a
    fixed-size scalar reading; a name given to several variables does not (decode
    would pick one of them by its own rules)."""
    names = [v.name for v in variables]
    out: dict[str, tuple[str, int]] = {}
    for v in variables:
        if names.count(v.name) != 1 or v.root_offset is None or not v.pieces:
            continue
        if any(p.source != "register" for p in v.pieces):
            continue
        kind = kinds.get(types[v.type].name)
        if kind is None or _SIZES.get(kind) != v.size or sum(p.size for p in v.pieces) != v.size:
            continue
        out[v.name] = (kind, v.root_offset)
    return out


def condition_c(when: Any, variables: dict[str, tuple[str, int]]) -> str | None:
    """The C expression (over ``s``, the scratch area) deciding the condition AST
    ``when`` from ``variables`` (``scalar_variables``); None when BPF cannot."""
    try:
        program = bpf_program(when, {name: kind for name, (kind, _) in variables.items()})
    except NotDecidable:
        return None
    return _expression(program, variables)


def _expression(program: list[BpfOp], variables: dict[str, tuple[str, int]]) -> str:
    """The postfix ``program`` as one C expression of 64-bit words (signed loads
    sign-extended, as ``run_bpf_program`` reads them)."""
    stack: list[str] = []
    for op in program:
        name = op[0]
        if name == "load":
            kind, offset = variables[op[1]]
            if kind == "bool":
                stack.append(f"(__u64)(GODI_ROOT_LOAD(s, {offset}, __u8) != 0)")
            elif kind in _C_TYPES:
                stack.append(f"(__u64)GODI_ROOT_LOAD(s, {offset}, {_C_TYPES[kind]})")
            else:  # the word that is 0 exactly when the value is nil
                stack.append(f"GODI_ROOT_LOAD(s, {offset}, __u64)")
        elif name == "len":
            _, offset = variables[op[1]]
            stack.append(f"GODI_ROOT_LOAD(s, {offset + 8}, __u64)")
        elif name == "const":
            stack.append(f"0x{int(op[1]) & _MASK:x}ULL")
        elif name == "cmp":
            b, a = stack.pop(), stack.pop()
            cast = "__s64" if op[2] else "__u64"
            stack.append(f"(({cast})({a}) {_C_OPS[op[1]]} ({cast})({b}))")
        elif name in ("and", "or"):
            b, a = stack.pop(), stack.pop()
            stack.append(f"({a} {'&&' if name == 'and' else '||'} {b})")
        elif name == "not":
            stack.append(f"(!{stack.pop()})")
        else:
            raise ValueError(f"unknown BPF op {op!r}")
    if len(stack) != 1:
        raise ValueError(f"malformed BPF program: {program!r}")
    return stack[0]
