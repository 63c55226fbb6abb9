"""What a scoped IR holds for the probes that do not name functions exactly.

``generate_ir`` takes exact Go function names; a probe file also has generic
probes (``pkg.F[...]``: every shape instantiation) and line probes
(``sourceFile:line``). Both are passed among the names, as requests that no Go
function name can be (``F[...]`` is not an instantiation's name; a line request
starts with ``@``), and resolved here against the binary, so that the IR grows with
the probes rather than with the binary:

- ``pkg.F[...]``: the subprograms named ``pkg.F[`` + anything, found by searching
  .debug_info for the prefix's bytes (Go writes names inline);
- ``@file:line``: the units whose line-table files match ``file`` (as line probes
  match them, by path suffix), their rows for ``line``, and the functions whose
  code holds those rows, by the symbol table; each such function comes with every
  copy inlined into it, where a line of an inlined function is.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from ..probetargets import (
    GENERIC_SUFFIX,
    LINE_REQUEST,
    base_name,
    line_request,
    parse_line_request,
    same_file,
)
from .dwarf import DwarfReader
from .elf import ElfImage
from .lines import LineProgram, sequence_pcs_at

__all__ = [
    "GENERIC_SUFFIX",
    "LINE_REQUEST",
    "Scope",
    "line_request",
    "parse_line_request",
    "resolve_scope",
]


class Scope(NamedTuple):
    """The functions a scoped IR holds: by exact name, and those of them whose
    inlined copies it holds too (for line probes)."""

    names: frozenset[str]
    with_copies: frozenset[str]


def resolve_scope(reader: DwarfReader, image: ElfImage, wanted: Collection[str]) -> Scope:
    """The exact function names ``wanted`` means (see the module docstring)."""
    names: set[str] = set()
    with_copies: set[str] = set()
    lines: dict[str, set[int]] = {}
    for request in wanted:
        where = parse_line_request(request)
        if where is not None:
            lines.setdefault(where[0], set()).add(where[1])
        elif request.endswith(GENERIC_SUFFIX):
            stem = request[: -len("...]")]
            for entry in reader.find_all_prefixed(stem, "DW_TAG_subprogram"):
                if entry.name:
                    names.add(entry.name)
        else:
            names.add(request)
    if lines:
        found = _functions_at_lines(reader, image, lines)
        names |= found
        with_copies |= found
    return Scope(frozenset(names), frozenset(with_copies))


def _functions_at_lines(
    reader: DwarfReader, image: ElfImage, lines: dict[str, set[int]]
) -> set[str]:
    """The names of the functions whose code has rows for any of ``lines``
    (file -> line numbers)."""
    out: set[str] = set()
    by_base = [(base_name(f), f, numbers) for f, numbers in lines.items()]
    for unit in reader.units():
        header = reader.line_header(unit)
        if header is None:
            continue
        wanted: dict[int, set[int]] = {}
        for index in range(len(header.files) + 1):
            path = reader.file_name(unit, index)
            if not path:
                continue
            for base, source_file, numbers in by_base:
                if base in path and same_file(source_file, path):
                    wanted.setdefault(index, set()).update(numbers)
        if not wanted:
            continue
        for pc in _rows_at(header.program, wanted):
            symbol = image.function_at(pc)
            if symbol is not None:
                out.add(symbol[1])
    return out


_SET_ADDRESS = b"\x00\x09\x02"  # DW_LNE_set_address with an 8-byte address
_SET_FILE = 4  # DW_LNS_set_file


def _rows_at(program: LineProgram, wanted: dict[int, set[int]]) -> list[int]:
    """The PCs of the rows for the wanted (file -> lines) of a line program.

    Go writes each function as a sequence of its own opening with
    ``DW_LNE_set_address``; a sequence can only have rows for file ``f`` if it
    sets it (``DW_LNS_set_file f``: those bytes are in it) or ``f`` is the
    default, 1. Only such sequences are decoded: a unit's table is mostly other
    files' functions."""
    data, end = program.data, program.end
    starts = []
    pos = data.find(_SET_ADDRESS, program.start, end)
    while pos >= 0:
        starts.append(pos)
        pos = data.find(_SET_ADDRESS, pos + len(_SET_ADDRESS) + 8, end)
    if not starts or starts[0] != program.start:
        starts.insert(0, program.start)  # not as Go writes it: decode from the start
    markers = [bytes([_SET_FILE]) + _uleb_bytes(f) for f in wanted if f != 1]
    out = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else end
        if 1 not in wanted and not any(data.find(m, start, stop) >= 0 for m in markers):
            continue
        out.extend(sequence_pcs_at(program, start, wanted))
    return out


def _uleb_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
