"""A minimal DWARF line-program decoder: which file each address belongs to.

irgen needs the line table only to name the source file of an out-of-line copy
of an inlinable function (Go writes its abstract origin without
``DW_AT_decl_file``). Running the state machine for the address and file
registers alone is several times faster than pyelftools' full decoder.
"""

from __future__ import annotations

from typing import NamedTuple

# Standard opcodes (DWARF 5, section 6.2.5.2).
DW_LNS_copy = 1
DW_LNS_advance_pc = 2
DW_LNS_set_file = 4
DW_LNS_const_add_pc = 8
DW_LNS_fixed_advance_pc = 9
# Extended opcodes.
DW_LNE_end_sequence = 1
DW_LNE_set_address = 2


class LineProgram(NamedTuple):
    """What the decoder needs of a line program: its bytes and header parameters."""

    data: bytes
    start: int
    end: int
    minimum_instruction_length: int
    line_range: int
    opcode_base: int
    standard_opcode_lengths: tuple[int, ...]


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def address_files(program: LineProgram) -> list[tuple[int, int]]:
    """(address, file index) of every row of the line table, in program order.

    File indexes are as the line table numbers them (the same numbering as
    ``DW_AT_decl_file``). Raises ``IndexError`` on a truncated program.
    """
    data, pos, end = program.data, program.start, program.end
    unit = program.minimum_instruction_length
    line_range = program.line_range or 1
    base = program.opcode_base
    rows: list[tuple[int, int]] = []
    address, file = 0, 1
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= base:
            address += ((op - base) // line_range) * unit
            rows.append((address, file))
        elif op == 0:
            length, pos = _uleb(data, pos)
            sub = data[pos] if length else 0
            if sub == DW_LNE_end_sequence:
                address, file = 0, 1
            elif sub == DW_LNE_set_address:
                address = int.from_bytes(data[pos + 1 : pos + length], "little")
            pos += length
        elif op == DW_LNS_copy:
            rows.append((address, file))
        elif op == DW_LNS_advance_pc:
            advance, pos = _uleb(data, pos)
            address += advance * unit
        elif op == DW_LNS_set_file:
            file, pos = _uleb(data, pos)
        elif op == DW_LNS_const_add_pc:
            address += ((255 - base) // line_range) * unit
        elif op == DW_LNS_fixed_advance_pc:
            address += int.from_bytes(data[pos : pos + 2], "little")
            pos += 2
        else:
            # Any other standard opcode: skip its ULEB128 operands.
            count = (
                program.standard_opcode_lengths[op - 1]
                if op - 1 < len(program.standard_opcode_lengths)
                else 0
            )
            for _ in range(count):
                _, pos = _uleb(data, pos)
    return rows
