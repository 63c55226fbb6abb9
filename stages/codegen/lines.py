"""Line probes: where ``sourceFile:line`` is in the code, and what is live there."""

from __future__ import annotations

from ..ir import Function, Program, Variable
from ..layout import CaptureRole


def same_file(wanted: str, recorded: str) -> bool:
    """Whether a probe's ``sourceFile`` names a file the binary records: one path is
    a suffix of the other on a path-component boundary (``main.go`` matches
    ``example/main.go`` and ``/src/app/example/main.go``)."""
    a = wanted.replace("\\", "/").strip("/")
    b = recorded.replace("\\", "/").strip("/")
    if not a or not b:
        return False
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return long_ == short or long_.endswith("/" + short)


def line_pcs(program: Program, source_file: str, line: int) -> list[tuple[Function, int, str]]:
    """(function, PC, recorded file) for each function with code for ``line``: the
    first statement start (``is_stmt``) of that line, else its first row."""
    out = []
    for fn in program.functions:
        files = [i for i, f in enumerate(fn.line_files) if same_file(source_file, f)]
        if not files:
            continue
        rows = [r for r in fn.lines if r.file in files and r.line == line]
        if not rows:
            continue
        stmts = [r for r in rows if r.is_stmt] or rows
        row = min(stmts, key=lambda r: r.pc)
        pc = max(row.pc, fn.entry_pc)  # a line of the prologue: after it
        out.append((fn, pc, fn.line_files[row.file]))
    return sorted(out, key=lambda x: (x[0].name, x[1]))


def live_variables(fn: Function, pc: int) -> list[tuple[Variable, CaptureRole]]:
    """What a line probe at ``pc`` captures (``Function.live_at``), with the role
    each is shown in."""
    return [(v, "argument" if v.role == "param" else "local") for v in fn.live_at(pc)]
