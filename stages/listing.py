"""What a binary offers to probe: its functions (``godi ls``) and the lines with code.

The candidate names come from the binary's ``.gopclntab`` (every function with code
of its own, read in a fraction of a second even for a big binary); a pattern picks
some, and the IR of just those (scoped irgen, through the IR cache) says which are
probe-able: a concrete subprogram described by DWARF, or a function the compiler
only inlined. The same names serve ``flagprobes`` to expand a glob such as
``'main.(*Cart).*'``.

Patterns are globs on the whole Go name: ``*`` is any text (``/`` and ``.``
included), ``?`` one character; everything else is literal, so ``(*T)`` and
``[...]`` mean themselves. A pattern without ``*`` or ``?`` outside a ``(*``
receiver is a plain name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .ir import Program
from .probetargets import same_file

__all__ = [
    "Listed",
    "ListedLine",
    "binary_functions",
    "functions_in_file",
    "is_glob",
    "list_functions",
    "list_lines",
    "matching",
    "probeable_program",
]


@dataclass(frozen=True)
class Listed:
    """A probe-able function: its Go name, where it is declared, and whether it
    exists only as inlined copies (a probe then goes into each copy)."""

    name: str
    file: str
    line: int
    inlined_only: bool = False


@dataclass(frozen=True)
class ListedLine:
    """A source line with code: the file as recorded, the line, and the functions
    whose code holds it (several when it was inlined)."""

    file: str
    line: int
    functions: tuple[str, ...]


def _pclntab_functions(binary: str) -> list[tuple[str, str]]:
    """(name, file of its entry) of every function of the binary's ``.gopclntab``.
    Raises ``BinaryError`` when the file is not a Go binary."""
    from .errors import BinaryError
    from .irgen.symbols import build_symbols
    from .pclntab import Pclntab, PclntabError

    try:
        table = Pclntab(build_symbols(binary))
        out = []
        for i in range(table.nfunc):
            fn = table.function(i)
            out.append((fn.name, fn.position(0)[0]))
    except PclntabError as e:
        raise BinaryError(binary, f"unreadable function table: {e}") from e
    return out


def binary_functions(binary: str) -> list[str]:
    """The names of the binary's functions with code of their own, sorted."""
    return sorted({name for name, _ in _pclntab_functions(binary)})


def functions_in_file(binary: str, source_file: str) -> list[str]:
    """The functions whose entry is in ``source_file`` (matched as a path suffix,
    as a line probe's ``sourceFile`` is), sorted."""
    return sorted({n for n, f in _pclntab_functions(binary) if same_file(source_file, f)})


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` has a wildcard (a ``*`` that is not a ``(*`` receiver,
    or a ``?``)."""
    return "?" in pattern or "*" in pattern.replace("(*", "(")


def _regex(pattern: str) -> re.Pattern[str]:
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("(*", i):
            parts.append(re.escape("(*"))
            i += 2
            continue
        c = pattern[i]
        parts.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def matching(names: Iterable[str], pattern: str, *, substring: bool = False) -> list[str]:
    """The names ``pattern`` matches, sorted: a glob matches whole names; a plain
    name matches itself, or with ``substring`` every name containing it."""
    if is_glob(pattern):
        rx = _regex(pattern)
        return sorted({n for n in names if rx.fullmatch(n)})
    if substring:
        return sorted({n for n in names if pattern in n})
    return sorted({n for n in names if n == pattern})


def probeable_program(binary: str, names: list[str] | None) -> Program:
    """The IR of ``names`` (None: the whole binary), without the symbol table,
    from the IR cache when it has it."""
    from .irgen.cache import generate_ir_cached

    return generate_ir_cached(binary, names, symbols=False)


def list_functions(binary: str, pattern: str | None = None) -> list[Listed]:
    """The probe-able functions of ``binary`` whose name ``pattern`` matches (a
    glob, or a text the name contains; None: all), sorted by name."""
    names = binary_functions(binary)
    wanted = None if pattern is None else matching(names, pattern, substring=True)
    if wanted is not None and not is_glob(pattern or ""):
        # A plain text may also name a function that only exists inlined.
        wanted = sorted({*wanted, pattern or ""})
    if wanted == []:
        return []
    program = probeable_program(binary, wanted)
    out = {f.name: Listed(f.name, f.file, f.line) for f in program.functions}
    for inl in program.inlined:
        if inl.name not in out and (wanted is None or inl.name in wanted):
            out[inl.name] = Listed(inl.name, inl.file, inl.line, inlined_only=True)
    return [out[n] for n in sorted(out)]


def list_lines(binary: str, source_file: str, pattern: str | None = None) -> list[ListedLine]:
    """The lines of ``source_file`` where a line probe can go (a statement starts
    there), in the functions declared in that file (those ``pattern`` matches)."""
    names = functions_in_file(binary, source_file)
    if pattern is not None:
        names = matching(names, pattern, substring=True)
    if not names:
        return []
    program = probeable_program(binary, names)
    found: dict[tuple[str, int], set[str]] = {}
    for fn in program.functions:
        files = {i: f for i, f in enumerate(fn.line_files) if same_file(source_file, f)}
        for row in fn.lines:
            if row.is_stmt and row.file in files and row.line > 0:
                found.setdefault((files[row.file], row.line), set()).add(fn.name)
    return [
        ListedLine(file, line, tuple(sorted(fns))) for (file, line), fns in sorted(found.items())
    ]
