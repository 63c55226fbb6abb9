"""Symbolicated stacks: an event's program counters -> ``[{function, fileName, lineNumber}]``.

The table is the IR's ``SymbolTable`` (``.gopclntab`` of the binary, see
``stages.irgen.pclntab``). Lookups follow the Go runtime (``runtime/symtab.go``,
``runtime/symtabinl.go``, ``runtime/traceback.go``):

- the function holding a PC is the last one whose entry is <= PC, if PC is below
  its end;
- a pcvalue table maps PC ranges to values: file number, line, inline tree index;
- at a PC whose inline tree index ``i`` is >= 0, the innermost frame is the inlined
  callee ``inlined[i]`` (with the PC's own file and line); its caller is at
  ``entry + inlined[i].parent_pc``, looked up the same way, until index -1 gives
  the physical function;
- compiler-generated wrappers are left out, as ``runtime.Callers`` does, unless
  they called a panic function or are the innermost frame (the probed function);
- generic shapes are printed ``F[...]`` (``funcNameForPrint``).

The stack of an event: ``pc[0]`` is the probe PC itself; the others are return
addresses, backed up by one byte into the call instruction before the lookup.
PCs outside the table are skipped (as ``runtime.CallersFrames`` does). Decoded
tables and whole stacks are cached: events of a probe repeat the same stacks.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from ..ir import FunctionSymbols, SymbolTable
from ..snapshot import StackFrame

__all__ = ["Frame", "Symbolizer", "func_name_for_print"]

MAX_INLINE_DEPTH = 256
"""Bound on one PC's inline frames: a corrupt tree must not loop."""
MAX_CACHED_STACKS = 4096

_PANIC_CALLEES = frozenset({"runtime.gopanic", "runtime.sigpanic", "runtime.panicwrap"})


def func_name_for_print(name: str) -> str:
    """A function name as the Go runtime prints it: type arguments as ``[...]``.

    ``main.F[go.shape.int]`` -> ``main.F[...]``; a generic method of a generic
    type keeps the text between its two bracket groups (Go 1.23+ spelling).
    """
    i = name.find("[")
    if i < 0:
        return name
    j = name.rfind("]")
    if j <= i:
        return name
    interior = name[i + 1 : j]
    if "[" not in interior:
        return name[:i] + "[...]" + name[j + 1 :]
    depth = 1
    rbr = lbr = -1
    for k, c in enumerate(interior):
        if c == "[":
            depth += 1
            if depth != 1:
                continue
            lbr = k
            break
        if c == "]":
            depth -= 1
            if depth < 0:
                break
            if depth != 0:
                continue
            rbr = k
    if depth == 1:
        if rbr >= 0 and lbr > rbr:
            return name[:i] + "[...]" + interior[rbr + 1 : lbr] + "[...]" + name[j + 1 :]
        if rbr == -1 and lbr == -1:
            return name[:i] + "[...]" + name[j + 1 :]
    return name


class _PcTable:
    """One decoded pcvalue table: ``ends[k]`` is the PC offset (from the function's
    entry) where ``values[k]`` stops applying."""

    __slots__ = ("ends", "values")

    def __init__(self, encoded: str, quantum: int) -> None:
        data = base64.b64decode(encoded) if encoded else b""
        ends: list[int] = []
        values: list[int] = []
        pos = 0
        n = len(data)
        val = -1
        pc = 0
        while pos < n:
            delta = shift = 0
            while pos < n:
                b = data[pos]
                pos += 1
                delta |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            step = shift = 0
            while pos < n:
                b = data[pos]
                pos += 1
                step |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            val += -(delta & 1) ^ (delta >> 1)
            pc += step * quantum
            ends.append(pc)
            values.append(val)
        self.ends = ends
        self.values = values

    def at(self, offset: int) -> int:
        """The value at PC ``offset`` from the entry, -1 outside the table."""
        k = bisect.bisect_right(self.ends, offset)
        return self.values[k] if k < len(self.values) else -1


class _Function:
    """A function's tables, decoded on first use."""

    __slots__ = ("entry", "file", "inl", "line", "sym")

    def __init__(self, sym: FunctionSymbols, quantum: int) -> None:
        self.sym = sym
        self.entry = sym.entry
        self.file = _PcTable(sym.pcfile, quantum)
        self.line = _PcTable(sym.pcln, quantum)
        self.inl = _PcTable(sym.pcinl, quantum) if sym.inlined else None


@dataclass(frozen=True, slots=True)
class Frame:
    """A logical frame: the PC its position was looked up at, the name (index and
    printable), file, line, and whether it is a compiler-generated wrapper."""

    pc: int
    name: int
    function: str
    file: str
    line: int
    wrapper: bool


class Symbolizer:
    """Names the PCs of one binary from its ``SymbolTable``."""

    def __init__(self, table: SymbolTable) -> None:
        self._t = table
        self._entries = [f.entry for f in table.functions]
        self._functions: dict[int, _Function] = {}
        self._names = [func_name_for_print(n) for n in table.names]
        self._wrappers = frozenset(table.wrappers)
        self._panics = frozenset(i for i, n in enumerate(table.names) if n in _PANIC_CALLEES)
        self._stacks: dict[tuple[int, ...], list[StackFrame]] = {}

    def _function(self, pc: int) -> _Function | None:
        k = bisect.bisect_right(self._entries, pc) - 1
        if k < 0:
            return None
        fn = self._functions.get(k)
        if fn is None:
            sym = self._t.functions[k]
            if pc >= sym.entry + sym.size:
                return None
            fn = self._functions[k] = _Function(sym, self._t.quantum)
        elif pc >= fn.entry + fn.sym.size:
            return None
        return fn

    def _file(self, fn: _Function, offset: int) -> tuple[str, int]:
        files = self._t.units[fn.sym.unit] if 0 <= fn.sym.unit < len(self._t.units) else []
        fileno = fn.file.at(offset)
        line = fn.line.at(offset)
        if fileno < 0 or line < 0 or fileno >= len(files) or files[fileno] < 0:
            return "?", 0
        return self._t.files[files[fileno]], line

    def frames(self, pc: int) -> list[Frame]:
        """The logical frames at ``pc`` (a call PC, not a return address), innermost
        first: the inlined calls, then the physical function. Empty when no function
        holds ``pc``."""
        fn = self._function(pc)
        if fn is None:
            return []
        out: list[Frame] = []
        inlined = fn.sym.inlined
        offset = pc - fn.entry
        for _ in range(MAX_INLINE_DEPTH):
            file, line = self._file(fn, offset)
            ix = fn.inl.at(offset) if fn.inl is not None else -1
            if ix < 0 or ix >= len(inlined):
                name = fn.sym.name
                out.append(
                    Frame(
                        fn.entry + offset,
                        name,
                        self._names[name],
                        file,
                        line,
                        name in self._wrappers,
                    )
                )
                return out
            call = inlined[ix]
            name = call.name
            out.append(
                Frame(
                    fn.entry + offset, name, self._names[name], file, line, name in self._wrappers
                )
            )
            offset = call.parent_pc
        return out

    def stack(self, pcs: Sequence[int]) -> list[StackFrame]:
        """The symbolicated stack of an event: ``pcs[0]`` the probe PC, the rest return
        addresses. Innermost first, inlined frames expanded, wrappers left out."""
        key = tuple(pcs)
        cached = self._stacks.get(key)
        if cached is not None:
            return cached
        out: list[StackFrame] = []
        callee_panics = False
        for i, pc in enumerate(pcs):
            for frame in self.frames(pc if i == 0 else pc - 1):
                if frame.wrapper and out and not callee_panics:
                    callee_panics = False
                    continue
                out.append(
                    StackFrame(function=frame.function, fileName=frame.file, lineNumber=frame.line)
                )
                callee_panics = frame.name in self._panics
        if len(self._stacks) >= MAX_CACHED_STACKS:
            self._stacks.clear()
        self._stacks[key] = out
        return out
