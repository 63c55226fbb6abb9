"""A minimal DWARF line-program decoder: headers, and the rows irgen uses.

irgen needs the line table to name the source file of an out-of-line copy of an
inlinable function (Go writes its abstract origin without ``DW_AT_decl_file``)
and to give each function's rows (pc, file, line, is_stmt) for file:line probes.
Running the state machine for just those registers is several times faster than
a generic decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

try:
    from . import _lines
except ImportError:  # not built
    _lines = None  # type: ignore[assignment]

from .dies import (
    F_BLOCK,
    F_DATA1,
    F_DATA2,
    F_DATA4,
    F_DATA8,
    F_DATA16,
    F_LINE_STRP,
    F_STRING,
    F_STRP,
    F_UDATA,
    DwarfFormatError,
    sleb,
    uleb,
)

# Standard opcodes (DWARF 5, section 6.2.5.2).
DW_LNS_copy = 1
DW_LNS_advance_pc = 2
DW_LNS_advance_line = 3
DW_LNS_set_file = 4
DW_LNS_negate_stmt = 6
DW_LNS_const_add_pc = 8
DW_LNS_fixed_advance_pc = 9
# Extended opcodes.
DW_LNE_end_sequence = 1
DW_LNE_set_address = 2
# Line-table header content types (DWARF 5).
DW_LNCT_path = 1
DW_LNCT_directory_index = 2


class LineProgram(NamedTuple):
    """What the decoder needs of a line program: its bytes and header parameters."""

    data: bytes
    start: int
    end: int
    minimum_instruction_length: int
    line_range: int
    opcode_base: int
    standard_opcode_lengths: tuple[int, ...]
    line_base: int = -5
    default_is_stmt: bool = True


class LineHeader(NamedTuple):
    """A line program and its file table: (name, directory index) per file."""

    program: LineProgram
    version: int
    directories: list[str]
    files: list[tuple[str, int]]


# One row of the line table: (address, file, line, is_stmt), ``file`` numbered as
# the table numbers it. A plain tuple: a big binary has millions of rows.
LineRow = tuple[int, int, int, bool]


Strings = Callable[[int, int], str]  # (form, offset) -> a string of .debug_str/.debug_line_str


def parse_line_header(data: bytes, offset: int, strings: Strings) -> LineHeader:
    """The line program header at ``offset`` of .debug_line (DWARF 2 to 5).

    ``strings(form, offset)`` resolves ``DW_FORM_strp``/``DW_FORM_line_strp`` paths.
    Raises ``DwarfFormatError`` on a malformed header.
    """
    try:
        return _parse_line_header(data, offset, strings)
    except (IndexError, ValueError) as e:
        raise DwarfFormatError(f"truncated line program header at {offset:#x}") from e


def _parse_line_header(data: bytes, offset: int, strings: Strings) -> LineHeader:
    length = int.from_bytes(data[offset : offset + 4], "little")
    pos, offset_size = offset + 4, 4
    if length == 0xFFFFFFFF:
        length = int.from_bytes(data[pos : pos + 8], "little")
        pos, offset_size = pos + 8, 8
    end = pos + length
    version = int.from_bytes(data[pos : pos + 2], "little")
    pos += 2
    if version >= 5:
        pos += 2  # address size, segment selector size
    header_length = int.from_bytes(data[pos : pos + offset_size], "little")
    pos += offset_size
    start = pos + header_length
    minimum_instruction_length = data[pos]
    pos += 1
    if version >= 4:
        pos += 1  # maximum operations per instruction
    default_is_stmt = data[pos] != 0
    line_base = data[pos + 1] - 256 if data[pos + 1] >= 128 else data[pos + 1]
    line_range, opcode_base = data[pos + 2], data[pos + 3]
    pos += 4
    lengths = tuple(data[pos : pos + opcode_base - 1])
    pos += opcode_base - 1
    directories: list[str] = []
    files: list[tuple[str, int]] = []
    if version >= 5:
        entries, pos = _v5_entries(data, pos, offset_size, strings)
        directories = [path for path, _ in entries]
        files, pos = _v5_entries(data, pos, offset_size, strings)
    else:
        while data[pos]:
            stop = data.index(b"\0", pos)
            directories.append(data[pos:stop].decode("utf-8", "replace"))
            pos = stop + 1
        pos += 1
        while data[pos]:
            stop = data.index(b"\0", pos)
            name = data[pos:stop].decode("utf-8", "replace")
            directory, pos = uleb(data, stop + 1)
            _, pos = uleb(data, pos)  # modification time
            _, pos = uleb(data, pos)  # length
            files.append((name, directory))
    program = LineProgram(
        data=data,
        start=start,
        end=end,
        minimum_instruction_length=minimum_instruction_length,
        line_range=line_range,
        opcode_base=opcode_base,
        standard_opcode_lengths=lengths,
        line_base=line_base,
        default_is_stmt=default_is_stmt,
    )
    return LineHeader(program=program, version=version, directories=directories, files=files)


def _v5_entries(
    data: bytes, pos: int, offset_size: int, strings: Strings
) -> tuple[list[tuple[str, int]], int]:
    """A DWARF 5 directory or file table: (path, directory index) per entry."""
    count = data[pos]
    pos += 1
    formats = []
    for _ in range(count):
        content, pos = uleb(data, pos)
        form, pos = uleb(data, pos)
        formats.append((content, form))
    entries, pos = uleb(data, pos)
    out = []
    for _ in range(entries):
        path, directory = "", 0
        for content, form in formats:
            value: int | str
            if form == F_STRING:
                stop = data.index(b"\0", pos)
                value = data[pos:stop].decode("utf-8", "replace")
                pos = stop + 1
            elif form in (F_LINE_STRP, F_STRP):
                value = strings(form, int.from_bytes(data[pos : pos + offset_size], "little"))
                pos += offset_size
            elif form == F_UDATA:
                value, pos = uleb(data, pos)
            elif form in (F_DATA1, F_DATA2, F_DATA4, F_DATA8, F_DATA16):
                size = {F_DATA1: 1, F_DATA2: 2, F_DATA4: 4, F_DATA8: 8, F_DATA16: 16}[form]
                value = int.from_bytes(data[pos : pos + size], "little")
                pos += size
            elif form == F_BLOCK:
                size, pos = uleb(data, pos)
                value, pos = 0, pos + size
            else:
                raise DwarfFormatError(f"line table entry form {form:#x} not supported")
            if content == DW_LNCT_path and isinstance(value, str):
                path = value
            elif content == DW_LNCT_directory_index and isinstance(value, int):
                directory = value
        out.append((path, directory))
    return out, pos


def address_files(program: LineProgram) -> list[tuple[int, int]]:
    """(address, file index) of every row of the line table, in program order.

    File indexes are as the line table numbers them (the same numbering as
    ``DW_AT_decl_file``). Raises ``IndexError`` on a truncated program.
    """
    return [(row[0], row[1]) for row in line_rows(program)]


def sequence_start(program: LineProgram, address: int) -> int | None:
    """Where the sequence starting at ``address`` starts in the program, if found.

    The Go compiler writes each function's rows as one sequence opening with
    ``DW_LNE_set_address`` of the function's entry, so a function's rows can be
    found by searching for that opcode rather than by running the whole program.
    """
    needle = b"\x00\x09\x02" + address.to_bytes(8, "little")
    pos = program.data.find(needle, program.start, program.end)
    return pos if pos >= 0 else None


def line_rows(
    program: LineProgram, start: int | None = None, one_sequence: bool = False
) -> list[LineRow]:
    """Every row of the line table, in program order (end-of-sequence rows left out).

    With ``start`` (an opcode boundary starting a sequence) and ``one_sequence``,
    only the rows of that sequence. In C (``_lines``) when built, for the ordinary
    case; the Python version decides any other. Raises ``IndexError`` on a
    truncated program.
    """
    if _lines is not None and type(program.default_is_stmt) is bool:
        found = _lines.line_rows(
            program.data,
            program.start if start is None else start,
            program.end,
            program.minimum_instruction_length,
            program.line_range or 1,
            program.opcode_base,
            program.line_base,
            _opcode_lengths(program.standard_opcode_lengths),
            program.default_is_stmt,
            one_sequence,
        )
        if found is not None:
            return found
    return line_rows_py(program, start, one_sequence)


def line_rows_py(
    program: LineProgram, start: int | None = None, one_sequence: bool = False
) -> list[LineRow]:
    """``line_rows`` in Python: the definition, and the fallback of the C one."""
    data, end = program.data, program.end
    pos = program.start if start is None else start
    unit = program.minimum_instruction_length
    line_range = program.line_range or 1
    base = program.opcode_base
    line_base = program.line_base
    lengths = program.standard_opcode_lengths
    default_is_stmt = program.default_is_stmt
    rows: list[LineRow] = []
    append = rows.append
    address, file, line, is_stmt = 0, 1, 1, default_is_stmt
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= base:
            adjusted = op - base
            address += (adjusted // line_range) * unit
            line += line_base + adjusted % line_range
            append((address, file, line, is_stmt))
        elif op == 0:
            length, pos = uleb(data, pos)
            sub = data[pos] if length else 0
            if sub == DW_LNE_end_sequence:
                if one_sequence:
                    break
                address, file, line, is_stmt = 0, 1, 1, default_is_stmt
            elif sub == DW_LNE_set_address:
                address = int.from_bytes(data[pos + 1 : pos + length], "little")
            pos += length
        elif op == DW_LNS_copy:
            append((address, file, line, is_stmt))
        elif op == DW_LNS_advance_pc:
            advance, pos = uleb(data, pos)
            address += advance * unit
        elif op == DW_LNS_advance_line:
            delta, pos = sleb(data, pos)
            line += delta
        elif op == DW_LNS_set_file:
            file, pos = uleb(data, pos)
        elif op == DW_LNS_negate_stmt:
            is_stmt = not is_stmt
        elif op == DW_LNS_const_add_pc:
            address += ((255 - base) // line_range) * unit
        elif op == DW_LNS_fixed_advance_pc:
            address += int.from_bytes(data[pos : pos + 2], "little")
            pos += 2
        else:
            # Any other standard opcode: skip its ULEB128 operands.
            count = lengths[op - 1] if op - 1 < len(lengths) else 0
            for _ in range(count):
                _, pos = uleb(data, pos)
    return rows


def sequence_pcs_at(program: LineProgram, start: int, wanted: dict[int, set[int]]) -> list[int]:
    """The addresses of the rows of the sequence at ``start`` whose (file, line) is
    wanted (file index -> line numbers), in program order.

    The rows ``line_rows(program, start, one_sequence=True)`` gives, filtered, but
    without building them: a line probe's search runs this over every sequence that
    may hold the file, most of them without the line. In C (``_lines``) when built,
    for the ordinary case; the Python version decides any other. Raises
    ``IndexError`` on a truncated program.
    """
    if _lines is not None:
        found = _lines.sequence_pcs_at(
            program.data,
            start,
            program.end,
            program.minimum_instruction_length,
            program.line_range or 1,
            program.opcode_base,
            program.line_base,
            _opcode_lengths(program.standard_opcode_lengths),
            wanted,
        )
        if found is not None:
            return found
    return sequence_pcs_at_py(program, start, wanted)


def _opcode_lengths(lengths: tuple[int, ...]) -> bytes:
    """The standard opcode lengths as bytes for ``_lines`` (as read from the header:
    each a ubyte)."""
    found = _LENGTHS.get(lengths)
    if found is None:
        found = _LENGTHS[lengths] = bytes(min(max(n, 0), 255) for n in lengths)
    return found


_LENGTHS: dict[tuple[int, ...], bytes] = {}


def sequence_pcs_at_py(program: LineProgram, start: int, wanted: dict[int, set[int]]) -> list[int]:
    """``sequence_pcs_at`` in Python: the definition, and the fallback of the C one."""
    data, end = program.data, program.end
    pos = start
    unit = program.minimum_instruction_length
    line_range = program.line_range or 1
    base = program.opcode_base
    line_base = program.line_base
    lengths = program.standard_opcode_lengths
    out: list[int] = []
    address, line = 0, 1
    lines = wanted.get(1)
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= base:
            adjusted = op - base
            address += (adjusted // line_range) * unit
            line += line_base + adjusted % line_range
            if lines is not None and line in lines:
                out.append(address)
        elif op == DW_LNS_advance_line:
            byte = data[pos]
            if byte < 0x80:
                line += byte - 0x80 if byte & 0x40 else byte
                pos += 1
            else:
                delta, pos = sleb(data, pos)
                line += delta
        elif op == DW_LNS_advance_pc:
            byte = data[pos]
            if byte < 0x80:
                address += byte * unit
                pos += 1
            else:
                advance, pos = uleb(data, pos)
                address += advance * unit
        elif op == DW_LNS_set_file:
            file, pos = uleb(data, pos)
            lines = wanted.get(file)
        elif op == 0:
            length, pos = uleb(data, pos)
            sub = data[pos] if length else 0
            if sub == DW_LNE_end_sequence:
                break
            if sub == DW_LNE_set_address:
                address = int.from_bytes(data[pos + 1 : pos + length], "little")
            pos += length
        elif op == DW_LNS_copy:
            if lines is not None and line in lines:
                out.append(address)
        elif op == DW_LNS_const_add_pc:
            address += ((255 - base) // line_range) * unit
        elif op == DW_LNS_fixed_advance_pc:
            address += int.from_bytes(data[pos : pos + 2], "little")
            pos += 2
        elif op != DW_LNS_negate_stmt:
            # Any other standard opcode: skip its ULEB128 operands.
            count = lengths[op - 1] if op - 1 < len(lengths) else 0
            for _ in range(count):
                _, pos = uleb(data, pos)
    return out
