"""What a probe's ``where`` names, without the binary: the exact Go function
names it may mean, and the requests a scoped irgen resolves against the binary
(``pkg.F[...]``, ``@file:line``), and how a probe's ``sourceFile`` matches a
recorded path.

Light on purpose (no codegen, decode or DWARF reader): ``godi irgen --probes``
needs only this of the probes before reading the binary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import Probe

GENERIC_SUFFIX = "[...]"
LINE_REQUEST = "@"


def method_candidates(probe: Probe) -> list[str]:
    """The Go function names ``where`` may mean, most specific first."""
    where = probe.where
    method = where.method_name or ""
    if not where.type_name:
        return [method]
    type_name = where.type_name
    pointer = type_name.startswith("*")
    type_name = type_name.lstrip("*")
    pkg, _, bare = type_name.rpartition(".")
    prefix = f"{pkg}." if pkg else ""
    names = [f"{prefix}(*{bare}).{method}", f"{prefix}{bare}.{method}"]
    return names if pointer else [names[1], names[0]]


def wanted_function_names(probes: list[Probe]) -> list[str]:
    """What a scoped irgen needs for the probes: the exact function names they may
    mean, ``pkg.F[...]`` for a generic probe (every shape instantiation) and a line
    request (``line_request``) for a line probe, which irgen resolves against the
    binary (``stages.irgen.scope``)."""
    out: set[str] = set()
    for p in probes:
        where = p.where
        if where.source_file and where.lines:
            for line in where.lines:
                if line.strip().isdigit():
                    out.add(line_request(where.source_file, int(line)))
        elif where.method_name:
            out.update(method_candidates(p))
    return sorted(out)


def line_request(source_file: str, line: int) -> str:
    """The request for the functions with code for ``source_file:line``."""
    return f"{LINE_REQUEST}{source_file}:{line}"


def parse_line_request(request: str) -> tuple[str, int] | None:
    """(file, line) of a line request; None for any other name."""
    if not request.startswith(LINE_REQUEST):
        return None
    source_file, _, line = request[len(LINE_REQUEST) :].rpartition(":")
    if not source_file or not line.isdigit():
        return None
    return source_file, int(line)


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


def base_name(path: str) -> str:
    """The last component of a ``sourceFile`` as ``same_file`` compares it: every
    path ``same_file`` matches with ``path`` contains it (a cheap filter)."""
    return path.replace("\\", "/").strip("/").rpartition("/")[2]
