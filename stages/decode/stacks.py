"""Symbolicated stacks: an event's program counters -> ``[{function, fileName, lineNumber}]``.

The table is the IR's ``SymbolTable`` (the binary's ``.gopclntab``, read by
``stages.pclntab``). Lookups follow the Go runtime (``runtime/symtab.go``,
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

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DecodeError
from ..ir import SymbolTable
from ..pclntab import Pclntab, PclntabError
from ..snapshot import StackFrame
from .jsontext import encode

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


@dataclass(frozen=True, slots=True)
class Frame:
    """A logical frame: the PC its position was looked up at, the name (index and
    printable), file, line, and whether it is a compiler-generated wrapper."""

    pc: int
    name: str
    function: str
    file: str
    line: int
    wrapper: bool


MAX_CACHED_PCS = 1 << 16
"""PCs whose frames are kept before the cache starts over."""


class Symbolizer:
    """Names the PCs of one binary from its ``SymbolTable``.

    Raises ``DecodeError`` if the table is not a readable ``.gopclntab``.
    """

    def __init__(self, table: SymbolTable) -> None:
        try:
            self._t = Pclntab(table)
        except PclntabError as e:
            raise DecodeError(f"the IR's symbol table: {e}") from e
        self._printed: dict[str, str] = {}
        self._stacks: dict[tuple[int, ...], list[StackFrame]] = {}
        self._at: dict[int, list[Frame]] = {}
        """Frames by PC: stacks that differ share most of their PCs."""
        self._json_at: dict[int, list[tuple[Frame, str]]] = {}
        """The same, each with the JSON of its ``StackFrame``."""

    def _frame(self, pc: int, name: str, func_id: int, position: tuple[str, int]) -> Frame:
        printed = self._printed.get(name)
        if printed is None:
            printed = self._printed[name] = func_name_for_print(name)
        wrapper = func_id == self._t.wrapper_id
        return Frame(pc, name, printed, position[0], position[1], wrapper)

    def frames(self, pc: int) -> list[Frame]:
        """The logical frames at ``pc`` (a call PC, not a return address), innermost
        first: the inlined calls, then the physical function. Empty when no function
        holds ``pc`` (or the table is corrupt there)."""
        frames = self._at.get(pc)
        if frames is None:
            try:
                frames = self._frames(pc)
            except PclntabError:
                frames = []
            if len(self._at) >= MAX_CACHED_PCS:
                self._at.clear()
            self._at[pc] = frames
        return frames

    def _frames(self, pc: int) -> list[Frame]:
        fn = self._t.function_at(pc)
        if fn is None:
            return []
        out: list[Frame] = []
        offset = pc - fn.entry
        for _ in range(MAX_INLINE_DEPTH):
            call = self._t.inlined(fn, fn.inline_index(offset))
            position = fn.position(offset)
            if call is None:
                out.append(self._frame(fn.entry + offset, fn.name, fn.func_id, position))
                return out
            out.append(self._frame(fn.entry + offset, call.name, call.func_id, position))
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
                callee_panics = frame.name in _PANIC_CALLEES
        if len(self._stacks) >= MAX_CACHED_STACKS:
            self._stacks.clear()
        self._stacks[key] = out
        return out

    def stack_json(self, pcs: Sequence[int]) -> str:
        """The JSON of ``stack(pcs)`` (as ``jsontext.encode`` writes the list), made
        of the JSON of each frame, kept with it."""
        parts: list[str] = []
        callee_panics = False
        for i, pc in enumerate(pcs):
            for frame, text in self._json_frames(pc if i == 0 else pc - 1):
                if frame.wrapper and parts and not callee_panics:
                    continue
                parts.append(text)
                callee_panics = frame.name in _PANIC_CALLEES
        return "[" + ",".join(parts) + "]"

    def _json_frames(self, pc: int) -> list[tuple[Frame, str]]:
        found = self._json_at.get(pc)
        if found is None:
            found = [
                (f, encode(StackFrame(function=f.function, fileName=f.file, lineNumber=f.line)))
                for f in self.frames(pc)
            ]
            if len(self._json_at) >= MAX_CACHED_PCS:
                self._json_at.clear()
            self._json_at[pc] = found
        return found
