"""Line probes: where ``sourceFile:line`` is in the code, and what is live there."""

from __future__ import annotations

from typing import NamedTuple

from ..ir import (
    Function,
    InlinedFunction,
    InlinedInstance,
    LineRow,
    Program,
    Variable,
    live_variables_at,
)
from ..layout import CaptureRole
from ..probetargets import same_file


class LineSite(NamedTuple):
    """Where a line probe goes: a PC of ``function`` (the out-of-line code), the file
    as recorded, and the inlined copy (function, instance) the PC is in, if any."""

    function: Function
    pc: int
    file: str
    copy: tuple[InlinedFunction, InlinedInstance] | None = None


def line_pcs(program: Program, source_file: str, line: int) -> list[LineSite]:
    """Each place with code for ``line``: in each function, the first statement
    start (``is_stmt``) of that line, else its first row; and so again in each
    copy of an inlined function that has the line (a line of a function inlined
    twice into one caller runs at two places)."""
    copies: dict[str, list[tuple[InlinedFunction, InlinedInstance]]] = {}
    for inl in program.inlined:
        for inst in inl.instances:
            copies.setdefault(inst.caller, []).append((inl, inst))
    out = []
    for fn in program.functions:
        files = [i for i, f in enumerate(fn.line_files) if same_file(source_file, f)]
        if not files:
            continue
        rows = [r for r in fn.lines if r.file in files and r.line == line]
        by_copy: dict[int, list[LineRow]] = {}
        within = copies.get(fn.name, [])
        for r in rows:
            by_copy.setdefault(_innermost(within, r.pc), []).append(r)
        for at, group in by_copy.items():
            stmts = [r for r in group if r.is_stmt] or group
            row = min(stmts, key=lambda r: r.pc)
            pc = max(row.pc, fn.entry_pc)  # a line of the prologue: after it
            copy = within[at] if at >= 0 else None
            out.append(LineSite(fn, pc, fn.line_files[row.file], copy))
    return sorted(out, key=lambda x: (x.function.name, x.pc))


def _innermost(copies: list[tuple[InlinedFunction, InlinedInstance]], pc: int) -> int:
    """The index in ``copies`` of the innermost one whose code holds ``pc``; -1 if
    none does."""
    best, size = -1, 0
    for i, (_, inst) in enumerate(copies):
        for lo, hi in inst.ranges:
            if lo <= pc < hi and (best < 0 or hi - lo < size):
                best, size = i, hi - lo
    return best


def live_variables(fn: Function, pc: int, line: int = 0) -> list[tuple[Variable, CaptureRole]]:
    """What a line probe at ``pc`` (for source ``line``) captures, with the role
    each is shown in (``line_variables``)."""
    return _with_roles(line_variables(fn.variables, pc, line))


def live_variables_of_copy(
    inst: InlinedInstance, pc: int, line: int = 0
) -> list[tuple[Variable, CaptureRole]]:
    """What a line probe at ``pc`` in an inlined copy captures: the inlined
    function's parameters and locals, as that copy has them."""
    return _with_roles(line_variables(inst.variables, pc, line))


def line_variables(variables: list[Variable], pc: int, line: int) -> list[Variable]:
    """The variables a line probe shows, as a debugger does: every parameter, and
    the source locals in scope at ``pc`` (their lexical block holds it) that either
    have a location there or were declared before ``line`` (then shown with the
    reason they cannot be read: the optimiser let the value go). Compiler
    temporaries are left out (``is_source_local``)."""
    live = {id(v) for v in live_variables_at(variables, pc)}
    return [
        v
        for v in variables
        if v.role == "param"
        or (
            v.role == "local"
            and is_source_local(v.name)
            and (
                id(v) in live
                or (
                    0 < v.decl_line < line
                    and (not v.scope or any(lo <= pc < hi for lo, hi in v.scope))
                )
            )
        )
    ]


def _with_roles(variables: list[Variable]) -> list[tuple[Variable, CaptureRole]]:
    return [(v, "argument" if v.role == "param" else "local") for v in variables]


def is_source_local(name: str) -> bool:
    """Whether a local is one the source declares, not a compiler temporary: the
    compiler names its own ``~r0``, ``~r0ptr``, ``~p0`` (with ``~``) and the
    pieces of a decomposed one ``~r0.data``, ``x.itab`` (with a dot), which no Go
    identifier can be. ``_`` is not a variable a program can read either."""
    return bool(name) and name != "_" and not name.startswith("~") and "." not in name
